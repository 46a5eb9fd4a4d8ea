"""The signed Event Webhook: ECDSA P-256 verification over the raw bytes, and the batch parser.

Signature (``shared/PROVIDERS.md`` §4.2, sendgrid-python's ``EventWebhook`` helper): SendGrid
signs ``X-Twilio-Email-Event-Webhook-Timestamp`` + the raw body (bytes, no separator) with
ECDSA on P-256 and SHA-256, and sends the base64 DER ``(r, s)`` signature in
``X-Twilio-Email-Event-Webhook-Signature``. The public key is base64 DER SubjectPublicKeyInfo,
as SendGrid's settings page and API show it. The body is verified exactly as received (SendGrid's
own test vector ends with ``\\r\\n``).

Timestamp window: SendGrid documents none. It retries a failed POST for up to 24 hours (§4.3)
and does not say whether a retry is signed anew, so the hub accepts signatures up to
``event_webhook_max_age_s`` old (default 25 h) and at most 5 minutes in the future (clock
skew). A replay inside the window is harmless: every event is keyed on ``sg_event_id`` and a
repeat adds nothing.

Each event of the JSON array becomes one inbox change keyed on ``sg_event_id`` (SendGrid: "use
the sg_event_id as a differentiator since this ID is unique for every event"), versioned by its
``timestamp``. An element without ``sg_event_id`` or ``event`` makes the batch malformed (400):
nothing of it is stored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from connectors import jsonbody
from connectors.bounds import ms_from_seconds, signature_age
from connectors.errors import ConfigurationError, MalformedPayload, SignatureInvalid
from connectors.values import Change, InboundRequest

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
#: how far in the future a signature timestamp may be (clock skew), seconds
MAX_FUTURE_S = 300


@lru_cache(maxsize=4)
def load_public_key(b64_der: str) -> ec.EllipticCurvePublicKey:
    """The verification key from SendGrid's base64 DER SubjectPublicKeyInfo (a PEM body is
    accepted too). Raises ``ConfigurationError`` for anything that is not a P-256 key."""
    text = "".join(line for line in b64_der.strip().splitlines() if not line.startswith("-----")).strip()
    try:
        key = load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ConfigurationError(
            "PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY is not a base64 DER public key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigurationError("PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY is not a P-256 key")
    return key


def verify_signature(req: InboundRequest, public_key: ec.EllipticCurvePublicKey, *, max_age_s: float) -> None:
    """Raise ``SignatureInvalid`` unless the request carries SendGrid's signature over its
    timestamp and raw body, with the timestamp inside the window."""
    signature = req.header(SIGNATURE_HEADER)
    timestamp = req.header(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise SignatureInvalid("missing X-Twilio-Email-Event-Webhook-Signature or -Timestamp")
    age = signature_age(timestamp, req.received_at, per_second=1, name="X-Twilio-Email-Event-Webhook-Timestamp")
    if age > max_age_s or age < -MAX_FUTURE_S:
        raise SignatureInvalid("signature timestamp outside the accepted window")
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        public_key.verify(der, timestamp.encode() + req.body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        raise SignatureInvalid("signature does not match") from None


def parse_events(body: bytes) -> tuple[Change, ...]:
    """The batch as inbox changes, one per event (see the module docstring)."""
    data = jsonbody.loads(body)
    if not isinstance(data, list):
        raise MalformedPayload("an Event Webhook body is a JSON array of events")
    changes = []
    for n, event in enumerate(data):
        changes.append(_change(n, event))
    return tuple(changes)


def _change(n: int, event: Any) -> Change:
    if not isinstance(event, Mapping):
        raise MalformedPayload(f"event {n} is not an object")
    event_id, kind = event.get("sg_event_id"), event.get("event")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
        raise MalformedPayload(f"event {n} has no sg_event_id")
    if not isinstance(kind, str) or not kind:
        raise MalformedPayload(f"event {n} has no event type")
    version_ms = ms_from_seconds(event.get("timestamp"), f"event {n} timestamp")
    subject = event.get("notification_id") or str(event.get("sg_message_id") or "").split(".")[0]
    return Change(
        event_key=f"event:{event_id}",
        event_type=kind,
        object_type="event",
        object_id=str(subject or event_id),
        version_ms=version_ms,
        payload=dict(event),
    )
