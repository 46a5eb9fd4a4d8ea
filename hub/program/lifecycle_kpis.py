"""Lifecycle KPIs, for partners who joined through an application (kept apart from
``hub.program.kpis``'s set-based figures):

* ``time_to_onboard_days``: whole days from the application to the last onboarding step
  (``Partner.onboarded_at``), per partner and the median;
* ``time_to_first_referral_days``: whole days from the application to the partner's first
  referral, per partner and the median.

``operations``: the lifecycle block of the KPIs every view shows (``hub.program.kpis.compute``):
time to onboard, registration processing time, engagement, the automated share.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import median_low
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.program.models import Application, Partner, Referral


def compute(session: Session, at: datetime) -> dict[str, Any]:
    first = (
        select(Referral.partner_id, func.min(Referral.created_at).label("first_at"))
        .group_by(Referral.partner_id)
        .subquery()
    )
    rows = session.execute(
        select(Partner.id, Application.created_at, Partner.onboarded_at, first.c.first_at)
        .join(Application, Application.partner_id == Partner.id)
        .outerjoin(first, first.c.partner_id == Partner.id)
        .where(Application.status == "approved", Application.created_at <= at)
    ).all()
    onboard = {pid: (done - applied).days for pid, applied, done, _ in rows if done is not None and done <= at}
    referral = {pid: (ref - applied).days for pid, applied, _, ref in rows if ref is not None and ref <= at}
    return {
        "time_to_onboard_days": {
            "per_partner": onboard,
            "median": median_low(onboard.values()) if onboard else None,
        },
        "time_to_first_referral_days": {
            "per_partner": referral,
            "median": median_low(referral.values()) if referral else None,
        },
    }


# -- the lifecycle block of ``hub.program.kpis.compute`` -------------------------------------

#: audit actions that are a lifecycle decision or change when a person makes them
PERSON_ACTIONS = (
    "application.approve", "application.decline", "registration.approve", "registration.decline",
    "referral.approve", "referral.decline", "partner.tier", "onboarding.complete", "certification.grant",
    "reengagement.stop",
)  # fmt: skip
#: the actor of the hub's own lifecycle changes (the quarterly tier review, the registration check)
PROGRAM_ACTOR = "program"
#: the automatic re-engagement mails
REENGAGEMENT_KINDS = ("reengagement_first", "reengagement_second")


def _median_of(seconds: list[int], unit: int) -> str | None:
    """The (low) median of durations in seconds, in ``unit`` seconds, one decimal place."""
    if not seconds:
        return None
    value = Decimal(median_low(seconds)) / Decimal(unit)
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def operations(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """The lifecycle KPIs of [start, end) (the dashboard's period, up to its moment):

    * ``time_to_onboard_days``: partners whose onboarding completed in the period
      (``Partner.onboarded_at``): from their application's approval (``decided_at``), or from
      the partner's creation when it was added without one; the low median, in days;
    * ``registration_processing_hours``: deal registrations first decided (approved or
      declined, by the check or a person) in the period, from submission; the low median, hours;
    * ``engagement``: of the partners active at ``end``, those with a portal sign-in (a user's
      sign-in link used, or its last sign-in) or a training completion (an onboarding training
      step, or a certification granted) in the period;
    * ``automation``: lifecycle actions in the period, ``automated`` (onboarding reminders and
      escalations, re-engagement mails, the quarterly review's tier changes, registrations the
      check decided) against ``by_person`` (an operator's decision or change in the audit log:
      ``PERSON_ACTIONS`` by an actor other than ``program``); ``share`` = automated / all."""
    from hub.program.kpis import ratio
    from hub.program.models import (
        AuditEntry,
        Credential,
        DealRegistration,
        Notification,
        OnboardingTask,
        PartnerUser,
        SigninToken,
    )

    approved_at = (
        select(Application.partner_id, func.min(Application.decided_at).label("approved_at"))
        .where(Application.status == "approved", Application.partner_id.is_not(None))
        .group_by(Application.partner_id)
        .subquery()
    )
    onboarded = session.execute(
        select(Partner.created_at, approved_at.c.approved_at, Partner.onboarded_at)
        .outerjoin(approved_at, approved_at.c.partner_id == Partner.id)
        .where(Partner.onboarded_at >= start, Partner.onboarded_at < end)
    ).all()
    onboard = [_seconds(approved or created, done) for created, approved, done in onboarded]
    decided = session.execute(
        select(DealRegistration.created_at, DealRegistration.decided_at).where(
            DealRegistration.decided_at >= start, DealRegistration.decided_at < end
        )
    ).all()
    processing = [_seconds(submitted, when) for submitted, when in decided if when is not None]

    active = select(Partner.id).where(Partner.status == "active", Partner.created_at < end)
    signed_in = select(PartnerUser.partner_id).where(
        PartnerUser.last_signed_in_at >= start, PartnerUser.last_signed_in_at < end
    )
    signed_in_by_link = (
        select(PartnerUser.partner_id)
        .join(SigninToken, SigninToken.principal_id == PartnerUser.id)
        .where(SigninToken.principal == "partner_user", SigninToken.used_at >= start, SigninToken.used_at < end)
    )
    trained = select(OnboardingTask.partner_id).where(
        OnboardingTask.kind == "training", OnboardingTask.completed_at >= start, OnboardingTask.completed_at < end
    )
    certified = select(Credential.partner_id).where(
        Credential.kind == "certification", Credential.granted_at >= start, Credential.granted_at < end
    )
    engaged_ids = signed_in.union(signed_in_by_link, trained, certified).subquery()

    def within(column: Any) -> Any:
        return column.is_not(None) & (column >= start) & (column < end)

    def count(model: Any, *where: Any) -> Any:
        return select(func.count()).select_from(model).where(*where).scalar_subquery()

    counts = {
        "active_partners": select(func.count()).select_from(active.subquery()).scalar_subquery(),
        "engaged": count(Partner, Partner.id.in_(active), Partner.id.in_(select(engaged_ids.c[0]))),
        "onboarding_reminders": count(OnboardingTask, within(OnboardingTask.reminded_at)),
        "onboarding_escalations": count(OnboardingTask, within(OnboardingTask.escalated_at)),
        "reengagement_mails": count(
            Notification, Notification.kind.in_(REENGAGEMENT_KINDS), within(Notification.created_at)
        ),
        "tier_changes": count(
            AuditEntry, AuditEntry.action == "partner.tier", AuditEntry.actor == PROGRAM_ACTOR, within(AuditEntry.at)
        ),
        "registration_decisions": count(
            DealRegistration, DealRegistration.decided_by == PROGRAM_ACTOR, within(DealRegistration.decided_at)
        ),
        "by_person": count(
            AuditEntry,
            AuditEntry.action.in_(PERSON_ACTIONS),
            AuditEntry.actor != PROGRAM_ACTOR,
            within(AuditEntry.at),
        ),
    }
    # one statement of counts, each over its own index range
    got = dict(zip(counts, (int(n or 0) for n in session.execute(select(*counts.values())).one()), strict=True))
    partners_active, engaged, by_person = got.pop("active_partners"), got.pop("engaged"), got.pop("by_person")
    automated = got
    total_automated = sum(automated.values())
    return {
        "time_to_onboard_days": {"partners": len(onboard), "median": _median_of(onboard, 86_400)},
        "registration_processing_hours": {"registrations": len(processing), "median": _median_of(processing, 3_600)},
        "engagement": {"active_partners": partners_active, "engaged": engaged, "rate": ratio(engaged, partners_active)},
        "automation": {
            "automated": total_automated,
            "by_person": by_person,
            "share": ratio(total_automated, total_automated + by_person),
            "automated_by_kind": automated,
        },
    }
