"""HubSpot: app webhooks in (signature v3, batched JSON arrays), CRM objects read through the API.

Facts this module relies on (``shared/PROVIDERS.md`` §2):

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
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx
from hubspot.crm.objects import (
    ApiClient,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectId,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors.base import (
    Change,
    ConfigurationError,
    Cursor,
    InboundRequest,
    MalformedPayload,
    ObjectSpec,
    Page,
    Parsed,
    Record,
    RetriableError,
    SignatureInvalid,
    WriteResult,
    classify_status,
    epoch_ms,
)

#: request bodies are built with hubspot-api-client's generated models (their JSON names)
_SDK = ApiClient()

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

#: API object path per hub object type
_API_OBJECTS = {"contact": "contacts", "company": "companies", "deal": "deals"}

# What a mapping file may name for each object: a CRM record is ``{"id": …, "properties": {…},
# "associations": {…}, "archived": bool}`` as the v3 objects API returns it.
_COMMON = {"id": "id", "archived": "bool", "createdAt": "datetime", "updatedAt": "datetime"}
OBJECTS: dict[str, ObjectSpec] = {
    "deal": ObjectSpec(
        name="deal",
        fields={
            **_COMMON,
            "properties.dealname": "string",
            "properties.dealstage": "enum",
            "properties.pipeline": "enum",
            "properties.amount": "number",
            "properties.deal_currency_code": "string",
            "properties.closedate": "datetime",
            "properties.createdate": "datetime",
            "properties.hs_lastmodifieddate": "datetime",
            "properties.hubspot_owner_id": "id",
            "properties.partnerhub_partner_id": "string",
            "properties.partnerhub_tracking_id": "string",
            "properties.partnerhub_source": "string",
            "associations.contacts": "list",
            "associations.companies": "list",
        },
        version_field="properties.hs_lastmodifieddate",
    ),
    "contact": ObjectSpec(
        name="contact",
        fields={
            **_COMMON,
            "properties.email": "string",
            "properties.firstname": "string",
            "properties.lastname": "string",
            "properties.company": "string",
            "properties.phone": "string",
            "properties.website": "string",
            "properties.lifecyclestage": "enum",
            "properties.hubspot_owner_id": "id",
            "properties.lastmodifieddate": "datetime",
            "properties.partnerhub_partner_id": "string",
            "properties.partnerhub_tracking_id": "string",
        },
        version_field="properties.lastmodifieddate",
    ),
    "company": ObjectSpec(
        name="company",
        fields={
            **_COMMON,
            "properties.name": "string",
            "properties.domain": "string",
            "properties.country": "string",
            "properties.industry": "enum",
            "properties.numberofemployees": "number",
            "properties.hubspot_owner_id": "id",
            "properties.hs_lastmodifieddate": "datetime",
            "properties.partnerhub_partner_id": "string",
        },
        version_field="properties.hs_lastmodifieddate",
    ),
}


class HubSpotSettings(BaseModel):
    """``PARTNERHUB_HUBSPOT__*``."""

    model_config = ConfigDict(extra="forbid")

    client_secret: SecretStr | None = Field(
        default=None, description="The app's client secret; signs webhooks (v3)."
    )
    access_token: SecretStr | None = Field(
        default=None, description="Private-app token (Bearer) for CRM API reads and writes."
    )
    api_base_url: str = Field(default="https://api.hubapi.com", description="CRM API base URL.")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout for API calls.")
    max_body_bytes: int = Field(
        default=256 * 1024, gt=0, description="Largest webhook body accepted (413 past it)."
    )


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


class HubSpotConnector:
    name: ClassVar[str] = "hubspot"
    #: the methods the outbox dispatcher may call (writes arrive with the first partner flow)
    actions: ClassVar[frozenset[str]] = frozenset()
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS

    def __init__(self, settings: HubSpotSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._transport = transport
        self._client: httpx.Client | None = None

    # -- webhooks ---------------------------------------------------------------------------

    def webhook_ready(self) -> bool:
        return self.settings.client_secret is not None

    def verify_webhook(self, req: InboundRequest) -> None:
        if self.settings.client_secret is None:
            raise ConfigurationError("PARTNERHUB_HUBSPOT__CLIENT_SECRET is not set")
        signature = req.header("x-hubspot-signature-v3")
        timestamp = req.header("x-hubspot-request-timestamp")
        if not signature or not timestamp:
            raise SignatureInvalid("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
        try:
            ts_s = int(timestamp) / 1000
        except ValueError:
            raise SignatureInvalid("X-HubSpot-Request-Timestamp is not epoch milliseconds") from None
        age = req.received_at - ts_s
        if age > SIGNATURE_MAX_AGE_S or age < -SIGNATURE_MAX_SKEW_S:
            raise SignatureInvalid("X-HubSpot-Request-Timestamp is outside the 5-minute window")
        expected = sign_v3(
            self.settings.client_secret.get_secret_value(), req.method, req.url, req.body, timestamp
        )
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise SignatureInvalid("X-HubSpot-Signature-v3 does not match")

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        try:
            raw = json.loads(req.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedPayload(f"body is not JSON: {exc}") from None
        if not isinstance(raw, list):
            raise MalformedPayload("body must be a JSON array of events")
        if len(raw) > MAX_EVENTS_PER_BATCH:
            raise MalformedPayload(f"a batch holds at most {MAX_EVENTS_PER_BATCH} events")
        changes = []
        for index, item in enumerate(raw):
            try:
                event = _Event.model_validate(item)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise MalformedPayload(f"event {index}: {where}: {first['msg']}") from None
            changes.append(self._change(event, item))
        return Parsed(changes=tuple(changes))

    @staticmethod
    def _change(event: _Event, item: Mapping[str, Any]) -> Change:
        event_type = event.eventType or event.subscriptionType or ""
        prefix, _, action = event_type.partition(".")
        key = f"{event.eventId}:{event.subscriptionId}:{event.objectId}:{event.occurredAt}"
        return Change(
            event_key=key,
            event_type=action or event_type,
            object_type=_OBJECT_TYPES.get(prefix, prefix or "unknown"),
            object_id=str(event.objectId),
            version_ms=event.occurredAt,
            payload=dict(item),
        )

    # -- API --------------------------------------------------------------------------------

    @property
    def api_ready(self) -> bool:
        return self.settings.access_token is not None

    def _http(self) -> httpx.Client:
        if self.settings.access_token is None:
            raise ConfigurationError("PARTNERHUB_HUBSPOT__ACCESS_TOKEN is not set")
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.settings.api_base_url,
                timeout=self.settings.timeout_s,
                transport=self._transport,
                headers={
                    "authorization": f"Bearer {self.settings.access_token.get_secret_value()}",
                    "accept": "application/json",
                },
            )
        return self._client

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self._http().post(path, json=body)
        except httpx.TimeoutException:
            raise RetriableError(f"hubspot: timeout on POST {path}") from None
        except httpx.TransportError as exc:
            raise RetriableError(f"hubspot: {type(exc).__name__} on POST {path}") from None
        error = classify_status(
            response.status_code,
            provider="hubspot",
            detail=_error_message(response),
            headers=response.headers,
        )
        if error is not None:
            raise error
        return response.json()

    def read_many(
        self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()
    ) -> list[Record]:
        """Batch read (100 ids a call). ``fields``: the record paths the hub maps
        (``properties.dealname``…); HubSpot returns only the properties asked for."""
        path_obj = _API_OBJECTS.get(obj)
        if path_obj is None:
            raise ConfigurationError(f"hubspot: no API object for {obj!r}")
        wanted = {f.split(".", 1)[1] for f in fields if f.startswith("properties.")}
        wanted.update(READ_PROPERTIES.get(obj, ()))
        records: list[Record] = []
        for start in range(0, len(ids), MAX_EVENTS_PER_BATCH):
            chunk = ids[start : start + MAX_EVENTS_PER_BATCH]
            body = _SDK.sanitize_for_serialization(
                BatchReadInputSimplePublicObjectId(
                    inputs=[SimplePublicObjectId(id=str(i)) for i in chunk],
                    properties=sorted(wanted),
                    properties_with_history=[],
                )
            )
            data = self._post(f"/crm/v3/objects/{path_obj}/batch/read", body)
            for result in data.get("results", []):
                records.append(_record(obj, result))
        return records

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        raise NotImplementedError("hubspot polling is not built yet (CRM connectors issue)")

    def upsert_many(
        self, obj: str, records: Sequence[Mapping[str, Any]], *, key: str
    ) -> list[WriteResult]:
        raise NotImplementedError("hubspot writes are not built yet (first partner flow issue)")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


#: properties always read (the version stamps); the mapping files add what they map
READ_PROPERTIES: dict[str, tuple[str, ...]] = {
    "deal": ("hs_lastmodifieddate",),
    "contact": ("lastmodifieddate",),
    "company": ("hs_lastmodifieddate",),
}


def _record(obj: str, result: Mapping[str, Any]) -> Record:
    props = dict(result.get("properties") or {})
    version = None
    modified = props.get("hs_lastmodifieddate") or props.get("lastmodifieddate") or result.get(
        "updatedAt"
    )
    if modified:
        version = _parse_hubspot_time(str(modified))
    return Record(
        object_type=obj,
        id=str(result["id"]),
        properties=props,
        version_ms=version,
        archived=bool(result.get("archived", False)),
        raw=dict(result),
    )


def _parse_hubspot_time(value: str) -> int | None:
    """HubSpot returns ISO-8601 timestamps in v3 (and epoch ms strings in places)."""
    if value.isdigit():
        return int(value)
    try:
        return epoch_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("category") or "")[:200]
    return ""


def now_ms() -> str:
    return str(int(time.time() * 1000))
