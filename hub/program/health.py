"""The partner health score: per active partner and UTC day, 0..100 from the program file's
weighted signals (``health:``), kept as a history (``partner_health``), and the at-risk task.

Signals, each a part 0..100 (integer arithmetic, floor division; the same facts give the same
score on every database):

* ``recency``: whole days since the partner's last sign of life (``Partner.last_activity_at``,
  its newest referral, else when it joined): 100 up to ``active_days``, 0 from ``quiet_days``,
  linear between;
* ``referrals``: referrals of the last 90 days against the 90 days before: 100 when as many or
  more, else the share kept (3 after 6: 50); none in either window: 0;
* ``conversion``: won referrals over all referrals, full marks at ``conversion_target_percent``;
  no referral: 0;
* ``onboarding``: onboarding steps completed over the partner's steps (onboarded, or no steps:
  100);
* ``compliance``: 0 when a certification or agreement has expired, 50 when one expires within the
  nearest ``compliance.remind_days_before`` offset, else 100;
* ``email``: 0 when the partner's address bounced or reported spam; else the share of the last 90
  days' mail to the partner that was opened or clicked (``Notification.engaged_at``), full marks
  at ``email_target_percent``; no mail sent: 100.

The score is ``sum(weight * part) // sum(weight)``. A score below ``at_risk_below`` opens one
``AtRiskTask`` (the console's ``at_risk`` queue) and owes one CRM task to the partner manager
through the outbox (natural key ``crm:task:health:<task id>``), and with ``support_sequence``
owes the partner the ``health_support`` e-mail (``health-support:<task id>``). A score at or above
``recovered_at`` closes it: the queue item is resolved; the CRM task stays for the manager to
close (no connector completes tasks), which ``closed_note`` says.

:func:`run` is part of the lifecycle's daily pass (``hub.program.lifecycle``: once per day,
under the elected scheduler, in one transaction with the day's ``program_runs`` row), so a
worker killed half-way leaves nothing and the next tick does the day again. Everything it
writes has a natural key (``partner_health`` by partner and day, one open task per partner by a
unique column, the outbox rows by key), so running it twice changes nothing. It is set-based: a
fixed number of grouped statements whatever the number of partners, bulk inserts of the history,
and per-partner work only for the partners whose task opens or closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from hub.pipeline.inbox import insert_ignoring_conflicts, insert_many_ignoring_conflicts
from hub.program.email.notify import NotificationStatus, notify
from hub.program.lifecycle_file import Health
from hub.program.manager_tasks import owe_manager_task
from hub.program.models import (
    AtRiskTask,
    Credential,
    Notification,
    OnboardingTask,
    Partner,
    PartnerHealth,
    Referral,
)
from hub.program.states import ReferralStatus

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

WINDOW_DAYS = 90
SIGNALS = ("recency", "referrals", "conversion", "onboarding", "compliance", "email")
#: notifications that never left the hub say nothing about engagement
_NOT_SENT = (NotificationStatus.QUEUED, NotificationStatus.SUPPRESSED, NotificationStatus.SKIPPED)
_CHUNK = 1000
RECOVERED_NOTE = (
    "score recovered; the CRM task is closed by the partner manager (the CRM connectors do not complete tasks)"
)
INACTIVE_NOTE = "partner no longer active"


@dataclass(frozen=True)
class Signals:
    """The facts behind one partner's score."""

    quiet_days: int
    referrals_recent: int = 0
    referrals_previous: int = 0
    referrals: int = 0
    won: int = 0
    steps: int = 0
    steps_done: int = 0
    onboarded: bool = True
    expired: int = 0
    expiring: int = 0
    email_stopped: bool = False
    mails: int = 0
    engaged: int = 0


