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

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.capabilities import DeletedRecords, MergesRecords, ReadsInBatches
from connectors.errors import SkippableRecord
from connectors.values import Record
from hub.mapping import Canonical, Plan, event_record
from hub.pipeline import echo
from hub.pipeline.context import PipelineContext
from hub.pipeline.models import InboxEvent, WorkState


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
    """What the domain does with events: see the module docstring. Built above the pipeline."""

    routes: Sequence[Route] = ()
    targets: Mapping[str, ChangeHandler] = field(default_factory=dict)
    merges: Mapping[str, MergeHandler] = field(default_factory=dict)


class HubEngine:
    def __init__(self, hub: PipelineContext, handlers: DomainHandlers):
        self.hub = hub
        self.handlers = handlers
        #: current state read ahead for a batch of events: (connector, object, id) -> record
        self._read_ahead: dict[tuple[str, str, str], Record] = {}

    def read_ahead(self, session: Session, event_ids: list[int]) -> int:
        """Read the current state of every object these events name in one batched call per
        (connector, object) — HubSpot's webhooks carry one property each, so a burst of changes
        would otherwise cost a read per event. Best effort: on any failure each event reads its
        own object and its failure is classified there. Events already done (a job enqueued twice,
        by the receiver and by the reconciler) are not read again. Returns the number of records
        read."""
        wanted: dict[tuple[str, str], set[str]] = {}
        for event in session.scalars(
            select(InboxEvent).where(InboxEvent.id.in_(event_ids), InboxEvent.state != WorkState.DONE)
        ):
            connector = self.hub.connectors.get(event.connector)
            if not isinstance(connector, ReadsInBatches) or not connector.api_ready:
                continue
            record, partial = event_record(event.connector, event.payload)
            if not partial or record.get("archived"):
                continue
            wanted.setdefault((event.connector, event.object_type), set()).add(event.object_id)
        count = 0
        for (name, object_type), ids in wanted.items():
            plan = self.hub.mappings.current.for_source(name, object_type)
            if plan is None or len(ids) < 2:
                continue
            try:
                reader = self.hub.connectors[name]
                assert isinstance(reader, ReadsInBatches)  # only readers were gathered above
                records = reader.read_many(object_type, sorted(ids), fields=plan.source_paths)
            except Exception:
                continue
            for record in records:
                self._read_ahead[(name, object_type, record.id)] = record
                count += 1
        return count

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
        if changed is not None and echo.is_echo(session, event.connector, event.object_type, event.object_id, changed):
            return "echo"
        record, partial, version = self._provider_record(event, plan)
        change = plan.inbound(record, partial=partial)
        if change is None:
            return "filtered"
        handler = self.handlers.targets.get(change.target)
        if handler is None:
            return "mapped"  # a target the domain keeps no records of
        return handler(session, event, change, change.version_ms or version)

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
            ahead = self._read_ahead.pop((event.connector, event.object_type, event.object_id), None)
            found = (
                [ahead]
                if ahead is not None
                else connector.read_many(event.object_type, [event.object_id], fields=plan.source_paths)
            )
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
