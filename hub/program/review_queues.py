"""The review queues: what the program engine parks for a person, as the console shows it.

Each queue is a named filter over one table; :func:`counts` answers every queue's size in one
query (the console's badges), :func:`rows` one page of a queue with each row's partner name
joined in (no query per row). The decisions themselves are the domain's own functions
(``referrals.review``, ``registrations.decide``, ``payouts.approve``/``reject``/``settle``,
``fraud.release``, ``alerts.resolve_alert``, ``applications.decide``, ``onboarding.complete``),
the same ones the admin API and the CLI call.

The lifecycle adds two queues: ``applications`` (confirmed applications waiting for a person's
decision; they belong to no partner yet) and ``onboarding`` (overdue onboarding steps handed to
the partner manager after one reminder, ``onboarding.overdue``); the health score adds
``at_risk`` (partners whose score fell below the program's threshold, ``hub.program.health``;
resolved by the daily pass when the score recovers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from hub.pipeline.models import Alert
from hub.program.fraud import HOLDABLE
from hub.program.models import (
    Application,
    AtRiskTask,
    DealRegistration,
    LedgerEntry,
    OnboardingTask,
    Partner,
    Payout,
    Referral,
)
from hub.program.states import PayoutStatus, ReferralStatus

PAGE = 50


@dataclass(frozen=True)
class Queue:
    name: str
    title: str
    model: Any
    where: tuple[ColumnElement[bool], ...]


QUEUES: dict[str, Queue] = {
    q.name: q
    for q in (
        Queue("referrals", "Held referrals", Referral, (Referral.status == ReferralStatus.HELD_FOR_REVIEW,)),
        Queue(
            "registrations",
            "Held deal registrations",
            DealRegistration,
            (DealRegistration.status == "held_for_review",),
        ),
        Queue("payouts", "Payouts waiting for review", Payout, (Payout.status == PayoutStatus.REVIEW,)),
        Queue("unknown", "Payouts with an unknown transfer", Payout, (Payout.status == PayoutStatus.UNKNOWN,)),
        Queue(
            "holds",
            "Commissions held by fraud signals",
            LedgerEntry,
            (
                LedgerEntry.hold_reason.is_not(None),
                LedgerEntry.hold_released_at.is_(None),
                LedgerEntry.status.in_(HOLDABLE),
            ),
        ),
        Queue("flagged", "Partners flagged for a person", Partner, (Partner.flag_reason.is_not(None),)),
        Queue("alerts", "Open alerts", Alert, (Alert.state == "open",)),
        Queue("applications", "Applications to decide", Application, (Application.status == "pending",)),
        Queue(
            "onboarding",
            "Overdue onboarding (partner manager tasks)",
            OnboardingTask,
            (OnboardingTask.escalated_at.is_not(None), OnboardingTask.completed_at.is_(None)),
        ),
        Queue(
            "at_risk",
            "At-risk partners (partner manager tasks)",
            AtRiskTask,
            (AtRiskTask.open_partner_id.is_not(None),),
        ),
    )
}


#: queues over a table whose rows belong to no partner (or are partners): the column they are ordered by
UNOWNED: dict[Any, Any] = {
    Partner: Partner.flagged_at,
    Alert: Alert.first_seen_at,
    Application: Application.confirmed_at,
}


def counts(session: Session) -> dict[str, int]:
    """Every queue's size, in one query."""
    columns = [
        select(func.count()).select_from(q.model).where(*q.where).scalar_subquery().label(q.name)
        for q in QUEUES.values()
    ]
    row = session.execute(select(*columns)).one()
    return {name: int(value) for name, value in zip(QUEUES, row, strict=True)}


def rows(session: Session, name: str, *, page: int = 1, per_page: int = PAGE) -> tuple[list[dict[str, Any]], bool]:
    """One page of the queue ``name`` (oldest first) and whether there is a next page. Each row
    is the record plus ``partner_name`` and ``partner_manager`` where the record belongs to a
    partner."""
    queue = QUEUES[name]
    model = queue.model
    offset = max(page - 1, 0) * per_page
    if model in UNOWNED:
        query = select(model)
        order = UNOWNED[model]
        found = list(
            session.scalars(query.where(*queue.where).order_by(order, model.id).offset(offset).limit(per_page + 1))
        )
        return [
            {"record": r, "partner_name": getattr(r, "name", None), "partner_manager": None} for r in found[:per_page]
        ], len(found) > per_page
    result = session.execute(
        select(model, Partner.name, Partner.partner_manager)
        .join(Partner, Partner.id == model.partner_id)
        .where(*queue.where)
        .order_by(model.id)
        .offset(offset)
        .limit(per_page + 1)
    ).all()
    return [{"record": r, "partner_name": n, "partner_manager": m} for r, n, m in result[:per_page]], len(
        result
    ) > per_page
