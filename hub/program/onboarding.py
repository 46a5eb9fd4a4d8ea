"""Onboarding tracks: a partner's ordered steps, with due dates, one reminder and one task.

``start`` gives a new partner the steps of the track for its segment
(``onboarding.tracks``), each due ``due_days`` after the start. A step is completed by:

* ``agreement``: the partner accepting the agreement in force (``accept_agreement``: the
  version, the time and the user recorded as a ``Credential``), or an operator;
* ``training``: the learning platform's signed webhook (``lms_event``), a CSV import or an
  operator;
* ``payout_account`` / ``first_referral``: the facts themselves (a payout-enabled Stripe
  account, a first referral), seen by the daily pass, or an operator;
* ``task``: the partner or an operator.

When every step is done, ``Partner.onboarded_at`` is set. The daily pass (``run``) sends one
reminder for an overdue step, then, ``escalate_after_days`` later, one task for the partner
manager: an item in the console's queue (``overdue``) and a CRM task through the outbox. Both
are stamped on the step and carry natural keys, so a pass run twice, or after a restart, never
repeats them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from hub.pipeline.store import utcnow
from hub.program.email.notify import notify
from hub.program.errors import InvalidInput, InvalidState, NotFound
from hub.program.manager_tasks import owe_manager_task
from hub.program.models import AuditEntry, Credential, OnboardingTask, Partner, Referral
from hub.program.segments import apply_segment

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

#: step kinds a partner may complete itself (the others come from facts, the LMS or an operator)
PARTNER_KINDS = frozenset({"agreement", "task"})


def start(session: Session, hub: ProgramContext, partner: Partner, now: datetime) -> int:
    """The track's steps for ``partner`` (none when it has steps already); returns how many.
    No track for its segment: onboarding is complete at once."""
    onboarding = hub.program.onboarding
    track = onboarding.track_for(partner.segment)
    if track is None:
        partner.onboarded_at = partner.onboarded_at or now
        return 0
    if session.scalars(select(OnboardingTask.id).where(OnboardingTask.partner_id == partner.id)).first():
        return 0
    for position, step in enumerate(track.steps):
        session.add(
            OnboardingTask(
                partner_id=partner.id,
                track=track.name,
                step=step.name,
                kind=step.kind,
                module=step.module,
                position=position,
                due_at=now + timedelta(days=step.due_days),
                created_at=now,
            )
        )
    partner.onboarded_at = None
    session.flush()
    return len(track.steps)


def admit(session: Session, hub: ProgramContext, partner: Partner, now: datetime) -> int:
    """A new partner joins the program: its segment from the segment rules, then its track's
    steps (``start``); returns how many steps. An approved application does this, and an operator
    who adds a partner with onboarding."""
    apply_segment(session, hub.program, partner, now)
    return start(session, hub, partner, now)


def steps(session: Session, partner_id: int) -> list[OnboardingTask]:
    return list(
        session.scalars(
            select(OnboardingTask).where(OnboardingTask.partner_id == partner_id).order_by(OnboardingTask.position)
        )
    )


def _finish_if_done(session: Session, partner: Partner, now: datetime) -> None:
    open_steps = session.scalars(
        select(OnboardingTask.id).where(OnboardingTask.partner_id == partner.id, OnboardingTask.completed_at.is_(None))
    ).first()
    if open_steps is None and partner.onboarded_at is None:
        partner.onboarded_at = now


def _mark(session: Session, partner: Partner, step: OnboardingTask, *, by: str, now: datetime) -> bool:
    if step.completed_at is not None:
        return False
    step.completed_at, step.completed_by = now, by[:320]
    session.flush()
    _finish_if_done(session, partner, now)
    return True


def complete(
    session: Session,
    hub: ProgramContext,
    partner: Partner,
    step_name: str,
    *,
    by: str,
    now: datetime,
    as_partner: bool = False,
) -> OnboardingTask:
    """Complete one step. A partner (``as_partner``) may complete its agreement and task steps
    only; an operator any step (audited). Completing it twice changes nothing."""
    step = session.scalars(
        select(OnboardingTask).where(OnboardingTask.partner_id == partner.id, OnboardingTask.step == step_name)
    ).first()
    if step is None:
        raise NotFound(f"no onboarding step {step_name!r} for this partner")
    if as_partner and step.kind not in PARTNER_KINDS:
        raise InvalidState(f"the {step.kind.replace('_', ' ')} step completes by itself, not by the partner")
    if step.kind == "agreement" and step.completed_at is None:
        accept_agreement(session, hub, partner, by=by, now=now)
        return step
    if _mark(session, partner, step, by=by, now=now) and not as_partner:
        session.add(
            AuditEntry(
                actor=by,
                action="onboarding.complete",
                subject=f"partner:{partner.id}",
                before={"step": step.step, "completed": False},
                after={"step": step.step, "completed": True},
                at=utcnow(),
            )
        )
    return step


def accept_agreement(
    session: Session, hub: ProgramContext, partner: Partner, *, by: str, now: datetime, version: str | None = None
) -> Credential:
    """The partner agreement in force (or ``version``, which must be it) accepted by ``by`` at
    ``now``: recorded (version, time, user), valid ``agreement_valid_days``; completes the
    agreement step. Accepting again renews it."""
    onboarding = hub.program.onboarding
    if version is not None and version != onboarding.agreement_version:
        raise InvalidInput(f"the agreement in force is version {onboarding.agreement_version}, not {version}")
    expires = now + timedelta(days=onboarding.agreement_valid_days)
    credential = grant(
        session,
        partner,
        kind="agreement",
        name="partner_agreement",
        version=onboarding.agreement_version,
        expires_at=expires,
        by=by,
        source="portal",
        now=now,
    )
    for step in steps(session, partner.id):
        if step.kind == "agreement":
            _mark(session, partner, step, by=by, now=now)
    return credential


def grant(
    session: Session,
    partner: Partner,
    *,
    kind: str,
    name: str,
    version: str | None,
    expires_at: datetime | None,
    by: str,
    source: str,
    now: datetime,
) -> Credential:
    """Record (or renew) a certification or agreement."""
    credential = session.scalars(
        select(Credential).where(Credential.partner_id == partner.id, Credential.kind == kind, Credential.name == name)
    ).first()
    if credential is None:
        credential = Credential(partner_id=partner.id, kind=kind, name=name)
        session.add(credential)
    credential.version, credential.granted_at, credential.expires_at = version, now, expires_at
    credential.accepted_by, credential.source, credential.updated_at = by[:320], source, now
    session.flush()
    return credential


def record_certification(
    session: Session,
    hub: ProgramContext,
    partner: Partner,
    *,
    name: str,
    expires_at: datetime | None,
    by: str,
    now: datetime,
) -> Credential:
    """An operator records (or renews) a partner's certification, audited; the segment follows
    (a segment rule may ask for it) and benefits requiring it open while it is valid."""
    from hub.program import segments

    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidInput("certification name: 1 to 128 characters")
    credential = grant(
        session,
        partner,
        kind="certification",
        name=name,
        version=None,
        expires_at=expires_at,
        by=by,
        source="operator",
        now=now,
    )
    segments.apply_segment(session, hub.program, partner, now)
    session.add(
        AuditEntry(
            actor=by,
            action="certification.grant",
            subject=f"partner:{partner.id}",
            before=None,
            after={"name": name, "expires_at": expires_at.isoformat() if expires_at else None},
            at=utcnow(),
        )
    )
    return credential


def credentials(session: Session, partner_id: int) -> list[Credential]:
    """A partner's certifications and agreements (agreements first, then by name)."""
    return list(
        session.scalars(
            select(Credential).where(Credential.partner_id == partner_id).order_by(Credential.kind, Credential.name)
        )
    )


