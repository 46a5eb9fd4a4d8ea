"""The connector seam: the Protocol every provider module implements, its value types, and the
error classes that tell the hub what to do next.

A connector is declarative and small: signature check, parsing, paging, batching and write calls
for one provider. Retry policy, backoff, rate budgets, idempotency and cursors live in ``hub/``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

# --------------------------------------------------------------------------------------------
# Errors, classified by what should happen next. One root; the worker acts on the class.
# --------------------------------------------------------------------------------------------


class HubError(Exception):
    """Root of every error the hub classifies."""

    #: a short, stable name stored with dead letters and used as an alert key
    kind: ClassVar[str] = "error"


class ConfigurationError(HubError):
    """The hub or a connector is set up wrongly; a person has to fix settings or files."""

    kind = "configuration"


class WebhookRejected(HubError):
    """An inbound request is refused before anything is stored.

    ``status`` is the HTTP status the receiver answers with (401 bad signature, 400 malformed).
    The message is safe to return to the caller: it never contains secrets.
    """

    kind = "rejected"
    status: int = 400
    #: the answer's body when the provider expects its own refusal format (a SOAP fault); ``None``:
    #: the hub's JSON error. ``media_type`` goes with it; ``reason`` labels the rejection metric.
    body: bytes | None = None
    media_type: str = "application/json"
    reason: str | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class SignatureInvalid(WebhookRejected):
    """Signature missing, wrong, or its timestamp outside the replay window (401)."""

    status = 401


class MalformedPayload(WebhookRejected):
    """The body cannot be parsed into changes (400)."""

    status = 400


class RetriableError(HubError):
    """Try again later: 429, 5xx, timeouts, a lock held elsewhere. ``retry_after`` in seconds."""

    kind = "retriable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(HubError):
    """Retrying cannot help (bad credentials, a request the provider refuses): dead-letter it."""

    kind = "fatal"


class OutcomeUnknown(FatalError):
    """The request reached the provider but its answer did not reach us, and nothing makes a
    retry safe (an email, a money movement): never retried blindly. The outbox row waits in the
    ``unknown`` state, with an alert, for a lookup or a person (``partnerhub replay --outbox``)."""

    kind = "unknown"


class AuthenticationFailed(FatalError):
    """The provider refused our credentials (401/403). Raises a connector alert."""

    kind = "auth"


class SkippableRecord(HubError):
    """This one record cannot be handled (a mapping gap, bad data); dead-letter it, carry on."""

    kind = "skippable"


def first_error(exc: Any) -> str:
    """``where: what`` of a pydantic ``ValidationError``'s first problem, for one-line errors."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) + ": " + first["msg"]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(
    status: int, *, provider: str, detail: str = "", headers: Mapping[str, str] | None = None
) -> HubError | None:
    """The one table from a provider's HTTP status to what happens next. ``None`` means success.

    429 and 5xx (and 408) retry, honouring ``Retry-After``; 401/403 are credential problems; any
    other 4xx is a request the provider will keep refusing.
    """
    if status < 400:
        return None
    headers = headers or {}
    text = f"{provider} answered {status}" + (f": {detail[:300]}" if detail else "")
    if status in (408, 425, 429) or status >= 500:
        retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
        return RetriableError(text, retry_after=retry_after)
    if status in (401, 403):
        return AuthenticationFailed(text)
    return FatalError(text)


# --------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """An object a connector reads or writes, with the fields mapping files may name.

    ``fields`` maps a field path (dots for nesting, as mapping files write it) to a short type
    word (string, number, bool, date, datetime, enum, id, object, list). ``version_field`` is the
    provider's modification stamp for that object.
    """

    name: str
    fields: Mapping[str, str]
    key_field: str = "id"
    version_field: str | None = None


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A webhook request as received: raw bytes, lower-cased headers, and the public URL."""

    method: str
    url: str  # the full public URL the provider called, query included
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Change:
    """One provider event, ready for the inbox.

    ``event_key`` is unique per connector for one delivery of one event (duplicates collapse on it);
    ``version_ms`` is the provider's modification version in epoch milliseconds (order guard).

    ``event_type`` is ``<object>.<action>`` (``deal.propertyChange``, ``contact.deletion``): the
    hub acts on the action after the last dot, whatever the provider calls it. Actions with a
    meaning in the hub: ``creation``, ``propertyChange``, ``deletion``, ``restore``,
    ``associationChange`` (the deal's parties are looked up again), ``merge`` (records merged
    into the one ``object_id`` names; the connector's ``merge_of(payload)`` says which ids went
    away, and the hub re-points its records to the survivor, ``hub.records.merge_deal``), and
    ``privacyDeletion`` (a person's data must go; ``object_type`` ``contact``, the payload
    carries ``email`` when the provider sends it; ``hub.privacy``).
    """

    event_key: str
    event_type: str
    object_type: str
    object_id: str
    version_ms: int | None
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Merge:
    """Records merged in the provider: ``from_ids`` went away into ``into_id`` (the survivor,
    which may be a new id). What a connector's ``merge_of(payload)`` returns for a ``*.merge``
    event."""

    from_ids: tuple[str, ...]
    into_id: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The exact answer a provider expects on success (e.g. a SOAP Ack). ``None`` body: the hub's
    default JSON summary."""

    status: int = 200
    body: bytes | None = None
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Discarded:
    """A delivery answered 2xx but deliberately not stored (mail from an unverified sender, where
    an error status would only make the provider retry for days). The receiver logs ``reason``
    with ``ref`` — a digest, never personal data — and counts it."""

    reason: str
    ref: str = ""


@dataclass(frozen=True, slots=True)
class Parsed:
    changes: tuple[Change, ...]
    reply: Reply = Reply()
    discarded: tuple[Discarded, ...] = ()


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where polling left off: provider-specific but opaque to the hub, stored as JSON."""

    value: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    """A provider object's current state, as read through the API."""

    object_type: str
    id: str
    properties: Mapping[str, Any]
    version_ms: int | None
    archived: bool = False
    #: the whole provider record as the mapping files address it (``properties.x``, ``id``…)
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    records: tuple[Record, ...]
    cursor: Cursor | None


