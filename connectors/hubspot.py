"""HubSpot: app webhooks in (signature v3, batched JSON arrays), CRM objects read and written
through the API, the partner flow's CRM surface (``connectors.base.CrmConnector``).

Facts this module relies on (``shared/PROVIDERS.md`` §2 and §7):

* ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method + uri + body + timestamp)),
  ``uri`` being the full URL HubSpot called (scheme, host, path, query), with the URL-encoded
  characters HubSpot lists decoded first; ``X-HubSpot-Request-Timestamp`` in epoch milliseconds,
  rejected when older than five minutes.
* The body is a JSON array of up to 100 events. ``eventId`` alone is not unique: the event key is
  eventId + subscriptionId + objectId + occurredAt. ``occurredAt`` (ms) is the version.
* API auth: a private-app token (static Bearer), or OAuth: access tokens from
  ``POST /oauth/v1/token`` (``grant_type=refresh_token``), valid ``expires_in`` seconds (30
  minutes) and refreshed ahead of that; a 401 is *not* a signal to refresh.
* Rate limits: private apps 100–190 requests per rolling 10 s (``rate_limit_per_10s``), CRM
  search 5 per second and exempt from the 10-second limit. A 429 whose ``policyName`` is
  ``TEN_SECONDLY_ROLLING`` means the shared window is spent: the budget pauses for every worker.
* Idempotent writes need a property with ``hasUniqueValue: true``: ``partnerhub_tracking_id`` on
  deals (``crm setup`` creates it). Contacts are unique by ``email`` (batch read with
  ``idProperty=email`` is consistent, unlike search, which lags behind new records).

Request bodies are built with hubspot-api-client's generated models and answers parsed into them
(HubSpot's spec is not public); they travel over this module's httpx client, so every call goes
through the shared rate budget and ``classify_status``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal, TypeVar

import httpx
from hubspot.crm.associations.v4 import ApiClient as AssociationsClient
from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    BatchResponsePublicAssociationMultiWithLabelWithErrors,
    BatchResponsePublicDefaultAssociation,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4 import PublicObjectId as AssocObjectId
from hubspot.crm.objects import (
    ApiClient,
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    CollectionResponseWithTotalSimplePublicObjectForwardPaging,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObject,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import ApiClient as PropertiesClient
from hubspot.crm.properties import (
    BatchInputPropertyCreate,
    CollectionResponsePropertyGroupNoPaging,
    CollectionResponsePropertyNoPaging,
    PropertyCreate,
    PropertyGroupCreate,
)
from hubspot.oauth import ApiClient as OAuthClient
from hubspot.oauth import TokenResponseIF
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors.base import (
    AuthenticationFailed,
    Change,
    ConfigurationError,
    CrmMatch,
    Cursor,
    FatalError,
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
    parse_retry_after,
)
from hub.ratelimit import Budget, LocalRateLimiter, RateLimiter, RedisRateLimiter

#: request bodies are built with hubspot-api-client's generated models (their JSON names); each
#: API group has its own client, whose deserializer knows that group's models
_SDK = ApiClient()
_PROPERTIES_SDK = PropertiesClient()
_ASSOCIATIONS_SDK = AssociationsClient()
_OAUTH_SDK = OAuthClient()

#: HubSpot batches are "under 100 notifications"; each is a few hundred bytes.
MAX_EVENTS_PER_BATCH = 100
#: "Batch operations are limited to 100 records at a time."
MAX_BATCH = 100
#: replay window for v3 signatures (HubSpot: reject timestamps older than 5 minutes)
SIGNATURE_MAX_AGE_S = 300
#: how far ahead of our clock a timestamp may be before it is refused (clock skew)
SIGNATURE_MAX_SKEW_S = 60

#: the rate budgets this connector declares (``hub.ratelimit``)
API_BUDGET = "hubspot:api"
SEARCH_BUDGET = "hubspot:search"

#: the unique property deals are keyed on (``hasUniqueValue: true``, created by ``crm setup``)
TRACKING_ID = "partnerhub_tracking_id"
#: the property group ``crm setup`` puts the hub's properties in
SETUP_GROUP = "partnerhub"

# HubSpot-defined association type ids, used when a record is created already associated with
# the deal (atomically, so a re-run finds it through the deal): contact->deal, company->deal.
_CONTACT_TO_DEAL = 4
_COMPANY_TO_DEAL = 6

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
            "properties.partnerhub_partner_status": "string",
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


@dataclass(frozen=True, slots=True)
class CustomProperty:
    """A property the partner flow needs on a HubSpot object (created by ``crm setup``)."""

    object_type: str  # API object path: deals, contacts, companies
    name: str
    label: str
    description: str
    unique: bool = False


CUSTOM_PROPERTIES: tuple[CustomProperty, ...] = (
    CustomProperty("deals", TRACKING_ID, "Partner referral tracking ID",
                   "The partnerhub referral this deal came from (unique).", unique=True),
    CustomProperty("deals", "partnerhub_partner_id", "Partner ID",
                   "The partner this deal is attributed to."),
    CustomProperty("deals", "partnerhub_source", "Partner source",
                   "How the deal reached the partner program."),
    CustomProperty("deals", "partnerhub_partner_status", "Partner referral status",
                   "The referral status partners see."),
    CustomProperty("contacts", "partnerhub_partner_id", "Partner ID",
                   "The partner who referred this contact."),
    CustomProperty("contacts", TRACKING_ID, "Partner referral tracking ID",
                   "The partnerhub referral this contact came from."),
    CustomProperty("companies", "partnerhub_partner_id", "Partner ID",
                   "The partner who referred this company."),
)


class HubSpotSettings(BaseModel):
    """``PARTNERHUB_HUBSPOT__*``."""

    model_config = ConfigDict(extra="forbid")

    client_secret: SecretStr | None = Field(
        default=None, description="The app's client secret; signs webhooks (v3) and OAuth refresh."
    )
    access_token: SecretStr | None = Field(
        default=None, description="Private-app token (Bearer) for CRM API reads and writes."
    )
    client_id: str | None = Field(
        default=None, description="OAuth: the app's client id (with client_secret, refresh_token)."
    )
    refresh_token: SecretStr | None = Field(
        default=None,
        description="OAuth: the refresh token of the installed app. Set: OAuth is used for the API "
        "(access tokens refreshed ahead of expiry) instead of access_token.",
    )
    api_base_url: str = Field(default="https://api.hubapi.com", description="CRM API base URL.")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout for API calls.")
    max_body_bytes: int = Field(
        default=256 * 1024, gt=0, description="Largest webhook body accepted (413 past it)."
    )
    rate_limit_per_10s: int = Field(
        default=100,
        ge=1,
        description="API requests per rolling 10 seconds, shared by all workers (private apps: "
        "100 Free/Starter, 190 Professional/Enterprise; public OAuth apps: 110).",
    )
    search_rate_per_s: int = Field(
        default=5, ge=1, description="CRM search requests per second, shared by all workers."
    )
    rate_max_wait_s: float = Field(
        default=20.0,
        ge=0,
        description="How long a call waits for the rate budget before its job is retried later.",
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


# -- the partner flow's outbox payloads (pydantic at the edge) ---------------------------------


class _Properties(BaseModel):
    model_config = ConfigDict(extra="ignore")

    properties: dict[str, Any] = Field(default_factory=dict)


class _ReferralContact(_Properties):
    email: str = Field(min_length=3)


class _ReferralCompany(_Properties):
    domain: str = Field(min_length=1)


class _ReferralDeal(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tracking_id: str = Field(min_length=1)
    contact: _ReferralContact | None = None
    company: _ReferralCompany | None = None
    deal: _Properties
    owner_id: str | int | None = None


class _DealUpdate(_Properties):
    deal_id: str | int | None = None
    tracking_id: str | None = None


def canonical_uri(url: str) -> str:
    for encoded, char in _DECODED_IN_URI.items():
        url = url.replace(encoded, char).replace(encoded.lower(), char)
    return url


def sign_v3(secret: str, method: str, url: str, body: bytes, timestamp_ms: str) -> str:
    """The v3 signature HubSpot puts in ``X-HubSpot-Signature-v3`` (used by tests and tools)."""
    source = method.upper().encode() + canonical_uri(url).encode() + body + timestamp_ms.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# ---------------------------------------------------------------------------------------------
# OAuth access tokens
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AccessToken:
    value: str
    expires_at: float
    refresh_at: float


#: refresh this long before ``expires_in`` runs out (at most half the token's life)
REFRESH_AHEAD_S = 300.0
#: how long a process waits for another one's refresh before refreshing itself
_REFRESH_WAIT_S = 5.0


class OAuthTokens:
    """Access tokens for an installed OAuth app, refreshed ahead of expiry.

    With a Redis client (``use_redis``) the current token is shared by every process under a key
    derived from a hash of the client id and refresh token, and one process refreshes at a time
    (a short lock); without one, each process keeps its own.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        http: Callable[[], httpx.Client],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._token: _AccessToken | None = None
        self._redis: Any = None
        digest = hashlib.sha256(f"{client_id}:{refresh_token.get_secret_value()}".encode())
        self._key = f"partnerhub:oauth:hubspot:{digest.hexdigest()[:24]}"

    def use_redis(self, client: Any) -> None:
        self._redis = client

    def bearer(self) -> str:
        token = self._token
        now = self._clock()
        if token is not None and now < token.refresh_at:
            return token.value
        if self._redis is None:
            self._token = self._refresh()
            return self._token.value
        self._token = self._shared_refresh(now)
        return self._token.value

    def _shared_refresh(self, now: float) -> _AccessToken:
        shared = self._read_shared(now)
        if shared is not None:
            return shared
        lock, owner = f"{self._key}:lock", uuid.uuid4().hex
        if self._redis_call(lambda r: r.set(lock, owner, nx=True, px=int(_REFRESH_WAIT_S * 3000))):
            try:
                token = self._refresh()
                self._write_shared(token)
                return token
            finally:
                self._redis_call(lambda r: r.delete(lock) if _text_of(r.get(lock)) == owner else 0)
        deadline = self._clock() + _REFRESH_WAIT_S
        while self._clock() < deadline:  # another process is refreshing: use its token
            self._sleep(0.05)
            shared = self._read_shared(self._clock())
            if shared is not None:
                return shared
        token = self._refresh()
        self._write_shared(token)
        return token

    def _read_shared(self, now: float) -> _AccessToken | None:
        raw = self._redis_call(lambda r: r.get(self._key))
        if not raw:
            return None
        try:
            data = json.loads(raw)
            token = _AccessToken(str(data["access_token"]), float(data["expires_at"]),
                                 float(data["refresh_at"]))
        except (ValueError, KeyError, TypeError):
            return None
        return token if now < token.refresh_at else None

    def _write_shared(self, token: _AccessToken) -> None:
        ttl_ms = int((token.expires_at - self._clock()) * 1000)
        if ttl_ms <= 0:
            return
        value = json.dumps({"access_token": token.value, "expires_at": token.expires_at,
                            "refresh_at": token.refresh_at})
        self._redis_call(lambda r: r.set(self._key, value, px=ttl_ms))

    def _redis_call(self, fn: Callable[[Any], Any]) -> Any:
        try:
            return fn(self._redis)
        except Exception:  # noqa: BLE001 - Redis trouble: fall back to this process's token
            return None

    def _refresh(self) -> _AccessToken:
        started = self._clock()
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }
        try:
            response = self._http().post("/oauth/v1/token", data=form)
        except httpx.TimeoutException:
            raise RetriableError("hubspot: timeout refreshing the OAuth token") from None
        except httpx.TransportError as exc:
            raise RetriableError(f"hubspot: {type(exc).__name__} refreshing the OAuth token") from None
        if response.status_code >= 400:
            detail = _error_message(response)
            error = classify_status(response.status_code, provider="hubspot OAuth refresh",
                                    detail=self._scrub(detail), headers=response.headers)
            if isinstance(error, FatalError):  # 400 BAD_REFRESH_TOKEN, 401, 403: a person must act
                raise AuthenticationFailed(str(error)) from None
            assert error is not None
            raise error
        answer: Any = _decode(_OAUTH_SDK, response, TokenResponseIF)
        expires_in = float(answer.expires_in)
        ahead = min(REFRESH_AHEAD_S, expires_in / 2)
        return _AccessToken(answer.access_token, started + expires_in, started + expires_in - ahead)

    def _scrub(self, text: str) -> str:
        for secret in (self._client_secret.get_secret_value(), self._refresh_token.get_secret_value()):
            if secret:
                text = text.replace(secret, "***")
        return text


