"""The learning platform's settings section (``PARTNERHUB_LMS__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class LmsSettings(BaseModel):
    """``PARTNERHUB_LMS__*``."""

    model_config = ConfigDict(extra="forbid")

    webhook_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="Signing secrets accepted on /webhooks/lms; list the new one beside the old while rotating. "
        'A JSON list: \'["lms_secret_a","lms_secret_b"]\'.',
    )
    signature_tolerance_s: int = Field(
        default=300, ge=1, le=3600, description="How far the signature's timestamp may be from now, either way (s)."
    )
    max_body_bytes: int = Field(default=64 * 1024, gt=0, description="Largest webhook body accepted (413 past it).")
