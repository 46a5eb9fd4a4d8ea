"""The learning platform's webhook: the signature over the raw body, and the one event a POST
carries turned into an inbox change.

* ``Partnerhub-Timestamp: <unix seconds>`` and
  ``Partnerhub-Signature: v1=<hex>[,v1=<hex>…]`` where
  ``v1 = hex(HMAC-SHA256(secret, f"{timestamp}.{raw body}"))``, compared in constant time; any
  ``v1`` matching any configured secret passes (rotation: the platform signs with both secrets
  while the hub lists both).
* A timestamp more than the tolerance (300 s) away from now, either way, is refused.
* The body is one JSON event: ``id`` (the dedup key: a replay is a duplicate), ``type``
  (``EVENT_TYPES``), ``occurred_at`` (Unix seconds, the version), ``partner_email``, and
  ``module`` (``module.completed``) or ``certification`` plus an optional ``expires_at`` (Unix
  seconds; ``certification.granted``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from pydantic import SecretStr

from connectors import jsonbody
from connectors.errors import ConfigurationError, MalformedPayload, SignatureInvalid
from connectors.values import Change, InboundRequest, Parsed

TIMESTAMP_HEADER = "partnerhub-timestamp"
SIGNATURE_HEADER = "partnerhub-signature"
SCHEME = "v1"
EVENT_TYPES = frozenset({"module.completed", "certification.granted"})


def compute_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secrets: Iterable[SecretStr], req: InboundRequest, *, tolerance_s: int) -> None:
    keys = [s.get_secret_value() for s in secrets]
    if not keys:
        raise ConfigurationError("PARTNERHUB_LMS__WEBHOOK_SECRETS is not set")
    stamp = (req.header(TIMESTAMP_HEADER) or "").strip()
    if not stamp.isdigit() or not stamp.isascii() or len(stamp) > 16:
        raise SignatureInvalid("Partnerhub-Timestamp is missing or not Unix seconds")
    if abs(int(stamp) - req.received_at) > tolerance_s:
        raise SignatureInvalid("Partnerhub-Timestamp is outside the tolerance")
    given = [
        value.strip()
        for name, _, value in (part.strip().partition("=") for part in (req.header(SIGNATURE_HEADER) or "").split(","))
        if name == SCHEME
    ]
    if not given:
        raise SignatureInvalid("Partnerhub-Signature has no v1 signature")
    matched = False
    for key in keys:
        expected = compute_signature(key, stamp, req.body).encode()
        for signature in given:
            matched |= hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
    if not matched:
        raise SignatureInvalid("no Partnerhub-Signature v1 signature matches")


def parse(req: InboundRequest) -> Parsed:
    event = jsonbody.loads(req.body)
    if not isinstance(event, dict):
        raise MalformedPayload("body must be one JSON event object")
    event_id, kind, occurred, email = (
        event.get("id"),
        event.get("type"),
        event.get("occurred_at"),
        event.get("partner_email"),
    )
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 200:
        raise MalformedPayload("id must be a string of 1 to 200 characters")
    if kind not in EVENT_TYPES:
        raise MalformedPayload(f"type must be one of {', '.join(sorted(EVENT_TYPES))}")
    if not isinstance(occurred, int) or isinstance(occurred, bool) or not 0 <= occurred < 10**11:
        raise MalformedPayload("occurred_at must be Unix seconds")
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise MalformedPayload("partner_email must be an e-mail address")
    subject = event.get("module") if kind == "module.completed" else event.get("certification")
    if not isinstance(subject, str) or not 0 < len(subject) <= 128:
        raise MalformedPayload("module (module.completed) or certification (certification.granted) is required")
    expires = event.get("expires_at")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool) or not 0 <= expires < 10**11):
        raise MalformedPayload("expires_at must be Unix seconds")
    return Parsed(
        changes=(
            Change(
                event_key=event_id,
                event_type=kind,
                object_type="partner",
                object_id=email.strip().lower(),
                version_ms=occurred * 1000,
                payload={
                    "id": event_id,
                    "type": kind,
                    "occurred_at": occurred,
                    "partner_email": email.strip().lower(),
                    "subject": subject,
                    "expires_at": expires,
                },
            ),
        )
    )