# ---------------------------------------------------------------------------------------------
# The connector
# ---------------------------------------------------------------------------------------------


class HubSpotConnector:
    name: ClassVar[str] = "hubspot"
    #: the methods the outbox dispatcher may call
    actions: ClassVar[frozenset[str]] = frozenset({"create_referral_deal", "update_deal"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        redis: Any = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._transport = transport
        self._client: httpx.Client | None = None
        self._sleep = sleep
        self._limiter: RateLimiter = LocalRateLimiter(
            self.rate_budgets(), max_wait_s=settings.rate_max_wait_s, sleep=sleep
        )
        self._oauth: OAuthTokens | None = None
        if settings.refresh_token is not None:
            if not settings.client_id or settings.client_secret is None:
                raise ConfigurationError(
                    "PARTNERHUB_HUBSPOT__REFRESH_TOKEN needs PARTNERHUB_HUBSPOT__CLIENT_ID and "
                    "PARTNERHUB_HUBSPOT__CLIENT_SECRET"
                )
            self._oauth = OAuthTokens(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                refresh_token=settings.refresh_token,
                http=self._http,
                clock=clock,
                sleep=sleep,
            )
        if redis is not None:
            self.use_redis(redis)

    def rate_budgets(self) -> tuple[Budget, ...]:
        """The budgets every call draws from: the 10-second API window and CRM search's own."""
        return (
            Budget(API_BUDGET, self.settings.rate_limit_per_10s, 10.0),
            Budget(SEARCH_BUDGET, self.settings.search_rate_per_s, 1.0),
        )

    def use_redis(self, client: Any) -> None:
        """Share the rate budget (and the OAuth access token) with every process on ``client``."""
        self._limiter = RedisRateLimiter(
            client, self.rate_budgets(), max_wait_s=self.settings.rate_max_wait_s, sleep=self._sleep
        )
        if self._oauth is not None:
            self._oauth.use_redis(client)

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

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """A property-change event names one property and its new value; a creation changes
        nothing yet; anything else (deletion, merge, association change) does not say."""
        event_type = str(payload.get("eventType") or payload.get("subscriptionType") or "")
        action = event_type.partition(".")[2]
        if action == "propertyChange" and payload.get("propertyName"):
            return {str(payload["propertyName"]): payload.get("propertyValue")}
        if action == "creation":
            return {}
        return None

    # -- API plumbing -----------------------------------------------------------------------

    @property
    def api_ready(self) -> bool:
        return self._oauth is not None or self.settings.access_token is not None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.settings.api_base_url,
                timeout=self.settings.timeout_s,
                transport=self._transport,
                headers={"accept": "application/json"},
            )
        return self._client

    def _bearer(self) -> str:
        if self._oauth is not None:
            return self._oauth.bearer()
        if self.settings.access_token is None:
            raise ConfigurationError(
                "PARTNERHUB_HUBSPOT__ACCESS_TOKEN (or the OAuth settings) is not set"
            )
        return self.settings.access_token.get_secret_value()

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        budget: str = API_BUDGET,
        allow: Iterable[int] = (),
    ) -> httpx.Response:
        """One API call under the rate budget. A status in ``allow`` is returned to the caller;
        any other failure raises the classified error."""
        headers = {"authorization": f"Bearer {self._bearer()}"}
        self._limiter.acquire(budget)
        try:
            response = self._http().request(method, path, json=body, headers=headers)
        except httpx.TimeoutException:
            raise RetriableError(f"hubspot: timeout on {method} {path}") from None
        except httpx.TransportError as exc:
            raise RetriableError(f"hubspot: {type(exc).__name__} on {method} {path}") from None
        if response.status_code in set(allow):
            return response
        if response.status_code == 429:
            raise self._rate_limited(response, budget)
        error = classify_status(
            response.status_code,
            provider="hubspot",
            detail=_error_message(response),
            headers=response.headers,
        )
        if error is not None:
            raise error
        return response

    def _rate_limited(self, response: httpx.Response, budget: str) -> RetriableError:
        """A 429: when it says the shared window is spent, every worker backs off with us."""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        policy = _error_field(response, "policyName")
        pause: float | None = None
        if budget == SEARCH_BUDGET:
            pause = retry_after or 1.0
        elif policy == "TEN_SECONDLY_ROLLING":
            interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds")
            pause = retry_after or (int(interval) / 1000 if interval and interval.isdigit() else 10.0)
        if pause is not None:
            self._limiter.pause(budget, pause)
        detail = f"{policy or 'rate limit'}: {_error_message(response)}"
        return RetriableError(f"hubspot answered 429: {detail}"[:400], retry_after=retry_after or pause)

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        data = self._send("POST", path, body).json()
        return data if isinstance(data, dict) else {}

    # -- records ----------------------------------------------------------------------------

    def read_many(
        self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()
    ) -> list[Record]:
        """Batch read (100 ids a call). ``fields``: the record paths the hub maps
        (``properties.dealname``…); HubSpot returns only the properties asked for."""
        path_obj = _api_object(obj)
        wanted = {f.split(".", 1)[1] for f in fields if f.startswith("properties.")}
        wanted.update(READ_PROPERTIES.get(obj, ()))
        records: list[Record] = []
        for start in range(0, len(ids), MAX_BATCH):
            chunk = ids[start : start + MAX_BATCH]
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
        raise NotImplementedError("hubspot batch record writes arrive with the CRM connectors issue")

    # -- the partner flow: conflicts --------------------------------------------------------

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        """Open deals and customers behind a contact with this email or a company with this
        domain (CRM search), plus the contact itself when it is neither."""
        found: dict[tuple[str, str, str], CrmMatch] = {}

        def add(match: CrmMatch) -> None:
            found.setdefault((match.kind, match.object_type, match.object_id), match)

        if email and email.strip():
            contacts = self._search("contacts", "email", email.strip().lower(),
                                    ["email", "firstname", "lastname", "lifecyclestage"])
            for match in self._matches("contact", contacts, "email"):
                add(match)
        if domain and domain.strip():
            companies = self._search("companies", "domain", domain.strip().lower(),
                                     ["name", "domain", "lifecyclestage"])
            for match in self._matches("company", companies, "domain"):
                add(match)
        return list(found.values())

    def _matches(
        self, obj: str, records: list[Any], matched_on: Literal["email", "domain"]
    ) -> list[CrmMatch]:
        if not records:
            return []
        deals_of = self._associated(_api_object(obj), "deals", [r.id for r in records])
        deal_ids = sorted({d for ids in deals_of.values() for d in ids}, key=_id_order)
        deals = {d.id: d for d in self._read_objects(
            "deals", deal_ids, ["dealname", "dealstage", "hs_is_closed", "hs_is_closed_won"])}
        matches: list[CrmMatch] = []
        for record in records:
            props = record.properties or {}
            name = _display_name(obj, props)
            conflict = False
            if str(props.get("lifecyclestage") or "").lower() == "customer":
                matches.append(CrmMatch("customer", obj, str(record.id), name, matched_on))
                conflict = True
            for deal_id in deals_of.get(str(record.id), []):
                deal = deals.get(deal_id)
                if deal is None:
                    continue
                dprops = deal.properties or {}
                dname = dprops.get("dealname") or None
                if not _is_true(dprops.get("hs_is_closed")):
                    matches.append(CrmMatch("open_deal", "deal", str(deal.id), dname, matched_on))
                    conflict = True
                elif _is_true(dprops.get("hs_is_closed_won")):
                    matches.append(CrmMatch("customer", "deal", str(deal.id), dname, matched_on))
                    conflict = True
            if obj == "contact" and not conflict:
                matches.append(CrmMatch("contact", "contact", str(record.id), name, matched_on))
        return matches

    # -- the partner flow: outbox actions ---------------------------------------------------

    def create_referral_deal(
        self, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """Create (or complete) the referral's deal, contact and company; safe to run twice.

        The deal is found by its unique tracking id (a consistent read, unlike search) and
        created by upsert on it, so two runs make one deal; an existing deal only gets the
        properties it lacks. A contact is found by email (also consistent), a company by domain
        (search); an existing one is associated and never written. A new contact or company is
        created already associated with the deal, so a re-run finds it through the deal's
        associations even before search has indexed it. HubSpot has no idempotency key: the
        tracking id plays that part (``idempotency_key`` is accepted for the outbox protocol).
        """
        try:
            ask = _ReferralDeal.model_validate(payload)
        except ValidationError as exc:
            raise FatalError(f"create_referral_deal: bad payload: {_first_error(exc)}") from None
        written: dict[str, dict[str, dict[str, str]]] = {}
        created: dict[str, list[str]] = {}

        deal_props = _texts(ask.deal.properties)
        deal_props[TRACKING_ID] = ask.tracking_id
        if ask.owner_id not in (None, ""):
            deal_props["hubspot_owner_id"] = str(ask.owner_id)
        deal_id, deal_new, deal_written = self._upsert_deal(ask.tracking_id, deal_props)
        if deal_written:
            written["deal"] = {deal_id: deal_written}
        if deal_new:
            created["deal"] = [deal_id]
        linked = (
            {"contacts": [], "companies": []}
            if deal_new
            else {to: self._associated("deals", to, [deal_id]).get(deal_id, [])
                  for to in ("contacts", "companies")}
        )

        contact_id: str | None = None
        contact_created = False
        if ask.contact is not None:
            contact_id, contact_created, contact_written = self._ensure_contact(
                ask.contact, deal_id, linked["contacts"]
            )
            if contact_created:
                written["contact"] = {contact_id: contact_written}
                created["contact"] = [contact_id]

        company_id: str | None = None
        company_created = False
        if ask.company is not None:
            company_id, company_created, company_written = self._ensure_company(
                ask.company, deal_id, linked["companies"]
            )
            if company_created:
                written["company"] = {company_id: company_written}
                created["company"] = [company_id]

        return {
            "deal_id": deal_id,
            "contact_id": contact_id,
            "company_id": company_id,
            "deal_created": deal_new,
            "contact_created": contact_created,
            "company_created": company_created,
            "written": written,
            "created": created,
        }

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Set properties on one deal, by ``deal_id`` or by ``tracking_id``."""
        try:
            ask = _DealUpdate.model_validate(payload)
        except ValidationError as exc:
            raise FatalError(f"update_deal: bad payload: {_first_error(exc)}") from None
        if ask.deal_id in (None, "") and not ask.tracking_id:
            raise FatalError("update_deal: the payload names neither deal_id nor tracking_id")
        props = _texts(ask.properties)
        if ask.deal_id not in (None, ""):
            item = SimplePublicObjectBatchInput(id=str(ask.deal_id), properties=props)
        else:
            item = SimplePublicObjectBatchInput(
                id=ask.tracking_id, id_property=TRACKING_ID, properties=props
            )
        body = _SDK.sanitize_for_serialization(BatchInputSimplePublicObjectBatchInput(inputs=[item]))
        response = self._send("POST", "/crm/v3/objects/deals/batch/update", body)
        answer: Any = _decode(_SDK, response, BatchResponseSimplePublicObjectWithErrors)
        if not answer.results:
            raise FatalError(f"update_deal: HubSpot updated nothing ({_batch_errors(answer)})")
        deal_id = str(answer.results[0].id)
        return {"deal_id": deal_id, "written": {"deal": {deal_id: props}} if props else {}}

    def _upsert_deal(self, tracking_id: str, props: dict[str, str]) -> tuple[str, bool, dict[str, str]]:
        """(deal id, created, what was written)."""
        existing = self._read_objects("deals", [tracking_id], sorted(props), id_property=TRACKING_ID)
        if existing:
            deal = existing[0]
            current = deal.properties or {}
            gaps = {k: v for k, v in props.items() if v != "" and current.get(k) in (None, "")}
            if gaps:
                item = SimplePublicObjectBatchInput(id=str(deal.id), properties=gaps)
                body = _SDK.sanitize_for_serialization(
                    BatchInputSimplePublicObjectBatchInput(inputs=[item])
                )
                self._send("POST", "/crm/v3/objects/deals/batch/update", body)
            return str(deal.id), False, gaps
        item = SimplePublicObjectBatchInputUpsert(id=tracking_id, id_property=TRACKING_ID,
                                                  properties=props)
        body = _SDK.sanitize_for_serialization(
            BatchInputSimplePublicObjectBatchInputUpsert(inputs=[item])
        )
        response = self._send("POST", "/crm/v3/objects/deals/batch/upsert", body)
        answer: Any = _decode(_SDK, response, BatchResponseSimplePublicUpsertObject)
        if not answer.results:
            raise FatalError("create_referral_deal: HubSpot's upsert returned no deal")
        result = answer.results[0]
        return str(result.id), bool(result.new), props

    def _ensure_contact(
        self, contact: _ReferralContact, deal_id: str, linked: list[str]
    ) -> tuple[str, bool, dict[str, str]]:
        email = contact.email.strip().lower()
        found = self._read_objects("contacts", [email], ["email"], id_property="email")
        if found:
            contact_id = str(found[0].id)
            if contact_id not in linked:
                self._associate_default("deals", "contacts", [(deal_id, contact_id)])
            return contact_id, False, {}
        props = {**_texts(contact.properties), "email": email}
        response = self._send(
            "POST", "/crm/v3/objects/contacts",
            _SDK.sanitize_for_serialization(SimplePublicObjectInputForCreate(
                properties=props, associations=[_to_deal(deal_id, _CONTACT_TO_DEAL)])),
            allow=(409,),
        )
        if response.status_code == 409:  # created meanwhile by someone else: use that one
            found = self._read_objects("contacts", [email], ["email"], id_property="email")
            if not found:
                raise RetriableError("hubspot: contact exists (409) but cannot be read yet")
            contact_id = str(found[0].id)
            self._associate_default("deals", "contacts", [(deal_id, contact_id)])
            return contact_id, False, {}
        answer: Any = _decode(_SDK, response, SimplePublicObject)
        return str(answer.id), True, props

    def _ensure_company(
        self, company: _ReferralCompany, deal_id: str, linked: list[str]
    ) -> tuple[str, bool, dict[str, str]]:
        domain = company.domain.strip().lower()
        if linked:  # a company this action created (atomically associated) or linked before
            return min(linked, key=_id_order), False, {}
        found = self._search("companies", "domain", domain, ["domain", "name"])
        if found:
            company_id = min((str(c.id) for c in found), key=_id_order)
            self._associate_default("deals", "companies", [(deal_id, company_id)])
            return company_id, False, {}
        props = {**_texts(company.properties), "domain": domain}
        response = self._send(
            "POST", "/crm/v3/objects/companies",
            _SDK.sanitize_for_serialization(SimplePublicObjectInputForCreate(
                properties=props, associations=[_to_deal(deal_id, _COMPANY_TO_DEAL)])),
        )
        answer: Any = _decode(_SDK, response, SimplePublicObject)
        return str(answer.id), True, props

    # -- API building blocks ----------------------------------------------------------------

    def _search(self, path_obj: str, prop: str, value: str, properties: list[str]) -> list[Any]:
        """Objects whose ``prop`` equals ``value`` (the value travels as a JSON value, never
        spliced into a query string); the first 100, enough for an email or a domain."""
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name=prop, operator="EQ", value=value)])],
            properties=properties,
            limit=MAX_BATCH,
        )
        response = self._send("POST", f"/crm/v3/objects/{path_obj}/search",
                              _SDK.sanitize_for_serialization(request), budget=SEARCH_BUDGET)
        answer: Any = _decode(_SDK, response, CollectionResponseWithTotalSimplePublicObjectForwardPaging)
        return list(answer.results or [])

    def _read_objects(
        self, path_obj: str, ids: Sequence[str], properties: list[str], *, id_property: str | None = None
    ) -> list[Any]:
        """Batch read; ids HubSpot does not know are simply absent from the answer."""
        results: list[Any] = []
        for start in range(0, len(ids), MAX_BATCH):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=str(i)) for i in ids[start : start + MAX_BATCH]],
                properties=properties,
                properties_with_history=[],
                id_property=id_property,
            )
            response = self._send("POST", f"/crm/v3/objects/{path_obj}/batch/read",
                                  _SDK.sanitize_for_serialization(request))
            answer: Any = _decode(_SDK, response, BatchResponseSimplePublicObjectWithErrors)
            results.extend(answer.results or [])
        return results

    def _associated(self, from_obj: str, to_obj: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """{from id: [to ids]} through the v4 associations batch read (first page each)."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(ids), MAX_BATCH):
            request = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=str(i)) for i in ids[start : start + MAX_BATCH]]
            )
            response = self._send("POST", f"/crm/v4/associations/{from_obj}/{to_obj}/batch/read",
                                  _ASSOCIATIONS_SDK.sanitize_for_serialization(request))
            answer: Any = _decode(_ASSOCIATIONS_SDK, response,
                                  BatchResponsePublicAssociationMultiWithLabelWithErrors)
            for result in answer.results or []:
                out.setdefault(str(result._from.id), []).extend(
                    str(to.to_object_id) for to in result.to or []
                )
        return out

    def _associate_default(self, from_obj: str, to_obj: str, pairs: Sequence[tuple[str, str]]) -> None:
        """v4 default (unlabelled) associations; associating twice leaves one association."""
        request = BatchInputPublicDefaultAssociationMultiPost(inputs=[
            PublicDefaultAssociationMultiPost(_from=AssocObjectId(id=a), to=AssocObjectId(id=b))
            for a, b in pairs
        ])
        response = self._send(
            "POST", f"/crm/v4/associations/{from_obj}/{to_obj}/batch/associate/default",
            _ASSOCIATIONS_SDK.sanitize_for_serialization(request),
        )
        _decode(_ASSOCIATIONS_SDK, response, BatchResponsePublicDefaultAssociation)

    # -- CRM setup --------------------------------------------------------------------------

    def missing_setup(self) -> list[str]:
        """What ``ensure_setup`` would create or cannot fix; empty when the account is ready."""
        lines: list[str] = []
        for path_obj, needed in _by_object(CUSTOM_PROPERTIES).items():
            has_group, existing = self._setup_state(path_obj)
            if not has_group:
                lines.append(f"{path_obj}: property group {SETUP_GROUP!r} is missing")
            for prop in needed:
                current = existing.get(prop.name)
                if current is None:
                    lines.append(f"{path_obj}.{prop.name} is missing")
                elif prop.unique and not current.has_unique_value:
                    lines.append(_not_unique(path_obj, prop.name))
        return lines

    def ensure_setup(self) -> list[str]:
        """Create the property group and properties the partner flow needs; check the rest."""
        lines: list[str] = []
        problems: list[str] = []
        for path_obj, needed in _by_object(CUSTOM_PROPERTIES).items():
            has_group, existing = self._setup_state(path_obj)
            if not has_group:
                group = PropertyGroupCreate(name=SETUP_GROUP, label="Partner program", display_order=-1)
                self._send("POST", f"/crm/v3/properties/{path_obj}/groups",
                           _PROPERTIES_SDK.sanitize_for_serialization(group))
                lines.append(f"{path_obj}: created property group {SETUP_GROUP!r}")
            to_create = []
            for prop in needed:
                current = existing.get(prop.name)
                if current is None:
                    to_create.append(prop)
                elif prop.unique and not current.has_unique_value:
                    problems.append(_not_unique(path_obj, prop.name))
                else:
                    lines.append(f"{path_obj}.{prop.name}: present" + (" (unique values)" if prop.unique else ""))
            if to_create:
                batch = BatchInputPropertyCreate(inputs=[
                    PropertyCreate(name=p.name, label=p.label, description=p.description, type="string",
                                   field_type="text", group_name=SETUP_GROUP, has_unique_value=p.unique,
                                   form_field=False)
                    for p in to_create
                ])
                self._send("POST", f"/crm/v3/properties/{path_obj}/batch/create",
                           _PROPERTIES_SDK.sanitize_for_serialization(batch))
                lines.extend(f"{path_obj}.{p.name}: created" + (" (unique values)" if p.unique else "")
                             for p in to_create)
        if problems:
            raise ConfigurationError("; ".join(problems))
        return lines

    def _setup_state(self, path_obj: str) -> tuple[bool, dict[str, Any]]:
        groups: Any = _decode(_PROPERTIES_SDK, self._send("GET", f"/crm/v3/properties/{path_obj}/groups"),
                              CollectionResponsePropertyGroupNoPaging)
        props: Any = _decode(_PROPERTIES_SDK, self._send("GET", f"/crm/v3/properties/{path_obj}"),
                             CollectionResponsePropertyNoPaging)
        has_group = any(g.name == SETUP_GROUP for g in groups.results or [])
        return has_group, {p.name: p for p in props.results or []}

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


