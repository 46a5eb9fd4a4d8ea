"""Settings from the environment and ``.env``: prefix ``PARTNERHUB_``, nested delimiter ``__``.

Secrets are ``SecretStr``. ``REDIS_URL`` and ``DATABASE_URL`` are also read without the prefix,
as deployment platforms set them. Invalid settings raise ``ConfigurationError`` with one line per
problem, each naming the variable.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.errors import ConfigurationError
from connectors.hubspot import HubSpotSettings
from connectors.pipedrive import PipedriveSettings
from connectors.salesforce import SalesforceSettings
from connectors.sendgrid import SendGridSettings
from connectors.stripe import StripeSettings

ENV_PREFIX = "PARTNERHUB_"
REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerSettings(BaseModel):
    """``PARTNERHUB_WORKER__*``: how durable work is retried and reconciled."""

    model_config = ConfigDict(extra="forbid")

    lease_s: float = Field(
        default=120.0, gt=0, description="How long a claimed job may run before it is re-run."
    )
    max_attempts: int = Field(default=8, ge=1, description="Attempts before a dead letter.")
    backoff_base_s: float = Field(default=2.0, gt=0, description="First retry delay.")
    backoff_max_s: float = Field(default=3600.0, gt=0, description="Longest retry delay.")
    reconcile_interval_s: float = Field(
        default=5.0, gt=0, description="How often the reconciler looks for due work."
    )
    requeue_after_s: float = Field(
        default=30.0,
        gt=0,
        description="A received row not picked up this long after enqueue is enqueued again.",
    )
    processes: int = Field(default=1, ge=1, description="Worker processes started by `run`.")


class ProgramSettings(BaseModel):
    """``PARTNERHUB_PROGRAM__*``: how often the program engine's timed rules run, and its clock."""

    model_config = ConfigDict(extra="forbid")

    tick_interval_s: float = Field(
        default=60.0, gt=0, description="How often the scheduler runs the program's timed rules."
    )
    clock_now: datetime | None = Field(
        default=None, description="Run the program as of this fixed time (tests, what-if runs)."
    )
    clock_offset_s: float = Field(default=0.0, description="Seconds added to the real time.")
class SyncSettings(BaseModel):
    """``PARTNERHUB_SYNC__*``: polling the providers' APIs for what webhooks may have missed."""

    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(
        default=300.0, ge=0, description="How often each connector's objects are polled; 0 turns polling off."
    )
    max_pages: int = Field(
        default=50, ge=1, description="Pages one scheduled poll reads per object before the next round."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(
        default=Path(".data"),
        description="Where the SQLite file and the embedded Redis keep their data.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PARTNERHUB_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL (postgresql+psycopg://…). Unset: SQLite in the data dir.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PARTNERHUB_REDIS_URL", "REDIS_URL"),
        description="redis://… Unset: the hub starts its own embedded server.",
    )
    public_base_url: str | None = Field(
        default=None,
        description="The URL providers call (https://hooks.example.com); signatures cover it.",
    )
    host: str = Field(default="127.0.0.1", description="Address `run` and `web` listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `run` and `web` listen on.")
    mappings_dir: Path = Field(
        default=REPO_ROOT / "mappings", description="Folder of admin-edited mapping files."
    )
    admin_token: SecretStr | None = Field(default=None, description="Bearer token for admin API.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    crm: str = Field(default="hubspot", description="The connector the partner flow uses as the CRM.")
    queue_prefix: str = Field(
        default="partnerhub", description="Prefix of the RQ queue names (one hub per prefix)."
    )
    admin_email: str | None = Field(
        default=None, description="Where admin alerts are emailed. Unset: alerts are not emailed."
    )
    templates_dir: Path = Field(
        default=REPO_ROOT / "templates",
        description="Folder of notification templates (email/<kind>/[<locale>/]…).",
    )

    worker: WorkerSettings = WorkerSettings()
    program: ProgramSettings = ProgramSettings()
    sync: SyncSettings = SyncSettings()
    hubspot: HubSpotSettings = HubSpotSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    pipedrive: PipedriveSettings = PipedriveSettings()
    sendgrid: SendGridSettings = SendGridSettings()
    stripe: StripeSettings = StripeSettings()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'partnerhub.sqlite3').resolve()}"


def env_name(loc: tuple[int | str, ...]) -> str:
    if loc and loc[0] in ("DATABASE_URL", "REDIS_URL"):
        return str(loc[0])
    if loc and str(loc[0]).startswith(ENV_PREFIX):
        return str(loc[0])
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, or raise ``ConfigurationError`` naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            lines.append(f"invalid setting {env_name(tuple(error['loc']))}: {error['msg']}")
        raise ConfigurationError("; ".join(lines)) from None
