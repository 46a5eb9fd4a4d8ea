"""``PARTNERHUB_SENDGRID__*``: mail send, the signed Event Webhook, Inbound Parse."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

#: SendGrid retries a failed Event Webhook POST for up to 24 hours after the event (§4.3) and
#: does not document whether a retry is signed anew; a replayed batch changes nothing (events
#: are deduplicated on ``sg_event_id``), so the window is the retry window plus an hour.
DEFAULT_MAX_AGE_S = 25 * 3600


class SendGridSettings(BaseModel):
    """``PARTNERHUB_SENDGRID__*``."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr | None = Field(
        default=None,
        description="API key (Bearer): Mail Send, and Settings > Inbound Parse / Event Webhook "
        "for `partnerhub webhooks register sendgrid`.",
    )
    api_base_url: str = Field(
        default="https://api.sendgrid.com",
        description="API base URL (https://api.eu.sendgrid.com for EU regional subusers).",
    )
    from_email: str | None = Field(
        default=None, description="Sender address: a verified sender or authenticated domain."
    )
    from_name: str | None = Field(default=None, description="Sender display name.")
    reply_to: str | None = Field(default=None, description="Reply-To when a notification does not name its own.")
    unsubscribe_groups: dict[str, int] = Field(
        default_factory=dict,
        description="Notification kind -> SendGrid unsubscribe (ASM) group id, as JSON "
        '(e.g. {"reengagement_reminder": 101, "deal_closed": 102}).',
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, description="TCP/TLS connect timeout.")
    timeout_s: float = Field(default=20.0, gt=0, description="Write and read timeout of an API request.")
    max_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest Event Webhook body accepted (SendGrid batches reach 768 KB).",
    )
    # -- signed Event Webhook ------------------------------------------------------------------
    event_webhook_public_key: str | None = Field(
        default=None,
        description="The signed Event Webhook's verification key: base64 DER (as SendGrid shows "
        "it). `partnerhub webhooks register sendgrid` prints it.",
    )
    event_webhook_max_age_s: int = Field(
        default=DEFAULT_MAX_AGE_S,
        gt=0,
        description="Oldest signature timestamp accepted, seconds (default: SendGrid's 24 h "
        "retry window + 1 h; replays are harmless, events are deduplicated).",
    )
    # -- Inbound Parse ---------------------------------------------------------------------------
    parse_secret: SecretStr | None = Field(
        default=None,
        description="Secret path segment of the Parse URL: /webhooks/sendgrid/<secret>/parse "
        "(at least 16 characters; Inbound Parse has no signature).",
        min_length=16,
    )
    parse_hostname: str | None = Field(
        default=None,
        description="The (sub)domain whose MX points at mx.sendgrid.net, e.g. parse.example.com.",
    )
    referral_address: str | None = Field(
        default=None,
        description="Address partners forward introductions to (at the parse hostname); "
        "unset: referrals@<parse_hostname>.",
    )
    reply_address: str | None = Field(
        default=None,
        description="Reply-To of partner mail (at the parse hostname): replies come back through "
        "Inbound Parse as the partner's activity. A notification's mail carries "
        "<local>+n<notification id>@<domain>.",
    )
    max_parse_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Largest Inbound Parse POST accepted (SendGrid posts up to about 30 MB).",
    )
