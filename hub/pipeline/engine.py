"""The hub engine: turn one inbox event into record changes, in the caller's transaction.

For each provider event: find the mapping plan for (connector, object); drop it if it is the
hub's own write coming back (echo fingerprints); take the provider record — read whole through
the connector when it has API access (a HubSpot webhook names one property; events of one job
are read in one batched call), else the event's own part of it; apply the plan (filters, value
maps, transforms) to get the canonical change; then hand the change to the domain.

The engine reaches the domain only through the ``DomainHandlers`` table it is given (built by
``hub.program.handlers`` and wired by the runtime): ``routes`` take whole events before any
mapping (the hub's own events, a person's deletion, a payment connector's events); ``targets``
take a mapped change by its canonical target (``deal``: the record's version guard, sticky
attribution, the referral, the commission — their emails and CRM writes as outbox rows in this
transaction; ``contact``, ``company``: the CRM's parties, under the same guard); ``merges``
re-point the records of a ``*.merge`` event before the survivor is processed like any changed
record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session

from connectors.capabilities import DeletedRecords, MergesRecords, ReadsInBatches
from connectors.errors import SkippableRecord
from connectors.values import Record
from hub.mapping import Canonical, Plan, event_record
from hub.pipeline import echo
from hub.pipeline.context import PipelineContext
from hub.pipeline.models import InboxEvent

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Route:
    """Events the domain takes whole, before any mapping: ``handle`` runs when ``applies``."""

    applies: Callable[[InboxEvent], bool]
    handle: Callable[[Session, InboxEvent], str]


class ChangeHandler(Protocol):
    """Applies one mapped change (``version``: the provider's, for the version guard); returns
    the outcome recorded on the inbox row."""

    def __call__(self, session: Session, event: InboxEvent, change: Canonical, version: int) -> str: ...


class MergeHandler(Protocol):
    """Re-points the records of a ``*.merge`` event of ``source`` (``merge``: the connector's
    ``merge_of`` answer, with ``from_ids`` and ``into_id``)."""

    def __call__(self, session: Session, source: str, merge: Any) -> None: ...


@dataclass(frozen=True)
class DomainHandlers:
    """What the domain does with events: see the module docstring. Built above the pipeline.

    ``read_ahead``: the provider reads the domain will want for a chunk of events (the parties of
    deals the hub has not seen), made before the chunk's transaction opens, in the read-ahead
    thread, given the events and the records the engine read ahead for them (``Ahead.records``);
    what it returns is in ``session.info[READ_AHEAD]`` while the chunk is applied.

    ``prefetch``: the domain's set-based reads for a chunk of events (its deals, locked, and
    which of them have ledger entries), made in the chunk's transaction before its events run,
    with the chunk's ``read_ahead`` already in ``session.info[READ_AHEAD]``; what it returns
    joins it. What a handler takes from it must stay
    true after a savepoint rollback (an object the rolled-back savepoint created is no longer in
    the session; one it changed is expired and reloads), or be read again."""

    routes: Sequence[Route] = ()
    targets: Mapping[str, ChangeHandler] = field(default_factory=dict)
    merges: Mapping[str, MergeHandler] = field(default_factory=dict)
    read_ahead: Callable[[Sequence[InboxEvent], Mapping[tuple[str, str, str], Any]], Mapping[str, Any]] | None = None
    prefetch: Callable[[Session, Sequence[InboxEvent]], Mapping[str, Any]] | None = None


#: ``session.info`` key: what ``DomainHandlers.read_ahead`` returned for the chunk being applied
READ_AHEAD = "partnerhub.read_ahead"


@dataclass
class Ahead:
    """What a read-ahead found. ``records``, for each (connector, object, id): the record,
    ``None`` when the provider no longer has the object, or the exception its read raised
    (raised again by the event's own processing, so ``work.describe`` classifies it as if the
    event had read it itself). ``domain``: what ``DomainHandlers.read_ahead`` returned."""

    records: dict[tuple[str, str, str], Record | Exception | None] = field(default_factory=dict)
    domain: Mapping[str, Any] = field(default_factory=dict)


class HubEngine:
    def __init__(self, hub: PipelineContext, handlers: DomainHandlers):
        self.hub = hub
        self.handlers = handlers
        #: current state read ahead for a chunk of events (``read_ahead``, then ``use``)
        self._read_ahead = Ahead()
        #: live echo fingerprints of the chunk's objects (``prefetch``); None: query per event
        self._prints: dict[echo.ObjectKey, set[tuple[str, str]]] | None = None

    def read_ahead(self, events: Sequence[InboxEvent]) -> Ahead:
        """Read the current state of every object these events name, in one batched call per
        (connector, object) — HubSpot's webhooks carry one property each, so a burst of changes
        would otherwise cost a read per event. Network only, no database: it runs before the
        chunk's write transaction opens (in a thread, overlapping the previous chunk's work), so
        no provider call is ever made while the transaction holds locks. A failed read is kept
        as the exception of each object it covered."""
        wanted: dict[tuple[str, str], set[str]] = {}
        for event in events:
            connector = self.hub.connectors.get(event.connector)
            if not isinstance(connector, ReadsInBatches) or not connector.api_ready:
                continue
            if any(route.applies(event) for route in self.handlers.routes):
                continue
            record, partial = event_record(event.connector, event.payload)
            if not partial or record.get("archived"):
                continue
            wanted.setdefault((event.connector, event.object_type), set()).add(event.object_id)
        ahead = Ahead()
        for (name, object_type), ids in wanted.items():
            plan = self.hub.mappings.current.for_source(name, object_type)
            if plan is None:
                continue
            reader = self.hub.connectors[name]
            assert isinstance(reader, ReadsInBatches)  # only readers were gathered above
            try:
                records = reader.read_many(object_type, sorted(ids), fields=plan.source_paths)
            except Exception as exc:
                ahead.records.update({(name, object_type, id_): exc for id_ in ids})
                continue
            ahead.records.update({(name, object_type, id_): None for id_ in ids})  # absent: gone
            for record in records:
                ahead.records[(name, object_type, record.id)] = record
        if self.handlers.read_ahead is not None:
            try:
                ahead.domain = self.handlers.read_ahead(events, ahead.records)
            except Exception as exc:  # best effort: the handlers read what they lack themselves
                log.warning("domain read-ahead failed", error=f"{type(exc).__name__}: {exc}"[:500])
        return ahead

    def use(self, ahead: Ahead) -> None:
        """Process the next events against this read-ahead (objects it lacks are read one by
        one, as before; a chunk reads them all ahead)."""
        self._read_ahead = ahead

    def prefetch(self, session: Session, events: Sequence[InboxEvent]) -> None:
        """Read what a chunk's events will look up, one query each instead of one per event:
        the echo fingerprints of their objects; and hand the domain its read-ahead with its own
        set-based reads (``DomainHandlers.prefetch``). In the chunk's transaction."""
        domain = dict(self._read_ahead.domain)
        session.info[READ_AHEAD] = domain  # the domain's prefetch may build on its read-ahead
        if self.handlers.prefetch is not None:
            domain.update(self.handlers.prefetch(session, events))
        self._prints = echo.live_prints(session, {(e.connector, e.object_type, e.object_id) for e in events})

    def forget_prefetch(self) -> None:
        self._prints = None

    def process(self, session: Session, event: InboxEvent) -> str:
        """Apply one event; returns the outcome recorded on the inbox row."""
        for route in self.handlers.routes:
            if route.applies(event):
                return route.handle(session, event)
        plan = self.hub.mappings.current.for_source(event.connector, event.object_type)
        if plan is None:
            return "unmapped"
        connector = self.hub.connectors[event.connector]
        merge_records = self.handlers.merges.get(plan.target)
        if event_action(event.event_type) == "merge" and merge_records is not None:
            self._merge(session, event, merge_records)
        changed = connector.changed_fields(event.payload)
        if changed is not None and self._is_echo(session, event, changed):
            return "echo"
        record, partial, version = self._provider_record(event, plan)
        change = plan.inbound(record, partial=partial)
        if change is None:
            return "filtered"
        handler = self.handlers.targets.get(change.target)
        if handler is None:
            return "mapped"  # a target the domain keeps no records of
        return handler(session, event, change, change.version_ms or version)

    def _is_echo(self, session: Session, event: InboxEvent, changed: Mapping[str, Any]) -> bool:
        if self._prints is None:
            return echo.is_echo(session, event.connector, event.object_type, event.object_id, changed)
        return echo.matches(self._prints.get((event.connector, event.object_type, event.object_id), set()), changed)

    def _merge(self, session: Session, event: InboxEvent, merge_records: MergeHandler) -> None:
        """A ``*.merge`` event: the domain re-points its records of the merged-away objects to
        the survivor (for deals, ``hub.program.deals.merge``). The survivor itself is then
        processed like any changed record."""
        connector = self.hub.connectors[event.connector]
        merge = connector.merge_of(event.payload) if isinstance(connector, MergesRecords) else None
        if merge is None:
            return
        merge_records(session, event.connector, merge)

    def _provider_record(self, event: InboxEvent, plan: Plan) -> tuple[dict[str, Any], bool, int]:
        """(record, partial, version): the whole record through the API when the connector can
        read it, else what the event itself carries."""
        connector = self.hub.connectors[event.connector]
        fallback = event.version_ms or 0
        from_event, partial = event_record(event.connector, event.payload)
        if isinstance(connector, ReadsInBatches) and connector.api_ready and partial:
            if from_event.get("archived"):
                return from_event, True, fallback
            key = (event.connector, event.object_type, event.object_id)
            if key in self._read_ahead.records:
                ahead = self._read_ahead.records[key]  # kept: a chunk's later events of the object share it
                if isinstance(ahead, Exception):
                    raise ahead
                found = [] if ahead is None else [ahead]
            else:
                found = connector.read_many(event.object_type, [event.object_id], fields=plan.source_paths)
            if not found:  # gone from the provider since the event
                if not isinstance(connector, DeletedRecords):
                    raise SkippableRecord(
                        f"{event.connector} {event.object_type} {event.object_id} is gone "
                        "and the connector cannot say what a deletion looks like"
                    )
                return connector.deleted_record(event.object_type, event.object_id), True, fallback
            return dict(found[0].raw), False, found[0].version_ms or fallback
        return from_event, partial, fallback


def event_action(event_type: str) -> str:
    """The action of a ``<object>.<action>`` event type (``connectors.values.Change``)."""
    return event_type.rpartition(".")[2]