def _capped(part: int, whole: int, target_percent: int) -> int:
    """``part / whole`` as 0..100, full marks at ``target_percent``."""
    return min(100, part * 100 * 100 // (whole * target_percent))


def parts(signals: Signals, rules: Health) -> dict[str, int]:
    """Each signal's part, 0..100."""
    s = signals
    if s.quiet_days <= rules.active_days:
        recency = 100
    elif s.quiet_days >= rules.quiet_days:
        recency = 0
    else:
        recency = 100 * (rules.quiet_days - s.quiet_days) // (rules.quiet_days - rules.active_days)
    if s.referrals_recent == 0 and s.referrals_previous == 0:
        referrals = 0
    elif s.referrals_recent >= s.referrals_previous:
        referrals = 100
    else:
        referrals = 100 * s.referrals_recent // s.referrals_previous
    conversion = _capped(s.won, s.referrals, rules.conversion_target_percent) if s.referrals else 0
    onboarding = 100 if s.onboarded or s.steps == 0 else 100 * s.steps_done // s.steps
    compliance = 0 if s.expired else 50 if s.expiring else 100
    if s.email_stopped:
        email = 0
    else:
        email = _capped(s.engaged, s.mails, rules.email_target_percent) if s.mails else 100
    return {
        "recency": recency,
        "referrals": referrals,
        "conversion": conversion,
        "onboarding": onboarding,
        "compliance": compliance,
        "email": email,
    }


def score(signals: Signals, rules: Health) -> tuple[int, dict[str, Any]]:
    """The score 0..100 and its parts: per signal the value, the weight and the facts."""
    values = parts(signals, rules)
    weights = rules.weights.model_dump()
    total = sum(weights.values())
    result = sum(weights[name] * values[name] for name in SIGNALS) // total
    s = signals
    facts: dict[str, dict[str, Any]] = {
        "recency": {"quiet_days": s.quiet_days},
        "referrals": {"last_90_days": s.referrals_recent, "previous_90_days": s.referrals_previous},
        "conversion": {"referrals": s.referrals, "won": s.won},
        "onboarding": {"steps": s.steps, "done": s.steps_done, "onboarded": s.onboarded},
        "compliance": {"expired": s.expired, "expiring": s.expiring},
        "email": {"stopped": s.email_stopped, "mails_90_days": s.mails, "engaged": s.engaged},
    }
    return result, {name: {"value": values[name], "weight": weights[name], "facts": facts[name]} for name in SIGNALS}


# -- the facts, set-based -------------------------------------------------------------------------


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def gather(session: Session, hub: ProgramContext, now: datetime) -> dict[int, Signals]:
    """Every active partner's signals at ``now``: six grouped statements, none per partner."""
    recent = now - timedelta(days=WINDOW_DAYS)
    previous = recent - timedelta(days=WINDOW_DAYS)
    offsets = hub.program.compliance.remind_days_before
    soon = now + timedelta(days=min(offsets)) if offsets else now
    partners = session.execute(
        select(
            Partner.id, Partner.created_at, Partner.last_activity_at, Partner.onboarded_at, Partner.email_status
        ).where(Partner.status == "active")
    ).all()
    refs = {
        pid: (int(n), int(won or 0), newest, int(lately or 0), int(before or 0))
        for pid, n, won, newest, lately, before in session.execute(
            select(
                Referral.partner_id,
                func.count(),
                _count(Referral.status == ReferralStatus.CLOSED_WON),
                func.max(Referral.created_at),
                _count(Referral.created_at > recent),
                _count(and_(Referral.created_at > previous, Referral.created_at <= recent)),
            )
            .where(Referral.created_at <= now)
            .group_by(Referral.partner_id)
        )
    }
    steps = {
        pid: (int(n), int(done or 0))
        for pid, n, done in session.execute(
            select(
                OnboardingTask.partner_id,
                func.count(),
                _count(OnboardingTask.completed_at.is_not(None)),
            ).group_by(OnboardingTask.partner_id)
        )
    }
    creds = {
        pid: (int(expired or 0), int(expiring or 0))
        for pid, expired, expiring in session.execute(
            select(
                Credential.partner_id,
                _count(Credential.expires_at <= now),
                _count(Credential.expires_at > now),
            )
            .where(Credential.expires_at.is_not(None), Credential.expires_at <= soon)
            .group_by(Credential.partner_id)
        )
    }
    mails = {
        pid: (int(n), int(engaged or 0))
        for pid, n, engaged in session.execute(
            select(Notification.partner_id, func.count(), _count(Notification.engaged_at.is_not(None)))
            .where(
                Notification.partner_id.is_not(None),
                Notification.created_at > recent,
                Notification.created_at <= now,
                Notification.status.not_in(_NOT_SENT),
            )
            .group_by(Notification.partner_id)
        )
    }
    out: dict[int, Signals] = {}
    for pid, created, last_activity, onboarded_at, email_status in partners:
        n, won, newest, lately, before = refs.get(pid, (0, 0, None, 0, 0))
        last = max(s for s in (created, last_activity, newest) if s is not None)
        total_steps, done = steps.get(pid, (0, 0))
        expired, expiring = creds.get(pid, (0, 0))
        sent, engaged = mails.get(pid, (0, 0))
        out[pid] = Signals(
            quiet_days=max((now - last).days, 0),
            referrals_recent=lately,
            referrals_previous=before,
            referrals=n,
            won=won,
            steps=total_steps,
            steps_done=done,
            onboarded=onboarded_at is not None and onboarded_at <= now,
            expired=expired,
            expiring=expiring,
            email_stopped=email_status != "ok",
            mails=sent,
            engaged=engaged,
        )
    return out


# -- the daily pass ----------------------------------------------------------------------------------


def run(session: Session, hub: ProgramContext, now: datetime) -> dict[str, int] | None:
    """Score every active partner for ``now``'s day, keep the history, open and close at-risk
    tasks. None when the program file turns the score off."""
    rules = hub.program.health
    if not rules.enabled:
        return None
    day = now.date()
    scores = {pid: score(signals, rules) for pid, signals in gather(session, hub, now).items()}
    kept = set(session.scalars(select(PartnerHealth.partner_id).where(PartnerHealth.day == day)))
    rows = [
        {"partner_id": pid, "day": day, "score": value, "parts": detail, "computed_at": now}
        for pid, (value, detail) in sorted(scores.items())
        if pid not in kept
    ]
    written = insert_many_ignoring_conflicts(session, PartnerHealth, rows, ("partner_id", "day"))
    counts = {"scored": len(scores), "written": written, "opened": 0, "closed": 0}
    open_tasks = {
        pid: task_id
        for pid, task_id in session.execute(
            select(AtRiskTask.partner_id, AtRiskTask.id).where(AtRiskTask.open_partner_id.is_not(None))
        )
    }
    closing = [
        (pid, task_id, scores[pid][0] if pid in scores else None)
        for pid, task_id in open_tasks.items()
        if pid not in scores or scores[pid][0] >= rules.recovery
    ]
    for _, task_id, value in closing:
        session.execute(
            update(AtRiskTask)
            .where(AtRiskTask.id == task_id, AtRiskTask.open_partner_id.is_not(None))
            .values(
                open_partner_id=None,
                closed_at=now,
                closed_score=value,
                closed_note=RECOVERED_NOTE if value is not None else INACTIVE_NOTE,
            )
        )
        counts["closed"] += 1
    falling = [
        pid for pid, (value, _) in sorted(scores.items()) if value < rules.at_risk_below and pid not in open_tasks
    ]
    new_ids: list[int] = []
    for start in range(0, len(falling), _CHUNK):  # a few thousand bound parameters per statement
        new_ids += insert_ignoring_conflicts(
            session,
            AtRiskTask,
            [
                {"partner_id": pid, "open_partner_id": pid, "opened_at": now, "opened_score": scores[pid][0]}
                for pid in falling[start : start + _CHUNK]
            ],
            ("open_partner_id",),
        )
    for start in range(0, len(new_ids), _CHUNK):
        chunk = new_ids[start : start + _CHUNK]
        for task, partner in session.execute(
            select(AtRiskTask, Partner)
            .join(Partner, Partner.id == AtRiskTask.partner_id)
            .where(AtRiskTask.id.in_(chunk))
            .order_by(AtRiskTask.id)
        ):
            _open_effects(session, hub, partner, task, scores[partner.id][1], now)
            counts["opened"] += 1
    return counts


def _weakest(detail: dict[str, Any]) -> list[str]:
    """The signals that pulled the score down, weakest first (weighted ones only)."""
    weighted = [(d["value"], name) for name, d in detail.items() if d["weight"] and d["value"] < 100]
    return [f"{name} {value}" for value, name in sorted(weighted)]


def _open_effects(
    session: Session, hub: ProgramContext, partner: Partner, task: AtRiskTask, detail: dict[str, Any], now: datetime
) -> None:
    rules = hub.program.health
    weak = ", ".join(_weakest(detail)) or "none"
    owe_manager_task(
        session,
        hub,
        partner,
        kind="health",
        ref=task.id,
        subject=f"At-risk partner: {partner.name} (health {task.opened_score})",
        body=f"{partner.name} <{partner.email}> scored {task.opened_score} on "
        f"{now.date().isoformat()}, below the at-risk threshold {rules.at_risk_below}. "
        f"Weakest signals: {weak}.",
        owner_id=rules.task_owner_id,
        now=now,
    )
    if rules.support_sequence:
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="health_support",
            to_email=partner.email,
            partner_id=partner.id,
            natural_key=f"health-support:{task.id}",
            context={
                "partner_name": partner.name,
                "partner_manager": partner.partner_manager,
                "segment": partner.segment,
                "locale": partner.locale,
            },
        )