def _api_object(obj: str) -> str:
    try:
        return _API_OBJECTS[obj]
    except KeyError:
        raise ConfigurationError(f"hubspot: no API object for {obj!r}") from None


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


_Model = TypeVar("_Model")


class _Body:
    """What the SDK's deserializer reads an answer from (its RESTResponse has ``data``)."""

    def __init__(self, data: str) -> None:
        self.data = data


def _decode(client: Any, response: httpx.Response, klass: type[_Model]) -> _Model:
    """Parse an answer into the SDK model (required fields and enum values checked)."""
    try:
        return client.deserialize(_Body(response.text), klass)  # type: ignore[no-any-return]
    except (ValueError, TypeError, AttributeError) as exc:
        raise FatalError(
            f"hubspot: unexpected answer for {klass.__name__} ({response.status_code}): {exc}"[:400]
        ) from None


def _to_deal(deal_id: str, type_id: int) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(
        to=PublicObjectId(id=deal_id),
        types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)],
    )


def _text(value: Any) -> str:
    """A property value as HubSpot takes it: text (``""`` clears it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _texts(properties: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): _text(v) for k, v in properties.items()}


def _is_true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (1 << 62, value)


def _display_name(obj: str, props: Mapping[str, Any]) -> str | None:
    if obj == "contact":
        full = f"{props.get('firstname') or ''} {props.get('lastname') or ''}".strip()
        return full or props.get("email") or None
    return props.get("name") or props.get("domain") or None


def _by_object(props: Iterable[CustomProperty]) -> dict[str, list[CustomProperty]]:
    out: dict[str, list[CustomProperty]] = {}
    for prop in props:
        out.setdefault(prop.object_type, []).append(prop)
    return out


def _not_unique(path_obj: str, name: str) -> str:
    return (
        f"{path_obj}.{name} exists without unique values (hasUniqueValue); HubSpot cannot change "
        f"that on an existing property: delete or rename it in HubSpot and run setup again"
    )


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _batch_errors(answer: Any) -> str:
    errors = getattr(answer, "errors", None) or []
    return "; ".join(str(getattr(e, "message", e))[:200] for e in errors) or "no errors given"


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("category") or "")[:200]
    return ""


def _error_field(response: httpx.Response, name: str) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return str(value) if value is not None else None


def _text_of(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def now_ms() -> str:
    return str(int(time.time() * 1000))
