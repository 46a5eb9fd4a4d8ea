"""The JSON endpoint for Flow and Apex callouts (``/webhooks/salesforce/callout``).

A Flow HTTP callout cannot compute an HMAC (``shared/PROVIDERS.md`` §7): it sends the secret in
``X-Partnerhub-Secret`` from a Named Credential's custom header. Apex signs:
``X-Partnerhub-Timestamp: <unix seconds>`` and ``X-Partnerhub-Signature: <hex HMAC-SHA256 of
timestamp + "." + body>`` (``EncodingUtil.convertToHex(Crypto.generateMac('hmacSHA256', …))``),
refused five minutes after the timestamp. Both compare in constant time.

Body: ``{"events": [{"id": "<unique per event>", "sobject": "Opportunity", "change":
"created|updated|deleted", "record": {"Id": "006…", …}}]}`` with 1..100 events.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors import jsonbody
from connectors.bounds import signature_age
from connectors.errors import (
    MalformedPayload,
    SignatureInvalid,
    WebhookRejected,
    first_error,
)
from connectors.salesforce.objects import HUB_OBJECTS
from connectors.salesforce.records import parse_time
from connectors.values import Change, InboundRequest, Parsed

MAX_EVENTS = 100
SIGNATURE_MAX_AGE_S = 300
SIGNATURE_MAX_SKEW_S = 60


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    sobject: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    change: Literal["created", "updated", "deleted"]
    record: dict[str, Any]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[_Event] = Field(min_length=1, max_length=MAX_EVENTS)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The Apex signature (hex HMAC-SHA256 of ``timestamp.body``), for tests and tools."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(flow_secret: SecretStr | None, signing_secret: SecretStr | None, req: InboundRequest) -> None:
    if flow_secret is None and signing_secret is None:
        raise WebhookRejected(
            "callouts are not configured (PARTNERHUB_SALESFORCE__CALLOUT_SECRET or __CALLOUT_SIGNING_SECRET)",
            status=503,
        )
    given = req.header("x-partnerhub-secret")
    if given is not None:
        if flow_secret is None or not hmac.compare_digest(given.encode(), flow_secret.get_secret_value().encode()):
            raise SignatureInvalid("X-Partnerhub-Secret does not match")
        return
    signature, timestamp = req.header("x-partnerhub-signature"), req.header("x-partnerhub-timestamp")
    if signing_secret is None or not signature or not timestamp:
        raise SignatureInvalid("missing X-Partnerhub-Secret, or X-Partnerhub-Signature and X-Partnerhub-Timestamp")
    age = signature_age(timestamp, req.received_at, per_second=1, name="X-Partnerhub-Timestamp")
    if age > SIGNATURE_MAX_AGE_S or age < -SIGNATURE_MAX_SKEW_S:
        raise SignatureInvalid("X-Partnerhub-Timestamp is outside the 5-minute window")
    expected = sign(signing_secret.get_secret_value(), timestamp, req.body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise SignatureInvalid("X-Partnerhub-Signature does not match")


def parse(body: bytes) -> Parsed:
    raw = jsonbody.loads(body)
    try:
        data = _Body.model_validate(raw)
    except ValidationError as exc:
        raise MalformedPayload(first_error(exc)) from None
    changes = []
    for index, event in enumerate(data.events):
        record_id = str(event.record.get("Id") or "").strip()
        if not record_id:
            raise MalformedPayload(f"events.{index}.record: Id is required")
        object_type = HUB_OBJECTS.get(event.sobject, event.sobject.lower())
        action = {"created": "creation", "updated": "change", "deleted": "deletion"}[event.change]
        changes.append(
            Change(
                event_key=f"callout:{event.id}",
                event_type=f"{object_type}.{action}",
                object_type=object_type,
                object_id=record_id,
                version_ms=parse_time(event.record.get("SystemModstamp")),
                payload={
                    "source": "callout",
                    "eventId": event.id,
                    "sobject": event.sobject,
                    "change": event.change,
                    "record": event.record,
                    # a deleted person's address, where hub.privacy looks for it
                    **(
                        {"Email": event.record["Email"]}
                        if event.change == "deleted" and event.record.get("Email")
                        else {}
                    ),
                },
            )
        )
    return Parsed(changes=tuple(changes))