@dataclass(frozen=True, slots=True)
class WriteResult:
    key: str
    id: str | None
    created: bool
    error: str | None = None


# --------------------------------------------------------------------------------------------
# The Protocol
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Connector(Protocol):
    """What every provider module implements. Non-record actions (``send_email``,
    ``create_transfer``, ``associate``, ``create_task``) are plain methods named for what they do,
    declared by the connectors that have them and called only from the outbox dispatcher.

    Optional, looked up with ``getattr`` (so not members of the Protocol): ``merge_of(payload)
    -> Merge | None`` for providers that report merges (which ids a ``*.merge`` event merged into
    which), ``use_redis(client)``, ``rate_budgets()``, ``api_ready``."""

    name: ClassVar[str]
    #: the objects (and their fields) this connector reads and writes, by the hub's object name
    objects: ClassVar[Mapping[str, ObjectSpec]]
    #: largest webhook body accepted, in bytes (413 past it)
    max_body_bytes: ClassVar[int]

    def webhook_ready(self) -> bool:
        """True when the settings needed to verify webhooks are present."""
        ...

    def verify_webhook(self, req: InboundRequest) -> None: ...

    def parse_webhook(self, req: InboundRequest) -> Parsed: ...

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The provider fields an inbox event says changed, with their new values, for echo
        suppression: ``{}`` for a creation, ``None`` when the event does not say."""
        ...

    @staticmethod
    def record_from_event(payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the provider record an inbox event's payload stands for, whether it is partial).
        A partial record (one changed property) is read whole through the API before mapping.
        Optional: without it the payload is the whole record."""
        ...

    @staticmethod
    def deleted_record(obj: str, object_id: str) -> dict[str, Any]:
        """The record, as the mapping files address it, of an object the API no longer returns
        (deleted since the event named it). Optional for connectors without API reads."""
        ...

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        """Poll: pages of records changed since ``cursor`` (``None``: from the beginning), each
        page with the cursor to resume *after* it. The hub stores each page's records in the
        inbox and saves that cursor in the same transaction, so a killed sync resumes there."""
        ...

    def read_many(self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
        """Current state of these objects; ``fields`` are the record paths the hub maps."""
        ...

    def upsert_many(
        self, obj: str, records: Sequence[Mapping[str, Any]], *, key: str
    ) -> list[WriteResult]: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# CRMs: what the partner flow asks of whichever CRM the company uses
# --------------------------------------------------------------------------------------------

CrmMatchKind = Literal["open_deal", "customer", "contact"]


@dataclass(frozen=True, slots=True)
class DealParties:
    """Who a CRM deal is with: its contacts' emails and its companies' domains (lower-cased)."""

    emails: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CrmMatch:
    """A CRM record a referral's contact email or company domain already belongs to.

    ``kind``: ``open_deal`` (a deal not closed), ``customer`` (a customer record or a won deal),
    ``contact`` (a known person with neither: not a conflict by itself). ``object_type`` is the
    hub's object name (``deal``, ``contact``, ``company``); ``matched_on`` says which of the two
    inputs led to it.
    """

    kind: CrmMatchKind
    object_type: str
    object_id: str
    name: str | None
    matched_on: Literal["email", "domain"]


@runtime_checkable
class CrmConnector(Connector, Protocol):
    """A connector the partner flow can use as the company's CRM.

    Outbox actions (``create_referral_deal``, ``update_deal``) are safe to run twice and return
    ``written``: ``{object_type: {object_id: {field: value}}}``, every value they wrote, for
    echo suppression, and ``created``: ``{object_type: [object_id, ...]}``.
    """

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        """Open deals, customers and known contacts the email or the domain belong to. ``None``
        skips that check (a free-mail domain is never passed)."""
        ...

    def create_referral_deal(
        self, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """``payload``: ``tracking_id``; ``contact`` (``email`` + the contact mapping's outbound
        output) or ``None``; ``company`` (``domain`` + the company mapping's outbound output) or
        ``None``; ``deal`` (the deal mapping's outbound output); ``owner_id`` or ``None``.
        Finds or creates the contact and company (an existing one is never overwritten),
        creates or completes the deal keyed on the tracking id, associates them, sets the owner.
        Returns ``deal_id``, ``contact_id``, ``company_id``, ``contact_created``, ``written``,
        ``created``."""
        ...

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """``payload``: ``deal_id`` or ``tracking_id``, plus the deal mapping's outbound output.
        Returns ``deal_id`` and ``written``."""
        ...

    def create_task(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """A to-do for a person in the CRM (a partner manager's outreach). ``payload``:
        ``subject``, ``body``, ``owner_id`` (a CRM user id, or ``None`` for the default owner),
        ``due_at`` (ISO 8601 or ``None``). Safe to run twice: the same ``idempotency_key`` never
        makes a second task. Returns ``task_id``, ``written`` and ``created``."""
        ...

    def deal_parties(self, deal_id: str) -> DealParties:
        """The emails of the deal's associated contacts and the domains of its companies (for
        attribution by referral match)."""
        ...

    def ensure_setup(self) -> list[str]:
        """Create or check the custom fields the partner flow needs; one line per item. Raises
        ``ConfigurationError`` for what it cannot fix."""
        ...

    def missing_setup(self) -> list[str]:
        """What ``ensure_setup`` would have to create or fix (empty: ready). Writes nothing."""
        ...


def epoch_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)
