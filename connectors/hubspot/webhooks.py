"""HubSpot app webhooks: the v3 signature over the raw request, and the batched JSON body parsed
into changes.

Facts this module relies on (``shared/PROVIDERS.md`` §2 and §7):

* ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method + uri + body + timestamp)),
  ``uri`` being the full URL HubSpot called (scheme, host, path, query), with the URL-encoded
  characters HubSpot lists decoded first; ``X-HubSpot-Request-Timestamp`` in epoch milliseconds,
  rejected when older than five minutes.
* The body is a JSON array of up to 100 events. ``eventId`` alone is not unique: the event key is
  eventId + subscriptionId + objectId + occurredAt. ``occurredAt`` (ms) is the version.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from connectors import jsonbody
from connectors.bounds import signature_age
from connectors.errors import (
    ConfigurationError,
    MalformedPayload,
    SignatureInvalid,
    first_error,
)
from connectors.values import Change, InboundRequest, Merge, Parsed

#: HubSpot batches are "under 100 notifications"; each is a few hundred bytes.
MAX_EVENTS_PER_BATCH = 100
#: replay window for v3 signatures (HubSpot: reject timestamps older than 5 minutes)
SIGNATURE_MAX_AGE_S = 300
#: how far ahead of our clock a timestamp may be before it is refused (clock skew)
SIGNATURE_MAX_SKEW_S = 60

# HubSpot's "Validating requests" page: decode these URL-encoded characters before signing.
_DECODED_IN_URI = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip

#: webhook subscription object prefix -> the hub's object type
_OBJECT_TYPES = {
    "contact": "contact",
    "company": "company",
    "deal": "deal",
    "ticket": "ticket",
    "product": "product",
    "line_item": "line_item",
}


class _Event(BaseModel):
    """One webhook notification. Only what the hub needs is required; the rest is kept as-is."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    eventId: int | str
    subscriptionId: int | str
    objectId: int | str
    occurredAt: int
    eventType: str | None = None
    subscriptionType: str | None = None  # older name of eventType
    portalId: int | str | None = None
    propertyName: str | None = None
    propertyValue: Any = None
    changeSource: str | None = None


def canonical_uri(url: str) -> str:
    for encoded, char in _DECODED_IN_URI.items():
        url = url.replace(encoded, char).replace(encoded.lower(), char)
    return url


def sign_v3(secret: str, method: str, url: str, body: bytes, timestamp_ms: str) -> str:
    """The v3 signature HubSpot puts in ``X-HubSpot-Signature-v3`` (used by tests and tools)."""
    source = method.upper().encode() + canonical_uri(url).encode() + body + timestamp_ms.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def now_ms() -> str:
    return str(int(time.time() * 1000))


