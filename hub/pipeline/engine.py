"""The hub engine: turn one inbox event into record changes, in the caller's transaction.

For each provider event: find the mapping plan for (connector, object); drop it if it is the
hub's own write coming back (echo fingerprints); take the provider record — read whole through
the connector when it has API access (a HubSpot webhook names one property; events of one job
are read in one batched call), else the event's own part of it; apply the plan (filters, value
maps, transforms) to get the canonical change; drop fields older than what the record holds
(version guard, per field, since events arrive out of order); write the record; then the
partner side (``hub.referrals.on_deal_changed``): sticky attribution, the referral's status and
its email, the commission — their emails and CRM writes as outbox rows in this transaction.
A ``*.merge`` event first re-points the hub's records of the merged-away deals to the survivor
(``hub.records.merge_deal``). The hub's own events go to ``hub.referrals.process_submitted`` (a
submitted referral) and ``hub.registrations.process`` (a deal registration); a CRM's
``contact.deletion``/``contact.privacyDeletion`` to ``hub.privacy.forget``; a payment connector's
events (Stripe) to ``hub.payments``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.capabilities import DeletedRecords, MergesRecords, ReadsInBatches
from connectors.errors import SkippableRecord
from connectors.values import Record
from hub.mapping import Canonical, Plan, event_record
from hub.pipeline import echo
from hub.pipeline.models import InboxEvent, WorkState
from hub.pipeline.store import utcnow
from hub.program import commissions, payments, privacy, referrals, registrations
from hub.program import merges as records
from hub.program.email import events as email_events
from hub.program.email import inbound as inbound_mail
from hub.program.models import Deal, Partner
from hub.runtime.context import Hub


class HubEngine:
    def __init__(self, hub: Hub):
        self.hub = hub
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
            except Exception:  # noqa: BLE001 - each event will read (and classify) on its own
                continue
            for record in records:
                self._read_ahead[(name, object_type, record.id)] = record
                count += 1
        return count

    def process(self, session: Session, event: InboxEvent) -> str:
        """Apply one event; returns the outcome recorded on the inbox row."""
        if event.connector == referrals.INTERNAL:
            if event.event_type == registrations.EVENT_TYPE:
                return registrations.process(session, self.hub, int(event.object_id))
            return referrals.process_submitted(session, self.hub, int(event.object_id))
        if privacy.is_person_deletion(event.object_type, event.event_type):
            report = privacy.forget(
                session, email=privacy.email_in(event.payload), actor=f"{event.connector}:{event.event_type}",
                crm=event.connector, contact_id=event.object_id, reason=event.event_type,
            )
            return f"forgotten:{report.total}"
        if payments.is_payment_connector(self.hub.connectors.get(event.connector)):
            return payments.process(session, self.hub, event)  # customers, revenue facts, accounts
        plan = self.hub.mappings.current.for_source(event.connector, event.object_type)
        if plan is None:
            return "unmapped"
        connector = self.hub.connectors[event.connector]
        if _action(event.event_type) == "merge" and plan.target == "deal":
            self._merge_deals(session, event)
        changed = connector.changed_fields(event.payload)
        if changed is not None and echo.is_echo(session, event.connector, event.object_type, event.object_id, changed):
            return "echo"
        record, partial, version = self._provider_record(event, plan)
        change = plan.inbound(record, partial=partial)
        if change is None:
            return "filtered"
        if change.target == "notification_event":
            return email_events.apply(session, change)
        if change.target == "inbound_email":
            return inbound_mail.apply(session, self.hub, change)
        if change.target != "deal":
            return "mapped"  # contact and company records arrive with the CRM connectors work
        outcome, deal, applied, first_seen = _apply_deal(session, event.connector, change, change.version_ms or version)
        if deal is not None and outcome != "stale":
            happened = referrals.on_deal_changed(
                session, self.hub, deal, applied,
                look_up_parties=first_seen or _action(event.event_type) == "associationChange",
            )
            if happened:
                outcome = f"{outcome}:{','.join(happened)}"[:64]
        return outcome

    def _merge_deals(self, session: Session, event: InboxEvent) -> None:
        """A ``*.merge`` event: the hub's records of the merged-away deals point to the survivor
        (``hub.records.merge_deal``); a merged-away record that keeps a commission of its own is
        settled as deleted, so nothing is counted twice. The survivor itself is then processed
        like any changed deal."""
        connector = self.hub.connectors[event.connector]
        merge = connector.merge_of(event.payload) if isinstance(connector, MergesRecords) else None
        if merge is None:
            return
        merged = records.merge_deal(session, event.connector, merge.from_ids, merge.into_id)
        for deal in merged.retired:
            partner = session.get(Partner, deal.partner_id) if deal.partner_id else None
            commissions.settle_deal(session, self.hub.program, deal, partner)

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
            found = [ahead] if ahead is not None else connector.read_many(
                event.object_type, [event.object_id], fields=plan.source_paths)
            if not found:  # gone from the provider since the event
                if not isinstance(connector, DeletedRecords):
                    raise SkippableRecord(f"{event.connector} {event.object_type} {event.object_id} is gone "
                                          "and the connector cannot say what a deletion looks like")
                return connector.deleted_record(event.object_type, event.object_id), True, fallback
            return dict(found[0].raw), False, found[0].version_ms or fallback
        return from_event, partial, fallback


def _action(event_type: str) -> str:
    """The action of a ``<object>.<action>`` event type (``connectors.values.Change``)."""
    return event_type.rpartition(".")[2]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _apply_deal(
    session: Session, source: str, change: Canonical, version: int
) -> tuple[str, Deal | None, dict[str, Any], bool]:
    """(outcome, deal, the fields applied, whether the hub saw this deal for the first time)."""
    deal = session.scalars(
        select(Deal).where(Deal.source == source, Deal.external_id == change.key).with_for_update()
    ).first()
    now = utcnow()
    first_seen = deal is None
    if deal is None:
        deal = Deal(source=source, external_id=change.key, properties={}, property_versions={},
                    version_ms=0, deleted=False, created_at=now, updated_at=now)
        session.add(deal)
    fields = dict(deal.properties or {})
    versions = dict(deal.property_versions or {})
    applied = {}
    for name, value in change.fields.items():
        if version > versions.get(name, -1):
            applied[name] = value
            fields[name] = json.loads(json.dumps(value, default=_jsonable))
            versions[name] = version
    if not applied and change.fields:
        return "stale", deal, {}, first_seen
    deal.properties = fields
    deal.property_versions = versions
    deal.version_ms = max(deal.version_ms, version)
    deal.updated_at = now
    for column, name in (("name", "name"), ("stage", "stage"), ("pipeline", "pipeline"),
                         ("amount_minor", "amount"), ("currency", "currency"), ("status", "status"),
                         ("tracking_id", "tracking_id")):
        if name in applied:
            setattr(deal, column, applied[name])
    if "deleted" in applied:
        deal.deleted = bool(applied["deleted"])
        if deal.deleted:
            return "deleted", deal, applied, first_seen
    session.flush()
    return "applied", deal, applied, first_seen
