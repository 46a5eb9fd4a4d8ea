"""The inbox: every provider event lands here, once, before anyone is told "received"."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.values import Change
from hub.mapping.shadow import StoredEvent
from hub.pipeline.models import InboxEvent, WorkState

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class Stored:
    new_ids: list[int]
    duplicates: int


def insert_ignoring_conflicts(
    session: Session, model: Any, rows: list[dict[str, Any]], keys: Sequence[str]
) -> list[int]:
    """``INSERT … ON CONFLICT (keys) DO NOTHING RETURNING id``: the ids of the rows that were new.

    One statement for the table and its keys, the rows as its parameters (one execution, or
    "insertmanyvalues" batches for several rows of the same columns), so SQLAlchemy compiles it
    once per column set; values inlined into the statement made every call compile anew."""
    if not rows:
        return []
    insert: Any = _INSERTS[session.get_bind().dialect.name]
    table = model.__table__
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(keys)).returning(table.c.id)
    columns = set(rows[0])
    if any(set(row) != columns for row in rows):  # rows of different columns: one statement each
        return sorted(i for row in rows for i in session.execute(stmt, row).scalars())
    return sorted(session.execute(stmt, rows[0] if len(rows) == 1 else rows).scalars())


def insert_many_ignoring_conflicts(
    session: Session, model: Any, rows: list[dict[str, Any]], keys: Sequence[str]
) -> int:
    """Many rows, ``ON CONFLICT (keys) DO NOTHING``, as one statement compiled once and run over
    every row (executemany, in the session's transaction): for thousands of rows where the new
    ids are not needed. Returns how many rows were inserted (as the driver counts them; ``len(rows)``
    when it does not)."""
    if not rows:
        return 0
    insert: Any = _INSERTS[session.get_bind().dialect.name]
    stmt = insert(model.__table__).on_conflict_do_nothing(index_elements=list(keys))
    result = session.connection().execute(stmt, rows)
    return result.rowcount if result.rowcount >= 0 else len(rows)


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


#: the columns the webhook path writes, in the order the statements below bind them
_COLUMNS = (
    "connector",
    "event_key",
    "event_type",
    "object_type",
    "object_id",
    "version_ms",
    "payload",
    "received_at",
    "state",
    "attempts",
    "next_attempt_at",
)
_RETURNING = " ON CONFLICT (connector, event_key) DO NOTHING RETURNING id, connector, event_key"
#: rows per SQLite statement (11 bound values each; SQLite allows 32,766)
_SQLITE_ROWS = 2000
# PostgreSQL: one statement for any number of rows, each column bound as one array
_PG_INSERT = (
    f"INSERT INTO inbox_events ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
    "%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[], "
    "%s::json[], %s::timestamptz[], %s::varchar[], %s::int[], %s::timestamptz[])" + _RETURNING
)


def _sqlite_time(value: datetime) -> str:
    # the text SQLAlchemy's SQLite DATETIME stores (naive UTC, see models.UTCDateTime)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert in the caller's transaction, skipping (connector, event_key) already stored; returns
    {(connector, event_key): id} of the new rows.

    This is the webhook hot path, so it binds plain values to one hand-written statement per
    dialect instead of letting the ORM process each row (3-4x less CPU per event, measured in
    ``bench/``). ``tests/test_webhook_path.py`` reads the rows back through the ORM on both."""
    if not rows:
        return {}
    found: dict[tuple[str, str], int] = {}
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "postgresql":
            columns = [[row[c] for row in rows] for c in _COLUMNS]
            columns[6] = [json.dumps(p, separators=(",", ":")) for p in columns[6]]
            cursor.execute(_PG_INSERT, tuple(columns))
            found.update({(connector, key): id_ for id_, connector, key in cursor.fetchall()})
            return found
        times: dict[datetime, str] = {}  # a batch shares its two timestamps: format them once
        for start in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[start : start + _SQLITE_ROWS]
            params: list[Any] = []
            for row in chunk:
                received, look = row["received_at"], row["next_attempt_at"]
                if received not in times:
                    times[received] = _sqlite_time(received)
                if look not in times:
                    times[look] = _sqlite_time(look)
                params.extend(
                    (
                        row["connector"],
                        row["event_key"],
                        row["event_type"],
                        row["object_type"],
                        row["object_id"],
                        row["version_ms"],
                        json.dumps(row["payload"], separators=(",", ":")),
                        times[received],
                        row["state"],
                        row["attempts"],
                        times[look],
                    )
                )
            values = ",".join(["(?,?,?,?,?,?,?,?,?,?,?)"] * len(chunk))
            cursor.execute(f"INSERT INTO inbox_events ({', '.join(_COLUMNS)}) VALUES {values}{_RETURNING}", params)
            found.update({(connector, key): id_ for id_, connector, key in cursor.fetchall()})
        return found
    finally:
        cursor.close()


def recent_events(engine: Engine, connector: str, obj: str, since: datetime, limit: int = 10_000) -> list[StoredEvent]:
    """The stored events of one (connector, object) received since ``since``, oldest first, for a
    shadow run of an edited mapping (``hub.mapping.shadow``)."""
    query = (
        select(InboxEvent)
        .where(
            InboxEvent.connector == connector,
            InboxEvent.object_type == obj,
            InboxEvent.received_at >= since,
        )
        .order_by(InboxEvent.id)
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            StoredEvent(
                id=row.id,
                connector=row.connector,
                object_type=row.object_type,
                object_id=row.object_id,
                payload=row.payload,
                received_at=row.received_at,
            )
            for row in session.scalars(query)
        ]
