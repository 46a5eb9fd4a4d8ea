"""The value types that cross the connector seam: what a webhook request is, the changes it
holds, the records, pages and cursors of polling and reads, write results, and what a CRM
answers about a deal's parties and conflicts. Frozen dataclasses; no behaviour beyond a
``Change`` refusing values the inbox cannot store."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from connectors.bounds import MAX_EVENT_KEY, int64, stored_text
from connectors.errors import MalformedPayload


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

    def __post_init__(self) -> None:
        """A change the inbox could not store is refused here, for every connector at once
        (``connectors.bounds``: ``MalformedPayload``, a 400 for that request alone)."""
        stored_text(self.event_key, "the event key", max_length=MAX_EVENT_KEY)
        if not self.event_key:
            raise MalformedPayload("the event key is empty")
        stored_text(self.event_type, "the event type")
        stored_text(self.object_type, "the object type")
        stored_text(self.object_id, "the object id")
        if self.version_ms is not None:
            int64(self.version_ms, "the event's version (timestamp)")


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
    #: the fields written, named as the provider's change events name them (for echo
    #: suppression: HubSpot property names, Salesforce API names, Pipedrive's
    #: ``custom_fields.<key>``); empty when the write failed
    written: Mapping[str, Any] = field(default_factory=dict)


CrmMatchKind = Literal["open_deal", "customer", "contact"]


@dataclass(frozen=True, slots=True)
class DealParties:
    """Who a CRM deal is with: its contacts' emails and its companies' domains (lower-cased), and
    the provider ids of those contacts and companies (``None``: the connector did not say)."""

    emails: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    contact_ids: tuple[str, ...] | None = None
    company_ids: tuple[str, ...] | None = None


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


def epoch_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
