"""The Stripe connector's settings section (``PARTNERHUB_STRIPE__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class StripeSettings(BaseModel):
    """``PARTNERHUB_STRIPE__*``."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr | None = Field(
        default=None,
        description="Secret (sk_…) or restricted (rk_…) key of the platform account. Reads events, "
        "refunds, charges, customers, accounts; creates transfers and webhook endpoints.",
    )
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="Signing secrets (whsec_…) accepted on /webhooks/stripe: the platform "
        "endpoint's, the Connect endpoint's, and old ones while a secret is rolled. A JSON list: "
        '\'["whsec_a","whsec_b"]\'.',
    )
    api_base_url: str = Field(default="https://api.stripe.com", description="Stripe API base URL.")
    timeout_s: float = Field(default=20.0, gt=0, description="Per-request timeout for API calls.")
    signature_tolerance_s: int = Field(
        default=300, ge=1, description="How far a Stripe-Signature timestamp may be from now, either way (s)."
    )
    max_body_bytes: int = Field(default=512 * 1024, gt=0, description="Largest webhook body accepted (413 past it).")
