"""The inbox: every provider event lands here, once, before anyone is told "received"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.base import Change
from hub.models import InboxEvent, WorkState, utcnow


@dataclass(frozen=True)
class Stored:
    new_ids: list[int]
    duplicates: int


def insert_ignoring_conflicts(session: Session, model: Any, rows: list[dict[str, Any]], keys: Sequence[str]) -> list[int]:
    """``INSERT … ON CONFLICT (keys) DO NOTHING RETURNING id``: the ids of the rows that were new."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    stmt = insert(model).values(rows).on_conflict_do_nothing(index_elements=list(keys))
    return sorted(session.scalars(stmt.returning(model.id)))


def store_changes(
    engine: Engine, connector: str, changes: Sequence[Change], *, requeue_after_s: float
) -> Stored:
    """Insert the changes and COMMIT. Repeats of an event key add nothing. Only after this
    returns may the request be acknowledged."""
    now = utcnow()
    look_again = now + timedelta(seconds=requeue_after_s)
    rows: dict[str, dict[str, Any]] = {}
    for change in changes:
        rows.setdefault(
            change.event_key,
            {
                "connector": connector,
                "event_key": change.event_key,
                "event_type": change.event_type[:64],
                "object_type": change.object_type[:64],
                "object_id": change.object_id[:128],
                "version_ms": change.version_ms,
                "payload": dict(change.payload),
                "received_at": now,
                "state": WorkState.RECEIVED,
                "attempts": 0,
                "next_attempt_at": look_again,
            },
        )
    with Session(engine) as session, session.begin():
        new_ids = insert_ignoring_conflicts(
            session, InboxEvent, list(rows.values()), ("connector", "event_key")
        )
    return Stored(new_ids=new_ids, duplicates=len(changes) - len(new_ids))
