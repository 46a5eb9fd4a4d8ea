"""Stripe webhooks: the ``Stripe-Signature`` check over the raw body, and the one Event a POST
carries turned into an inbox change.

Facts this module relies on (``shared/PROVIDERS.md`` §1.1, §1.2, §7):

* ``Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>…]``; other schemes (``v0``) are ignored.
  ``v1 = hex(HMAC-SHA256(endpoint secret, f"{t}.{raw body}"))``, compared in constant time; any
  ``v1`` matching any accepted secret passes (Stripe sends one ``v1`` per active secret while a
  secret is rolled, and the hub accepts the platform's and the Connect endpoint's secrets).
* Timestamps further than the tolerance (300 s, the SDKs' default) from now, either way, are
  refused: a signature dated ahead could otherwise be replayed for as long as it is ahead.
* One Event per POST. ``id`` (``evt_…``) is the dedup key; ``created`` (s) the version; order is
  not guaranteed. A polled event (``GET /v1/events``) becomes the very same change, so a webhook
  and a poll of one event collapse into one inbox row.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

from connectors import jsonbody
from connectors.errors import ConfigurationError, MalformedPayload, SignatureInvalid
from connectors.values import Change, InboundRequest, Parsed

SIGNATURE_HEADER = "stripe-signature"
SCHEME = "v1"


def compute_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``v1`` for this body (used by the check; tests sign with the SDK's own helper)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            text = value.strip()
            # digits only, few enough to be a time at all (a 400-digit "t" is no time, never a 500)
            if not text.isdigit() or not text.isascii() or len(text) > 16:
                raise SignatureInvalid("Stripe-Signature timestamp is not Unix seconds")
            timestamp = int(text)
        elif name == SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureInvalid("Stripe-Signature has no timestamp")
    if not signatures:
        raise SignatureInvalid("Stripe-Signature has no v1 signature")
    return timestamp, signatures


def verify(secrets: Iterable[SecretStr], req: InboundRequest, *, tolerance_s: int) -> None:
    """Accept the request if any ``v1`` signature matches any accepted secret and its timestamp
    is within the tolerance; else ``SignatureInvalid`` (401). Every pair is compared, in
    constant time, so timing does not tell which secret or signature was close."""
    keys = [s.get_secret_value() for s in secrets]
    if not keys:
        raise ConfigurationError("PARTNERHUB_STRIPE__WEBHOOK_SECRETS is not set")
    header = req.header(SIGNATURE_HEADER)
    if not header:
        raise SignatureInvalid("missing Stripe-Signature")
    timestamp, signatures = _parse_header(header)
    if abs(timestamp - req.received_at) > tolerance_s:  # too old, or dated ahead of our clock
        raise SignatureInvalid("Stripe-Signature timestamp is outside the tolerance")
    matched = False
    for key in keys:
        expected = compute_signature(key, timestamp, req.body).encode()
        for signature in signatures:
            matched |= hmac.compare_digest(expected, signature.encode())
    if not matched:
        raise SignatureInvalid("no Stripe-Signature v1 signature matches")


def event_change(event: Mapping[str, Any]) -> Change:
    """The inbox change for one Stripe Event (webhook or polled)."""
    try:
        event_id = event["id"]
        event_type = event["type"]
        created = int(event["created"])
        obj = event["data"]["object"]
    except (KeyError, TypeError, ValueError):
        raise MalformedPayload("not a Stripe event: id, type, created and data.object are required") from None
    if not isinstance(event_id, str) or not event_id or not isinstance(obj, Mapping):
        raise MalformedPayload("not a Stripe event: id must be a string and data.object an object")
    return Change(
        event_key=event_id,
        event_type=str(event_type),
        object_type=str(obj.get("object") or "unknown"),
        object_id=str(obj.get("id") or ""),
        version_ms=created * 1000,
        payload=dict(event),
    )


def parse(req: InboundRequest) -> Parsed:
    event = jsonbody.loads(req.body)
    if not isinstance(event, dict) or event.get("object") != "event":
        raise MalformedPayload("body must be one Stripe event object")
    return Parsed(changes=(event_change(event),))


def record_from_event(payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """An event's ``data.object`` is the whole provider object at the event's time."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    obj = data.get("object") if isinstance(data, Mapping) else None
    return (dict(obj) if isinstance(obj, Mapping) else dict(payload)), False
