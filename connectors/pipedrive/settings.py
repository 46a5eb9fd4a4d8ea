"""The Pipedrive connector's settings section (``PARTNERHUB_PIPEDRIVE__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class PipedriveSettings(BaseModel):
    """``PARTNERHUB_PIPEDRIVE__*``."""

    model_config = ConfigDict(extra="forbid")

    api_token: SecretStr | None = Field(
        default=None, description="A Pipedrive API token (header x-api-token), for API reads and writes."
    )
    api_base_url: str = Field(
        default="https://api.pipedrive.com",
        description="Company domain base URL (https://<company>.pipedrive.com); /api/v2 and /v1 are appended.",
    )
    api_v2_url: str | None = Field(
        default=None, description="Override of the API v2 root (default: api_base_url + /api/v2)."
    )
    api_v1_url: str | None = Field(
        default=None, description="Override of the API v1 root (default: api_base_url + /v1)."
    )
    webhook_user: str = Field(
        default="partnerhub", description="HTTP Basic user name Pipedrive sends with each webhook."
    )
    webhook_password: SecretStr | None = Field(
        default=None,
        description="HTTP Basic password Pipedrive sends with each webhook (set on the webhooks by "
        "`partnerhub webhooks register pipedrive`). Unset: webhooks are refused.",
    )
    webhook_objects: list[str] = Field(
        default=["deal", "person", "organization", "lead"],
        description="The Pipedrive objects `webhooks register` subscribes to (one webhook each).",
    )
    webhook_check_interval_s: float = Field(
        default=600.0, gt=0, description="How often the scheduler checks the webhooks' health."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout for API calls.")
    max_body_bytes: int = Field(default=256 * 1024, gt=0, description="Largest webhook body accepted (413 past it).")
    daily_token_budget: int = Field(
        default=30_000,
        ge=1,
        description="API tokens per day for the whole company: 30,000 x plan multiplier (Lite 1, "
        "Growth 2, Premium 5, Ultimate 7) x seats, plus top-ups. Shared by all workers.",
    )
    burst_per_2s: int = Field(
        default=20,
        ge=1,
        description="Requests per rolling 2 seconds for the token (API token: Lite 20, Growth 40, "
        "Premium 100, Ultimate 120).",
    )
    rate_max_wait_s: float = Field(
        default=20.0, ge=0, description="How long a call waits for the budget before its job is retried later."
    )
    field_cache_s: float = Field(
        default=3600.0, gt=0, description="How long resolved custom-field keys are cached (Redis + process)."
    )
    page_size: int = Field(default=500, ge=1, le=500, description="Records per page when polling.")
