"""A partner's e-mail choices: the unsubscribe groups it left (recorded from SendGrid's
``group_unsubscribe`` events by ``hub.program.email.events``, or chosen in the portal's profile),
asked before every mail (``hub.program.email.notify``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.pipeline.outbox import owe
from hub.pipeline.store import utcnow
from hub.program.models import EmailPreference, Partner

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


def record_choice(session: Session, partner: Partner, group: int, *, opted_out: bool, at: datetime) -> bool:
    """Record a partner's choice about an unsubscribe group as of ``at`` (a provider event's
    time, or now when the partner chose in the portal); an older choice never overwrites a newer
    one. Returns whether it was recorded."""
    row = session.scalars(
        select(EmailPreference)
        .where(EmailPreference.partner_id == partner.id, EmailPreference.asm_group_id == group)
        .with_for_update()
    ).first()
    now = utcnow()
    if row is None:
        session.add(
            EmailPreference(
                partner_id=partner.id, asm_group_id=group, opted_out=opted_out, changed_at=at, updated_at=now
            )
        )
        session.flush()
        return True
    if at < row.changed_at:
        return False  # an older event: the newer choice stands
    row.opted_out, row.changed_at, row.updated_at = opted_out, at, now
    return True


def choose(session: Session, partner: Partner, group: int, *, receive: bool, at: datetime) -> bool:
    """The partner chose in the hub (the portal) whether to receive a group's mail: recorded, and
    — when it changed — SendGrid's suppression list for the group follows (an outbox row, so
    SendGrid agrees even if the partner never clicks its unsubscribe link). Returns whether the
    choice changed."""
    before = session.scalars(
        select(EmailPreference.opted_out).where(
            EmailPreference.partner_id == partner.id, EmailPreference.asm_group_id == group
        )
    ).first()
    if (before is True) == (not receive):
        return False
    record_choice(session, partner, group, opted_out=not receive, at=at)
    owe(
        session,
        natural_key=f"asm:{partner.id}:{group}:{int(at.timestamp() * 1000)}",
        connector="sendgrid",
        action="set_group_suppression",
        payload={"email": partner.email, "group_id": group, "suppressed": not receive},
    )
    return True
