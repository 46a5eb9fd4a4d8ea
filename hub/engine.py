"""The hub engine: turn one inbox event into record changes, in the caller's transaction.

Steps for a CRM object event: read the object's current state through the connector when it has
API access (webhooks carry at most one property), else take the event's own value; drop it when
it is older than what we hold (version guard, per property, since events arrive out of order);
upsert the record. Later steps (mapping files, echo suppression, attribution, outbox effects)
hang on this same path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Record
from hub.context import Hub
from hub.models import Deal, InboxEvent, utcnow

#: object types the engine keeps records for (the rest are stored in the inbox and marked done)
RECORDED_OBJECTS = ("deal",)


@dataclass(frozen=True)
class SourceState:
    """What the provider says the object looks like now, with the version it is at."""

    properties: dict[str, Any]
    version_ms: int
    deleted: bool = False


class HubEngine:
    def __init__(self, hub: Hub):
        self.hub = hub

    def process(self, session: Session, event: InboxEvent) -> str:
        """Apply one event; returns the outcome recorded on the inbox row."""
        if event.object_type not in RECORDED_OBJECTS:
            return "ignored"
        state = self._source_state(event)
        return self._apply_deal(session, event, state)

    def _source_state(self, event: InboxEvent) -> SourceState:
        connector = self.hub.connectors[event.connector]
        payload = event.payload
        deleted = event.event_type in ("deletion", "privacyDeletion")
        if not deleted and getattr(connector, "api_ready", False):
            records = connector.read_many(event.object_type, [event.object_id])
            if records:
                return _from_record(records[0], fallback_version=event.version_ms or 0)
            deleted = True  # read found nothing: the object is gone
        props: dict[str, Any] = {}
        if payload.get("propertyName"):
            props[str(payload["propertyName"])] = payload.get("propertyValue")
        return SourceState(properties=props, version_ms=event.version_ms or 0, deleted=deleted)

    def _apply_deal(self, session: Session, event: InboxEvent, state: SourceState) -> str:
        deal = session.scalars(
            select(Deal)
            .where(Deal.source == event.connector, Deal.external_id == event.object_id)
            .with_for_update()
        ).first()
        now = utcnow()
        if deal is None:
            deal = Deal(
                source=event.connector,
                external_id=event.object_id,
                properties={},
                property_versions={},
                version_ms=0,
                deleted=False,
                created_at=now,
                updated_at=now,
            )
            session.add(deal)
        if state.deleted:
            if state.version_ms < deal.version_ms:
                return "stale"
            deal.deleted = True
            deal.version_ms = state.version_ms
            deal.updated_at = now
            return "deleted"
        properties = dict(deal.properties or {})
        versions = dict(deal.property_versions or {})
        applied = 0
        for name, value in state.properties.items():
            if state.version_ms > versions.get(name, -1):
                properties[name] = value
                versions[name] = state.version_ms
                applied += 1
        if not applied and state.properties:
            return "stale"
        deal.properties = properties
        deal.property_versions = versions
        deal.version_ms = max(deal.version_ms, state.version_ms)
        deal.updated_at = now
        return "applied"


def _from_record(record: Record, *, fallback_version: int) -> SourceState:
    return SourceState(
        properties=dict(record.properties),
        version_ms=record.version_ms or fallback_version,
        deleted=record.archived,
    )
