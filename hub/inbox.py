"""The inbox: every provider event lands here, once, before anyone is told "received"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.base import Change
from hub.models import InboxEvent, WorkState

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class Stored:
    new_ids: list[int]
    duplicates: int


@cache
def _insert_new_events(dialect: str) -> Any:
    """Built once per dialect so SQLAlchemy caches its compiled form (the hot path)."""
    return (
        _INSERTS[dialect](InboxEvent)
        .on_conflict_do_nothing(index_elements=["connector", "event_key"])
        .returning(InboxEvent.id, InboxEvent.event_key)
    )


def insert_ignoring_conflicts(
    session: Session, model: Any, rows: list[dict[str, Any]], keys: Sequence[str]
) -> list[int]:
    """``INSERT … ON CONFLICT (keys) DO NOTHING RETURNING id``: the ids of the rows that were new."""
    if not rows:
        return []
    insert = _INSERTS[session.get_bind().dialect.name]
    stmt = insert(model).values(rows).on_conflict_do_nothing(index_elements=list(keys))
    return sorted(session.scalars(stmt.returning(model.id)))


def event_rows(
    connector: str, changes: Sequence[Change], *, now: datetime, look_again: datetime
) -> list[dict[str, Any]]:
    """Inbox rows for one request's changes (a key repeated inside the request counts once)."""
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
    return list(rows.values())


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert in the caller's transaction; returns {(connector, event_key): id} of the new rows."""
    if not rows:
        return {}
    stmt = _insert_new_events(conn.dialect.name)
    connectors = list(dict.fromkeys(row["connector"] for row in rows))
    found: dict[tuple[str, str], int] = {}
    for name in connectors:  # event keys are unique per connector: one statement each
        part = rows if len(connectors) == 1 else [row for row in rows if row["connector"] == name]
        found.update({(name, key): id_ for id_, key in conn.execute(stmt, part)})
    return found
