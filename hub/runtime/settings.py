"""Settings from the environment and ``.env``: prefix ``PARTNERHUB_``, nested delimiter ``__``.

Secrets are ``SecretStr``. ``REDIS_URL`` and ``DATABASE_URL`` are also read without the prefix,
as deployment platforms set them. Invalid settings raise ``ConfigurationError`` with one line per
problem, each naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
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
from hub.pipeline.settings import SyncSettings, WorkerSettings
from hub.program.settings import ProgramSettings

ENV_PREFIX = "PARTNERHUB_"
REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = [
    "REPO_ROOT",
    "ProgramSettings",
    "Settings",
    "SyncSettings",
    "WorkerSettings",
    "load_settings",
]


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
    mappings_dir: Path = Field(default=REPO_ROOT / "mappings", description="Folder of admin-edited mapping files.")
    admin_token: SecretStr | None = Field(default=None, description="Bearer token for admin API.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    crm: str = Field(default="hubspot", description="The connector the partner flow uses as the CRM.")
    queue_prefix: str = Field(default="partnerhub", description="Prefix of the RQ queue names (one hub per prefix).")
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