# -- what operators see ---------------------------------------------------------------------------------


def latest(session: Session, partner_id: int, *, days: int = 30) -> dict[str, Any]:
    """A partner's newest score with its parts, its history (newest first, ``days`` rows) and its
    at-risk task (open, else the newest closed one): the console, the admin API and the CLI."""
    history = list(
        session.scalars(
            select(PartnerHealth)
            .where(PartnerHealth.partner_id == partner_id)
            .order_by(PartnerHealth.day.desc())
            .limit(days)
        )
    )
    task = session.scalars(
        select(AtRiskTask).where(AtRiskTask.partner_id == partner_id).order_by(AtRiskTask.id.desc()).limit(1)
    ).first()
    newest = history[0] if history else None
    return {
        "partner_id": partner_id,
        "day": newest.day.isoformat() if newest else None,
        "score": newest.score if newest else None,
        "parts": newest.parts if newest else None,
        "history": [{"day": h.day.isoformat(), "score": h.score} for h in history],
        "at_risk": task_dict(task) if task else None,
    }


def open_tasks(session: Session) -> list[tuple[AtRiskTask, Partner]]:
    """The open at-risk tasks with their partners, oldest first."""
    rows = session.execute(
        select(AtRiskTask, Partner)
        .join(Partner, Partner.id == AtRiskTask.partner_id)
        .where(AtRiskTask.open_partner_id.is_not(None))
        .order_by(AtRiskTask.id)
    )
    return [(task, partner) for task, partner in rows]


def task_dict(task: AtRiskTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "open": task.open_partner_id is not None,
        "opened_at": task.opened_at,
        "opened_score": task.opened_score,
        "closed_at": task.closed_at,
        "closed_score": task.closed_score,
        "closed_note": task.closed_note,
    }


def at_risk_count(session: Session) -> int:
    """Partners with an open at-risk task now (the KPI)."""
    return int(
        session.scalar(select(func.count()).select_from(AtRiskTask).where(AtRiskTask.open_partner_id.is_not(None))) or 0
    )
