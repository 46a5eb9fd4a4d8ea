"""The Salesforce connector's settings section (``PARTNERHUB_SALESFORCE__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

#: hosts an ``instance_url`` (and the login URL) may have: Salesforce's own domains
DEFAULT_ALLOWED_HOSTS = (
    "*.salesforce.com",       # login, test, instances (na1…, eu12…)
    "*.my.salesforce.com",    # My Domain (production)
    "*.sandbox.my.salesforce.com",
    "*.force.com",
    "*.cloudforce.com",
    "*.salesforce.mil",
    "*.sfcrmproducts.cn",
)  # fmt: skip


class SalesforceSettings(BaseModel):
    """``PARTNERHUB_SALESFORCE__*``."""

    model_config = ConfigDict(extra="forbid")

    auth_flow: Literal["refresh_token", "jwt_bearer", "password"] = Field(
        default="refresh_token",
        description="OAuth 2.0 flow: refresh_token (a connected app's refresh token), jwt_bearer "
        "(a certificate uploaded to the connected app), password (sandboxes only).",
    )
    login_url: str = Field(
        default="https://login.salesforce.com",
        description="Token endpoint host: https://login.salesforce.com, https://test.salesforce.com "
        "for sandboxes, or the org's My Domain.",
    )
    client_id: str | None = Field(default=None, description="The connected app's consumer key.")
    client_secret: SecretStr | None = Field(
        default=None, description="The connected app's consumer secret (refresh_token, password)."
    )
    refresh_token: SecretStr | None = Field(default=None, description="refresh_token flow.")
    username: str | None = Field(default=None, description="jwt_bearer (sub) and password flows.")
    password: SecretStr | None = Field(
        default=None, description="password flow: the password followed by the security token."
    )
    private_key: SecretStr | None = Field(
        default=None, description="jwt_bearer: the PEM private key whose certificate the app holds."
    )
    private_key_file: Path | None = Field(default=None, description="jwt_bearer: the key as a file.")
    jwt_audience: str | None = Field(
        default=None,
        description="jwt_bearer: the assertion's aud. Unset: https://test.salesforce.com for sandbox "
        "hosts, https://login.salesforce.com for other Salesforce hosts, else the login URL.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_HOSTS),
        description="Hosts the login URL and the instance_url may have (``*.`` = any subdomain); "
        "tokens are never sent anywhere else. https only.",
    )
    ca_bundle: Path | None = Field(
        default=None, description="A CA bundle to trust instead of the system's (tests, proxies)."
    )
    api_version: str = Field(default="61.0", pattern=r"^\d{2}\.\d$", description="REST API version.")
    timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout for API calls.")
    organization_id: str | None = Field(
        default=None,
        description="The org's 18-character id (Setup > Company Information); Outbound Messages "
        "from any other org are refused with a SOAP fault.",
    )
    outbound_path_secret: SecretStr | None = Field(
        default=None,
        description="The secret path segment of the Outbound Message endpoint: "
        "/webhooks/salesforce/<secret> (at least 24 characters).",
        min_length=24,
    )
    callout_secret: SecretStr | None = Field(
        default=None,
        description="Flow callouts: the value of the X-Partnerhub-Secret header (a Named "
        "Credential's custom header) on /webhooks/salesforce/callout.",
        min_length=24,
    )
    callout_signing_secret: SecretStr | None = Field(
        default=None,
        description="Apex callouts: the HMAC-SHA256 key of X-Partnerhub-Signature on /webhooks/salesforce/callout.",
        min_length=24,
    )
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, description="Largest webhook body accepted (413 past it).")
    poll_overlap_s: float = Field(
        default=5.0,
        ge=0,
        description="Polling re-reads this many seconds before the cursor: SystemModstamp is set "
        "at commit start, so a long transaction can commit rows stamped before the cursor.",
    )
    api_usage_poll_stop: float = Field(
        default=0.80,
        gt=0,
        le=1,
        description="Share of the daily API allocation past which polling waits (writes go on).",
    )
    api_usage_stop: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="Share of the daily API allocation past which every call waits.",
    )
    default_close_days: int = Field(
        default=90,
        ge=1,
        description="CloseDate of a new referral opportunity (required by Salesforce): today + N days.",
    )
