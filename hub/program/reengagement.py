"""Re-engagement of quiet partners: a first email, a second, then a flag and a CRM task.

A partner is quiet when its last sign of life (``Partner.last_activity_at``: a referral, a
partner API call, a reply to our email; else when it joined) is ``first_after_days`` old. A
sequence row (``reengagement_sequences``, one per partner and starting point) then moves one
step per pass when its time comes: email 1, ``second_after_days`` later email 2,
``flag_after_days`` later the partner is flagged for personal outreach and a task is owed to the
CRM (``create_task``). Any activity after the starting point stops it. Rows survive restarts;
each email and the task have natural keys, so a pass run twice never sends twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.store import utcnow
from hub.program.email.notify import notify
from hub.program.manager_tasks import owe_manager_task
from hub.program.models import AuditEntry, Partner, ReengagementSequence, Referral
from hub.program.partners import flag

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

FLAG_REASON = "re-engagement: no referral after two emails; reach out personally"


def _context(partner: Partner) -> dict[str, Any]:
    return {
        "partner_name": partner.name,
        "partner_manager": partner.partner_manager,
        "segment": partner.segment,
        "locale": partner.locale,
    }


def run(session: Session, hub: ProgramContext, now: datetime) -> dict[str, int]:
    """One pass over active partners (a partner's last sign of life: its last activity, newest
    referral, or joining date); returns counts per step taken."""
    rules = hub.program.reengagement
    counts = {"started": 0, "second": 0, "flagged": 0, "stopped": 0}
    if not rules.enabled:
        return counts
    newest = {
        pid: at
        for pid, at in session.execute(
            select(Referral.partner_id, func.max(Referral.created_at)).group_by(Referral.partner_id)
        )
    }
    active = {
        seq.partner_id: seq
        for seq in session.scalars(
            select(ReengagementSequence).where(ReengagementSequence.state == "active").with_for_update()
        )
    }
    handled = {
        (pid, at)
        for pid, at in session.execute(
            select(ReengagementSequence.partner_id, ReengagementSequence.anchor_at).where(
                ReengagementSequence.state != "active"
            )
        )
    }
    quiet_since = now - timedelta(days=rules.first_after_days)
    for partner in session.scalars(select(Partner).where(Partner.status == "active").order_by(Partner.id)):
        stamps = [s for s in (partner.last_activity_at, newest.get(partner.id), partner.created_at) if s is not None]
        last = max(stamps)
        sequence = active.get(partner.id)
        if sequence is not None and last > sequence.anchor_at:
            stop(session, sequence, reason="partner activity", now=now)
            counts["stopped"] += 1
            continue
        if sequence is None:
            if last > quiet_since:
                continue
            if (partner.id, last) in handled:
                continue  # this quiet spell was handled (or stopped by an admin)
            ids = insert_ignoring_conflicts(
                session,
                ReengagementSequence,
                [
                    {
                        "partner_id": partner.id,
                        "anchor_at": last,
                        "step": 0,
                        "state": "active",
                        "next_at": now,
                        "stopped_reason": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
                ("partner_id", "anchor_at"),
            )
            if not ids:
                continue
            sequence = session.get(ReengagementSequence, ids[0])
            assert sequence is not None
        if sequence.next_at is not None and sequence.next_at > now:
            continue
        _step(session, hub, partner, sequence, now, counts)
    return counts


def _step(
    session: Session,
    hub: ProgramContext,
    partner: Partner,
    sequence: ReengagementSequence,
    now: datetime,
    counts: dict[str, int],
) -> None:
    rules = hub.program.reengagement
    if sequence.step == 0:
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="reengagement_first",
            to_email=partner.email,
            partner_id=partner.id,
            natural_key=f"reengagement-1:{sequence.id}",
            context=_context(partner),
        )
        sequence.step, sequence.next_at = 1, now + timedelta(days=rules.second_after_days)
        counts["started"] += 1
    elif sequence.step == 1:
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="reengagement_second",
            to_email=partner.email,
            partner_id=partner.id,
            natural_key=f"reengagement-2:{sequence.id}",
            context=_context(partner),
        )
        sequence.step, sequence.next_at = 2, now + timedelta(days=rules.flag_after_days)
        counts["second"] += 1
    else:
        flag(session, partner, FLAG_REASON)
        owe_manager_task(
            session,
            hub,
            partner,
            kind="reengagement",
            ref=sequence.id,
            subject=f"Reach out to partner {partner.name}",
            body=f"{partner.name} <{partner.email}> has made no referral since "
            f"{sequence.anchor_at.date().isoformat()} and did not respond to two re-engagement emails.",
            owner_id=rules.task_owner_id,
            now=now,
        )
        sequence.step, sequence.state, sequence.next_at = 3, "done", None
        counts["flagged"] += 1
    sequence.updated_at = now


def stop(
    session: Session,
    sequence: ReengagementSequence,
    *,
    reason: str,
    now: datetime | None = None,
    actor: str | None = None,
) -> None:
    before = {"state": sequence.state, "step": sequence.step}
    sequence.state, sequence.stopped_reason, sequence.next_at = "stopped", reason, None
    sequence.updated_at = now or utcnow()
    if actor:
        session.add(
            AuditEntry(
                actor=actor,
                action="reengagement.stop",
                subject=f"partner:{sequence.partner_id}",
                before=before,
                after={"state": "stopped", "reason": reason},
                at=utcnow(),
            )
        )