def verify(client_secret: SecretStr | None, req: InboundRequest) -> None:
    if client_secret is None:
        raise ConfigurationError("PARTNERHUB_HUBSPOT__CLIENT_SECRET is not set")
    signature = req.header("x-hubspot-signature-v3")
    timestamp = req.header("x-hubspot-request-timestamp")
    if not signature or not timestamp:
        raise SignatureInvalid("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    age = signature_age(timestamp, req.received_at, per_second=1000, name="X-HubSpot-Request-Timestamp")
    if age > SIGNATURE_MAX_AGE_S or age < -SIGNATURE_MAX_SKEW_S:
        raise SignatureInvalid("X-HubSpot-Request-Timestamp is outside the 5-minute window")
    expected = sign_v3(client_secret.get_secret_value(), req.method, req.url, req.body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureInvalid("X-HubSpot-Signature-v3 does not match")


def parse(req: InboundRequest) -> Parsed:
    raw = jsonbody.loads(req.body)
    if not isinstance(raw, list):
        raise MalformedPayload("body must be a JSON array of events")
    if len(raw) > MAX_EVENTS_PER_BATCH:
        raise MalformedPayload(f"a batch holds at most {MAX_EVENTS_PER_BATCH} events")
    changes = []
    for index, item in enumerate(raw):
        try:
            event = _Event.model_validate(item)
        except ValidationError as exc:
            raise MalformedPayload(f"event {index}: {first_error(exc)}") from None
        changes.append(_change(event, item))
    return Parsed(changes=tuple(changes))


def _change(event: _Event, item: Mapping[str, Any]) -> Change:
    """One event as a ``Change``: event type ``<object>.<action>`` as HubSpot names it
    (``deal.propertyChange``, ``contact.privacyDeletion``). A merge is about the surviving
    record (``merge_of``), so that is the object it names."""
    event_type = event.eventType or event.subscriptionType or ""
    prefix, _, action = event_type.partition(".")
    object_type = _OBJECT_TYPES.get(prefix, prefix or "unknown")
    key = f"{event.eventId}:{event.subscriptionId}:{event.objectId}:{event.occurredAt}"
    object_id = str(event.objectId)
    if action == "merge":
        merge = merge_of(item)
        if merge is None:
            raise MalformedPayload(f"{event_type} event {event.eventId} names no merged ids")
        object_id = merge.into_id
    return Change(
        event_key=key,
        event_type=f"{object_type}.{action}" if action else event_type or "unknown",
        object_type=object_type,
        object_id=object_id,
        version_ms=event.occurredAt,
        payload=dict(item),
    )


def merge_of(payload: Mapping[str, Any]) -> Merge | None:
    """Which records a ``*.merge`` event merged into which.

    HubSpot's merge events carry ``primaryObjectId`` (the record given priority),
    ``mergedObjectIds`` (the others) and ``newObjectId``: the id of the record the merge
    produced, which can be a new one. The survivor is ``newObjectId`` when given (else the
    primary, else ``objectId``); every other id named went away into it.
    """
    action = str(payload.get("eventType") or payload.get("subscriptionType") or "").rpartition(".")[2]
    if action != "merge":
        return None
    merged = payload.get("mergedObjectIds")
    ids = [str(i) for i in merged] if isinstance(merged, list) else []
    primary = payload.get("primaryObjectId")
    survivor = payload.get("newObjectId") or primary or payload.get("objectId")
    if survivor in (None, ""):
        return None
    into = str(survivor)
    gone = [*([str(primary)] if primary not in (None, "") else []), *ids, str(payload.get("objectId") or "")]
    from_ids = tuple(dict.fromkeys(i for i in gone if i and i != into))
    if not from_ids:
        return None
    return Merge(from_ids=from_ids, into_id=into)


def changed_fields(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A property-change event names one property and its new value; a creation changes
    nothing yet; anything else (deletion, merge, association change) does not say."""
    event_type = str(payload.get("eventType") or payload.get("subscriptionType") or "")
    action = event_type.partition(".")[2]
    if action == "propertyChange" and payload.get("propertyName"):
        return {str(payload["propertyName"]): payload.get("propertyValue")}
    if action == "creation":
        return {}
    return None


def record_from_event(payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """(record, partial) an inbox event stands for.

    A webhook event ``{"objectId": 1, "propertyName": "dealstage", "propertyValue": "x", ...}``
    becomes the partial ``{"id": "1", "properties": {"dealstage": "x"}}``; a deletion
    (or privacy deletion) ``{"id": "1", "archived": true}``, a restore ``{"id": "1", "archived": false}``, any other
    event ``{"id": "1", "properties": {}}``. A polled record (no ``objectId``) is whole.
    """
    if "objectId" not in payload:
        return dict(payload), False
    action = str(payload.get("eventType") or payload.get("subscriptionType") or "").rpartition(".")[2]
    merge = merge_of(payload) if action == "merge" else None
    record: dict[str, Any] = {"id": merge.into_id if merge else str(payload["objectId"]), "properties": {}}
    if "propertyName" in payload:
        record["properties"][str(payload["propertyName"])] = payload.get("propertyValue")
    if action in ("deletion", "privacyDeletion"):
        record["archived"] = True
    elif action == "restore":
        record["archived"] = False
    return record, True
