"""The events as an operator browses them: inbox events (what providers told us) and outbox items
(what we owe them; the console shows the dead and unknown ones by default), filtered by connector,
state, time and object id, one page at a time; one row's detail with its payload masked; and
throughput and failures per connector over time (the console's chart).

Masking: a payload can carry secrets (a provider's token echoed back) and sign-in links; every
value under a key that names a secret, and every URL carrying a token in its query, shows as
``•••`` — the console never shows them, to admins or viewers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hub.pipeline.models import InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import utc_prefix

PAGE = 50
Table = Literal["inbox", "outbox"]
MASK = "•••"
#: keys whose values are never shown (matched anywhere in the key, case-insensitively)
_SECRET_KEY = re.compile(
    r"secret|token|password|passwd|api[_-]?key|authorization|signature|cookie|session|credential|"
    r"private|magic|login[_-]?link|sign[_-]?in[_-]?(link|url)|otp|\bcode\b",
    re.IGNORECASE,
)
#: a URL whose query carries a token-like parameter (a sign-in link inside a mail body)
_TOKEN_URL = re.compile(r"https?://[^\s\"'<>]*[?&#](token|t|code|key|sig|signature)=[^\s\"'<>]+", re.IGNORECASE)
#: a path of the sign-in page with its token (``/signin/<token>``, however the link is built)
_SIGNIN_PATH = re.compile(r"(/(?:signin|sign-in|login|magic)[/=])[A-Za-z0-9_\-\.~%]{8,}", re.IGNORECASE)


def mask(value: Any, key: str = "") -> Any:
    """``value`` (a decoded JSON payload) with secrets and sign-in tokens replaced by ``•••``."""
    if key and _SECRET_KEY.search(key):
        return MASK if value not in (None, "", [], {}) else value
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return _SIGNIN_PATH.sub(lambda m: m.group(1) + MASK, _TOKEN_URL.sub(MASK, value))
    return value


@dataclass(frozen=True)
class EventFilter:
    table: Table = "inbox"
    connector: str = ""
    state: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _model(table: Table) -> type[InboxEvent] | type[OutboxItem]:
    return OutboxItem if table == "outbox" else InboxEvent


def browse(session: Session, f: EventFilter, *, page: int = 1, per_page: int = PAGE) -> tuple[list[Any], bool]:
    """One page of rows matching ``f``, newest first, and whether there is a next page. Outbox
    rows default to the ones a person looks at (dead and unknown); the payload is not loaded."""
    model = _model(f.table)
    stamp = OutboxItem.created_at if f.table == "outbox" else InboxEvent.received_at
    query = select(model)
    if f.connector:
        query = query.where(model.connector == f.connector)
    if f.state:
        query = query.where(model.state == f.state)
    elif f.table == "outbox":
        query = query.where(model.state.in_((WorkState.DEAD, WorkState.UNKNOWN)))
    if f.object_id:
        if f.table == "outbox":
            query = query.where(OutboxItem.natural_key.contains(f.object_id, autoescape=True))
        else:
            query = query.where(InboxEvent.object_id == f.object_id)
    if f.since:
        query = query.where(stamp >= f.since)
    if f.until:
        query = query.where(stamp <= f.until)
    from sqlalchemy.orm import defer

    found = list(
        session.scalars(
            query.options(defer(model.payload), defer(model.last_traceback))
            .order_by(model.id.desc())
            .offset(max(page - 1, 0) * per_page)
            .limit(per_page + 1)
        )
    )
    return found[:per_page], len(found) > per_page


def connectors(session: Session) -> list[str]:
    """The connectors that have inbox or outbox rows (the filter's choices)."""
    names = set(session.scalars(select(InboxEvent.connector).distinct()))
    names |= set(session.scalars(select(OutboxItem.connector).distinct()))
    return sorted(names)


def detail(session: Session, table: Table, row_id: int) -> dict[str, Any] | None:
    """One row with its masked payload, attempts, error class and message, and its traceback
    (dead letters keep one); None when there is no such row."""
    row: InboxEvent | OutboxItem | None = (
        session.get(OutboxItem, row_id) if table == "outbox" else session.get(InboxEvent, row_id)
    )
    if row is None:
        return None
    out: dict[str, Any] = {
        "table": table,
        "id": row.id,
        "connector": row.connector,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "finished_at": row.finished_at,
        "error_kind": row.last_error_kind,
        "error": mask(row.last_error) if row.last_error else None,
        "traceback": mask(row.last_traceback) if row.last_traceback else None,
        "payload": mask(row.payload),
    }
    if isinstance(row, InboxEvent):
        out |= {
            "what": f"{row.event_type} {row.object_type} {row.object_id}",
            "event_key": row.event_key,
            "object_id": row.object_id,
            "at": row.received_at,
            "outcome": row.outcome,
            "result": None,
        }
    else:
        out |= {
            "what": row.action,
            "event_key": row.natural_key,
            "object_id": row.natural_key,
            "at": row.created_at,
            "outcome": None,
            "result": mask(row.result) if row.result else None,
        }
    return out


def throughput(session: Session, *, until: datetime, days: int = 14) -> dict[str, list[dict[str, Any]]]:
    """Per connector, per UTC day of the last ``days`` up to ``until``: inbox events received and
    how many of them are dead. One grouped query (by connector and day)."""
    start = (until - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    labels = [(start + timedelta(days=n)).date().isoformat() for n in range(days)]
    day = utc_prefix(InboxEvent.received_at, 10)
    found: dict[str, dict[str, tuple[int, int]]] = {}
    for connector, on, events, failed in session.execute(
        select(
            InboxEvent.connector,
            day,
            func.count(),
            func.sum(case((InboxEvent.state == WorkState.DEAD, 1), else_=0)),
        )
        .where(InboxEvent.received_at >= start, InboxEvent.received_at <= until)
        .group_by(InboxEvent.connector, day)
    ):
        found.setdefault(connector, {})[on] = (int(events), int(failed or 0))
    return {
        connector: [
            {"day": label, "events": per.get(label, (0, 0))[0], "failed": per.get(label, (0, 0))[1]} for label in labels
        ]
        for connector, per in sorted(found.items())
    }