def complete_module(session: Session, partner: Partner, module: str, *, by: str, now: datetime) -> int:
    """Training steps for ``module`` completed (the LMS, a CSV import); returns how many."""
    done = 0
    for step in steps(session, partner.id):
        if step.kind == "training" and step.module == module:
            done += _mark(session, partner, step, by=by, now=now)
    return done


def _facts_done(session: Session, partner: Partner, step: OnboardingTask) -> bool:
    if step.kind == "payout_account":
        return bool(partner.payouts_enabled)
    if step.kind == "first_referral":
        return bool(session.scalar(select(exists().where(Referral.partner_id == partner.id))))
    return False


def run(session: Session, hub: ProgramContext, now: datetime) -> dict[str, int]:
    """The daily pass over open steps: complete those whose facts are there, remind once when
    overdue, then one task for the manager."""
    onboarding = hub.program.onboarding
    counts = {"completed": 0, "reminded": 0, "escalated": 0}
    open_steps = list(
        session.scalars(
            select(OnboardingTask)
            .where(OnboardingTask.completed_at.is_(None))
            .order_by(OnboardingTask.partner_id, OnboardingTask.position)
        )
    )
    if not open_steps:
        return counts
    partners = {
        p.id: p for p in session.scalars(select(Partner).where(Partner.id.in_({s.partner_id for s in open_steps})))
    }
    auto = [s for s in open_steps if s.kind in ("payout_account", "first_referral")]
    referred = (
        set(
            session.scalars(
                select(Referral.partner_id).where(Referral.partner_id.in_({s.partner_id for s in auto})).distinct()
            )
        )
        if auto
        else set()
    )
    for step in open_steps:
        partner = partners[step.partner_id]
        if partner.status != "active":
            continue
        if (step.kind == "payout_account" and partner.payouts_enabled) or (
            step.kind == "first_referral" and partner.id in referred
        ):
            _mark(session, partner, step, by="program", now=now)
            counts["completed"] += 1
            continue
        if step.due_at > now:
            continue
        if step.reminded_at is None:
            notify(
                session,
                mail_settings=hub.settings.sendgrid,
                kind="onboarding_reminder",
                to_email=partner.email,
                partner_id=partner.id,
                natural_key=f"onboarding-reminder:{step.id}",
                context=_context(partner, step),
            )
            step.reminded_at = now
            counts["reminded"] += 1
        elif step.escalated_at is None and now >= step.reminded_at + timedelta(days=onboarding.escalate_after_days):
            owe_manager_task(
                session,
                hub,
                partner,
                kind="onboarding",
                ref=step.id,
                subject=f"Onboarding overdue: {partner.name} ({step.step})",
                body=f"{partner.name} <{partner.email}> has not completed the onboarding step "
                f"{step.step!r}, due {step.due_at.date().isoformat()}, after a reminder.",
                owner_id=onboarding.task_owner_id,
                now=now,
            )
            step.escalated_at = now
            counts["escalated"] += 1
    return counts


