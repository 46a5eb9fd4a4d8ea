"""MDF budgets: per partner, per period (calendar quarter or year, UTC), per currency.

The allowance comes from the program file (``mdf.budgets`` by tier, else ``mdf.default_budget``)
at the moment of asking; what is spoken for is one counter row per partner, period and currency
(``mdf_budgets``, unique). A request takes its amount with one conditional UPDATE (``used +
amount <= allowance``) after the row exists (inserted ignoring conflicts), so two requests
racing for the last of a budget cannot both win, on SQLite (one writer at a time) as on
PostgreSQL (the UPDATE re-checks the row it locks). A rejected request gives its amount back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, literal, select, union_all, update
from sqlalchemy.orm import Session

from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.store import utcnow
from hub.program.mdf.section import Mdf
from hub.program.models import MdfBudget, MdfRequest


def period_of(at: datetime, period: str) -> str:
    """``2026-Q4`` (quarter) or ``2026`` (year) for the moment ``at`` (UTC)."""
    at = at.astimezone(UTC)
    if period == "year":
        return f"{at.year:04d}"
    return f"{at.year:04d}-Q{(at.month - 1) // 3 + 1}"


def used(session: Session, partner_id: int, period: str, currency: str) -> int:
    found = session.scalar(
        select(MdfBudget.used_minor).where(
            MdfBudget.partner_id == partner_id, MdfBudget.period == period, MdfBudget.currency == currency
        )
    )
    return int(found or 0)


def take(session: Session, partner_id: int, period: str, currency: str, amount_minor: int, allowance: int) -> bool:
    """Speak for ``amount_minor`` of the budget, or False (nothing changed) when it would pass
    ``allowance``."""
    insert_ignoring_conflicts(
        session,
        MdfBudget,
        [{"partner_id": partner_id, "period": period, "currency": currency, "used_minor": 0, "updated_at": utcnow()}],
        ("partner_id", "period", "currency"),
    )
    result = session.execute(
        update(MdfBudget)
        .where(
            MdfBudget.partner_id == partner_id,
            MdfBudget.period == period,
            MdfBudget.currency == currency,
            MdfBudget.used_minor + amount_minor <= allowance,
        )
        .values(used_minor=MdfBudget.used_minor + amount_minor, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def give_back(session: Session, partner_id: int, period: str, currency: str, amount_minor: int) -> None:
    if amount_minor <= 0:
        return
    session.execute(
        update(MdfBudget)
        .where(MdfBudget.partner_id == partner_id, MdfBudget.period == period, MdfBudget.currency == currency)
        .values(used_minor=MdfBudget.used_minor - amount_minor, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def overview(session: Session, mdf: Mdf, partner_id: int, tier: str | None, at: datetime) -> dict[str, Any]:
    """The partner's budget this period: per currency, allowance, used and left (minor units)."""
    period = period_of(at, mdf.period)
    spoken = {
        code: int(n)
        for code, n in session.execute(
            select(MdfBudget.currency, MdfBudget.used_minor).where(
                MdfBudget.partner_id == partner_id, MdfBudget.period == period
            )
        )
    }
    codes = sorted(set(mdf.currencies(tier)) | set(spoken))
    budgets = {}
    for code in codes:
        allowance = mdf.allowance_minor(tier, code)
        taken = spoken.get(code, 0)
        budgets[code] = {"allowance_minor": allowance, "used_minor": taken, "left_minor": max(allowance - taken, 0)}
    return {"period": period, "budgets": budgets}


def mdf_budget_used(session: Session, at: datetime, period: str = "quarter") -> dict[str, Any]:
    """The KPI: MDF across all partners in the period (``quarter`` or ``year``) containing ``at``,
    per currency (minor units): ``requested`` (pending and approved requests, as the budget
    counters hold them), ``approved`` (approved requests) and ``claimed_approved`` (approved
    claims: what became payable). One statement."""
    from hub.program.models import MdfClaim

    key = period_of(at, period)
    parts = union_all(
        select(literal("requested").label("what"), MdfBudget.currency, func.sum(MdfBudget.used_minor).label("n"))
        .where(MdfBudget.period == key)
        .group_by(MdfBudget.currency),
        select(literal("approved"), MdfRequest.currency, func.sum(MdfRequest.amount_minor))
        .where(MdfRequest.period == key, MdfRequest.status == "approved")
        .group_by(MdfRequest.currency),
        select(literal("claimed_approved"), MdfClaim.currency, func.sum(MdfClaim.amount_minor))
        .join(MdfRequest, MdfRequest.id == MdfClaim.request_id)
        .where(MdfRequest.period == key, MdfClaim.status == "approved")
        .group_by(MdfClaim.currency),
    )
    by_currency: dict[str, dict[str, int]] = {}
    for what, code, n in session.execute(parts):
        by_currency.setdefault(code, {"requested": 0, "approved": 0, "claimed_approved": 0})[what] = int(n or 0)
    return {"period": key, "by_currency": dict(sorted(by_currency.items()))}
