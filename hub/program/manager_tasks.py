"""A task for a partner's manager, created in the CRM through the outbox: what onboarding's
escalation, re-engagement's flag and the health score's at-risk alert each owe. One task per
``(kind, ref)``: its natural key ``crm:task:<kind>:<ref>`` makes a second call owe nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from hub.pipeline.outbox import owe
from hub.program.models import Partner

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

#: when the task is due, after it is created
DUE_AFTER = timedelta(days=3)


def owe_manager_task(
    session: Session,
    hub: ProgramContext,
    partner: Partner,
    *,
    kind: str,
    ref: int,
    subject: str,
    body: str,
    owner_id: str | None,
    now: datetime,
) -> int | None:
    """Owe the CRM task (in the caller's transaction); ``body`` ends with the partner manager's
    name. The outbox row's id, or ``None`` when this task was owed before."""
    return owe(
        session,
        natural_key=f"crm:task:{kind}:{ref}",
        connector=hub.crm.name,
        action="create_task",
        idempotency_key=f"{kind}-task-{ref}",
        payload={
            "subject": subject,
            "body": f"{body} Partner manager: {partner.partner_manager or 'unassigned'}.",
            "owner_id": owner_id,
            "due_at": (now + DUE_AFTER).isoformat(),
        },
    )
