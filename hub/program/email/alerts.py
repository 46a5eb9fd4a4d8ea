"""Open alerts e-mailed to the admin (``PARTNERHUB_ADMIN_EMAIL``), once per alert row."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from hub.pipeline.models import Alert
from hub.pipeline.store import utcnow
from hub.pipeline.unit_of_work import unit_of_work
from hub.program.email.notify import (
    ADMIN_ALERT,
    notify,
)
from hub.program.email.templates import (
    templates_for,
)

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

log = structlog.get_logger(__name__)


def alert_key(alert_id: int) -> str:
    """One email per alert row: a repeat of an open alert only bumps its count (emailing each
    count would loop when the alert is about mail itself); a resolved and re-raised alert is a
    new row and is emailed again."""
    return f"admin-alert:{alert_id}"


def deliver_alerts(hub: ProgramContext, *, limit: int = 100) -> int:
    """Email the admin each open alert not delivered yet, once, and set its ``delivered_at`` in
    the same transaction. Returns how many were owed; the outbox ids are enqueued after commit.
    Does nothing (returns 0) when ``PARTNERHUB_ADMIN_EMAIL`` is unset."""
    admin = hub.settings.admin_email
    if not admin:
        return 0
    templates = templates_for(hub.settings.templates_dir)
    with unit_of_work(hub) as session:  # the emails are enqueued after commit
        alerts = list(
            session.scalars(
                select(Alert)
                .where(Alert.state == "open", Alert.delivered_at.is_(None))
                .order_by(Alert.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for alert in alerts:
            notify(
                session,
                mail_settings=hub.settings.sendgrid,
                kind=ADMIN_ALERT,
                to_email=admin,
                natural_key=alert_key(alert.id),
                context={
                    "alert_kind": alert.kind,
                    "alert_key": alert.key,
                    "severity": alert.severity,
                    "message": alert.message,
                    "count": alert.count,
                    "first_seen_at": alert.first_seen_at.isoformat(timespec="seconds"),
                    "last_seen_at": alert.last_seen_at.isoformat(timespec="seconds"),
                },
                custom_args={"alert_id": alert.id},
                templates=templates,
            )
            alert.delivered_at = utcnow()
    return len(alerts)