def overdue(session: Session) -> list[tuple[OnboardingTask, Partner]]:
    """The console's queue: escalated steps still open, oldest first."""
    rows = session.execute(
        select(OnboardingTask, Partner)
        .join(Partner, Partner.id == OnboardingTask.partner_id)
        .where(OnboardingTask.escalated_at.is_not(None), OnboardingTask.completed_at.is_(None))
        .order_by(OnboardingTask.escalated_at)
    )
    return [(task, partner) for task, partner in rows]


def _context(partner: Partner, step: OnboardingTask) -> dict[str, Any]:
    return {
        "partner_name": partner.name,
        "partner_manager": partner.partner_manager,
        "segment": partner.segment,
        "locale": partner.locale,
        "step": step.step,
        "kind": step.kind,
        "due_at": step.due_at.date().isoformat(),
    }


def lms_event(session: Session, hub: ProgramContext, payload: dict[str, Any]) -> str:
    """An event of the learning platform's webhook (``connectors.lms``), from the inbox: a
    training module completed, or a certification granted (or renewed: a new expiry)."""
    from datetime import UTC

    from hub.program import clock, segments

    email = str(payload.get("partner_email") or "")
    partner = session.scalars(select(Partner).where(Partner.email == email)).first()
    if partner is None:
        return "lms:unknown_partner"
    now = clock.now(hub)
    subject = str(payload.get("subject") or "")
    if payload.get("type") == "module.completed":
        return f"lms:module_completed:{complete_module(session, partner, subject, by='lms', now=now)}"
    expires = payload.get("expires_at")
    grant(
        session,
        partner,
        kind="certification",
        name=subject,
        version=None,
        expires_at=datetime.fromtimestamp(int(expires), UTC) if expires is not None else None,
        by="lms",
        source="lms",
        now=now,
    )
    segments.apply_segment(session, hub.program, partner, now)
    return "lms:certification"


def checklist(session: Session, hub: ProgramContext, partner: Partner, now: datetime) -> dict[str, Any]:
    """A partner's onboarding as the portal, the API and the CLI show it."""
    agreement = session.scalars(
        select(Credential).where(Credential.partner_id == partner.id, Credential.kind == "agreement")
    ).first()
    return {
        "complete": partner.onboarded_at is not None,
        "onboarded_at": partner.onboarded_at,
        "agreement_in_force": hub.program.onboarding.agreement_version,
        "agreement": {
            "version": agreement.version,
            "accepted_at": agreement.granted_at,
            "accepted_by": agreement.accepted_by,
            "expires_at": agreement.expires_at,
        }
        if agreement
        else None,
        "steps": [
            {
                "step": s.step,
                "kind": s.kind,
                "module": s.module,
                "due_at": s.due_at,
                "completed_at": s.completed_at,
                "completed_by": s.completed_by,
                "overdue": s.completed_at is None and s.due_at <= now,
            }
            for s in steps(session, partner.id)
        ],
    }
