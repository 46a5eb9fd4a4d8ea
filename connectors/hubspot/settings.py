"""The HubSpot connector's settings section (``PARTNERHUB_HUBSPOT__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class HubSpotSettings(BaseModel):
    """``PARTNERHUB_HUBSPOT__*``."""

    model_config = ConfigDict(extra="forbid")

    client_secret: SecretStr | None = Field(
        default=None, description="The app's client secret; signs webhooks (v3) and OAuth refresh."
    )
    access_token: SecretStr | None = Field(
        default=None, description="Private-app token (Bearer) for CRM API reads and writes."
    )
    client_id: str | None = Field(
        default=None, description="OAuth: the app's client id (with client_secret, refresh_token)."
    )
    refresh_token: SecretStr | None = Field(
        default=None,
        description="OAuth: the refresh token of the installed app. Set: OAuth is used for the API "
        "(access tokens refreshed ahead of expiry) instead of access_token.",
    )
    api_base_url: str = Field(default="https://api.hubapi.com", description="CRM API base URL.")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout for API calls.")
    max_body_bytes: int = Field(default=256 * 1024, gt=0, description="Largest webhook body accepted (413 past it).")
    rate_limit_per_10s: int = Field(
        default=100,
        ge=1,
        description="API requests per rolling 10 seconds, shared by all workers (private apps: "
        "100 Free/Starter, 190 Professional/Enterprise; public OAuth apps: 110).",
    )
    search_rate_per_s: int = Field(
        default=5, ge=1, description="CRM search requests per second, shared by all workers."
    )
    rate_max_wait_s: float = Field(
        default=20.0,
        ge=0,
        description="How long a call waits for the rate budget before its job is retried later.",
    )
    poll_lag_s: float = Field(
        default=60.0,
        ge=0,
        description="Polling reads records modified up to this long before now: newly changed "
        "records take a few moments to become searchable, and the next poll picks them up.",
    )
