"""Provider events through the hub in the test process: a webhook body parsed by the CRM
connector (its real parser), stored in the inbox as the receiver stores it, and each event
applied by the engine with the domain's handlers (``hub.program.handlers``), one transaction per
event as a worker does. For tests of record logic that need no web or worker process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.values import Change, InboundRequest
from hub.pipeline.engine import HubEngine
from hub.pipeline.inbox import event_rows, insert_events
from hub.pipeline.models import InboxEvent
from hub.pipeline.store import transaction, utcnow
from hub.program.handlers import inbox_handlers


def store(hub: Any, connector: str, changes: tuple[Change, ...]) -> list[int]:
    """Insert ``changes`` into the inbox (duplicates collapse); the new rows' ids, in order."""
    now = utcnow()
    rows = event_rows(connector, changes, now=now, look_again=now + timedelta(seconds=600))
    with hub.engine.begin() as conn:
        new = insert_events(conn, rows)
    return [new[(connector, row["event_key"])] for row in rows if (connector, row["event_key"]) in new]


def receive(hub: Any, connector: str, body: bytes, *, url: str, headers: dict[str, str] | None = None) -> list[int]:
    """A webhook delivery: parsed by the connector, stored in the inbox."""
    request = InboundRequest("POST", url, {k.lower(): v for k, v in (headers or {}).items()}, body)
    return store(hub, connector, hub.connectors[connector].parse_webhook(request).changes)


def apply(hub: Any, event_ids: list[int]) -> list[str]:
    """Each event applied by the engine in its own transaction; their outcomes."""
    engine = HubEngine(hub, inbox_handlers(hub))
    outcomes = []
    for event_id in event_ids:
        with transaction(hub.sessions) as session:
            event = session.get(InboxEvent, event_id)
            assert event is not None
            outcomes.append(engine.process(session, event))
    return outcomes
