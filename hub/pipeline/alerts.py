"""Alerts: things a person should look at (dead letters, connector problems, unknown values).

One open row per key; a repeat bumps its count and message. ``partnerhub status`` lists them;
delivery to the admin by email comes with the outbox's email action.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.pipeline.models import Alert
from hub.pipeline.store import rowcount, utcnow


def raise_alert(session: Session, *, key: str, kind: str, message: str, severity: str = "error") -> Alert:
    """Open an alert, or bump the open one with the same key. Runs in the caller's transaction."""
    now = utcnow()
    existing = session.scalars(
        select(Alert).where(Alert.key == key, Alert.state == "open").limit(1).with_for_update()
    ).first()
    if existing is not None:
        existing.count += 1
        existing.message = message[:4000]
        existing.last_seen_at = now
        return existing
    alert = Alert(
        key=key,
        kind=kind,
        severity=severity,
        message=message[:4000],
        count=1,
        state="open",
        first_seen_at=now,
        last_seen_at=now,
    )
    session.add(alert)
    return alert


def resolve_alert(session: Session, key: str) -> int:
    result = session.execute(
        update(Alert).where(Alert.key == key, Alert.state == "open").values(state="resolved", resolved_at=utcnow())
    )
    return rowcount(result)


def open_alerts(session: Session, limit: int = 50) -> list[Alert]:
    return list(
        session.scalars(select(Alert).where(Alert.state == "open").order_by(Alert.last_seen_at.desc()).limit(limit))
    )
