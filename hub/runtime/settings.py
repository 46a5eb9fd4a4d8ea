"""Settings from the environment and ``.env``: prefix ``PARTNERHUB_``, nested delimiter ``__``.

Secrets are ``SecretStr``. ``REDIS_URL`` and ``DATABASE_URL`` are also read without the prefix,
as deployment platforms set them. Invalid settings raise ``ConfigurationError`` with one line per
problem, each naming the variable.

``PARTNERHUB_MODE`` names how the hub runs: ``production`` (the default), ``development`` or
``test``. Outside development and test the program clock cannot be moved (the clock settings stop
start-up, ``program tick --now`` is refused), the OpenAPI pages are off and ``/metrics`` asks for
the admin token, unless ``PARTNERHUB_API_DOCS`` / ``PARTNERHUB_METRICS`` say otherwise.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.errors import ConfigurationError
from connectors.hubspot import HubSpotSettings
from connectors.lms import LmsSettings
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

Mode = Literal["production", "development", "test"]
#: the modes in which the program clock may be moved and the API pages are open by default
RELAXED_MODES = ("development", "test")
#: the shortest admin token accepted
ADMIN_TOKEN_MIN_LENGTH = 32
#: the clock settings only development and test may set, with the variables that set them
CLOCK_SETTINGS = {
    "clock_now": "PARTNERHUB_PROGRAM__CLOCK_NOW",
    "clock_offset_s": "PARTNERHUB_PROGRAM__CLOCK_OFFSET_S",
}


class WebSettings(BaseModel):
    """``PARTNERHUB_WEB__*``: the portal and console pages (``hub.web``)."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = Field(
        default=None,
        description="Signs the pages' session cookies and makes the sign-in links; the same for every web and "
        "worker process. Unset: made at the first start and kept in <data dir>/web/secret (one machine only).",
    )
    session_idle_s: int = Field(default=4 * 3600, ge=60, description="A session unused this long ends.")
    session_max_s: int = Field(default=7 * 24 * 3600, ge=60, description="A session ends this long after sign-in.")
    signin_per_address: int = Field(
        default=5, ge=1, description="Sign-in links asked for one e-mail address per window."
    )
    signin_per_client: int = Field(
        default=20, ge=1, description="Sign-in links asked for from one client address per window."
    )
    signin_window_s: int = Field(default=900, ge=1, description="The sign-in throttle's window (seconds).")
    form_limit: int = Field(default=64 * 1024, ge=1024, description="Largest form body the pages read (bytes).")


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
    mode: Mode = Field(
        default="production",
        description="production (default), development or test: development and test may move the "
        "program clock and open /docs and /metrics by default.",
    )
    admin_token: SecretStr | None = Field(
        default=None, description=f"Bearer token for the admin API (at least {ADMIN_TOKEN_MIN_LENGTH} characters)."
    )
    api_docs: bool | None = Field(
        default=None,
        description="Serve /docs, /redoc and /openapi.json. Unset: on in development and test, off in production.",
    )
    metrics: Literal["open", "token", "off"] | None = Field(
        default=None,
        description="/metrics: open, behind the admin token (token) or off. Unset: open in development "
        "and test, token in production.",
    )
    api_body_limit: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body the partner and admin APIs read (bytes)."
    )
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For "
        "names the client (for the failed-attempt throttle). Empty: the connection's address.",
    )
    throttle_failures: int = Field(
        default=10, ge=1, description="Failed authentications per client address (or key prefix) per window."
    )
    throttle_window_s: int = Field(default=300, ge=1, description="The failed-attempt throttle's window (seconds).")
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
    lms: LmsSettings = LmsSettings()
    web: WebSettings = WebSettings()

    @field_validator("admin_token")
    @classmethod
    def _admin_token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < ADMIN_TOKEN_MIN_LENGTH:
            raise PydanticCustomError(
                "admin_token_too_short",
                "must be at least {min} characters (make one with `openssl rand -hex 32`)",
                {"min": ADMIN_TOKEN_MIN_LENGTH},
            )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _clock_only_outside_production(self) -> Settings:
        if self.mode in RELAXED_MODES:
            return self
        moved = [var for name, var in CLOCK_SETTINGS.items() if getattr(self.program, name) not in (None, 0, 0.0)]
        if moved:
            raise PydanticCustomError(
                "clock_in_production",
                "{vars}: the program clock can only be moved when PARTNERHUB_MODE is development or test "
                "(the mode is {mode})",
                {"vars": ", ".join(moved), "mode": self.mode},
            )
        return self

    @property
    def relaxed(self) -> bool:
        """development or test: the clock may move, docs and metrics are open by default."""
        return self.mode in RELAXED_MODES

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.relaxed

    @property
    def metrics_access(self) -> str:
        return self.metrics or ("open" if self.relaxed else "token")

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
            if error["loc"]:
                lines.append(f"invalid setting {env_name(tuple(error['loc']))}: {error['msg']}")
            else:  # a rule over several settings: its message names the variables
                lines.append(f"invalid setting {error['msg']}")
        raise ConfigurationError("; ".join(lines)) from None
