"""A partner's e-mail choices: the unsubscribe groups it left (recorded from SendGrid's
``group_unsubscribe`` events by ``hub.program.email.events``), asked before every mail
(``hub.program.email.notify``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.program.models import EmailPreference

#: the group id recorded for an unsubscribe from every group
GLOBAL_GROUP = 0


def opted_out(session: Session, partner_id: int, group: int | None) -> bool:
    """Whether the partner opted out of this unsubscribe group (or of every group)."""
    groups = [GLOBAL_GROUP] + ([group] if group is not None else [])
    return (
        session.scalars(
            select(EmailPreference.id).where(
                EmailPreference.partner_id == partner_id,
                EmailPreference.asm_group_id.in_(groups),
                EmailPreference.opted_out.is_(True),
            )
        ).first()
        is not None
    )
