"""Program KPIs, computed from the records at a moment ``at`` (UTC calendar months/quarters/years).

* ``active_partners``: partners with at least one referral in the ``active_days`` (90) before
  ``at``; ``active_share``: that over all partners with status active (a fraction, 4 places);
* ``referrals``: this calendar ``period``'s count (month, quarter or year: the period selector)
  against the previous one's;
* ``referrals_per_month``: the referrals of each of the ``months`` (12) calendar months up to
  ``at``, oldest first;
* ``conversion_by_partner``: per partner, referrals whose deal was won / referrals;
* ``commission``: per currency, ``owed`` (pending + approved + in a payout) and ``paid``;
* ``time_to_first_referral_days``: per partner with a referral, whole days from joining to its
  first referral, and their median;
* ``retention``: of the partners active (a referral) in the previous quarter, the share that
  made a referral in this quarter so far;
* ``lifecycle``: this ``period`` so far: time to onboard (median days), deal-registration
  processing time (median hours), partner engagement rate and the share of lifecycle actions
  automated (``hub.program.lifecycle_kpis.operations`` defines each).
* ``at_risk_partners``: partners with an at-risk task open at ``at`` (the health score,
  ``hub.program.health``; at the present moment: the ``at_risk`` review queue's size).

Counts are integers, money is integer minor units per currency (never summed across them),
ratios are decimal strings (no floats in reports).

One computation, set-based, nothing loads a referral or a ledger entry: grouped passes over the
referrals per partner (all time: count and first referral; won; the recent windows only over the
rows since the earliest window), one statement of per-month range counts, one pass over the
ledger (per currency and status), and the partner list. Each reads an index of migration 0006cn
and never the wide rows (history, payloads). ``partnerhub
report``, ``GET /api/v1/admin/kpis`` and the console's dashboard all call :func:`compute`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import median_low
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from hub.program import lifecycle_kpis
from hub.program.models import AtRiskTask, LedgerEntry, Partner, Referral
from hub.program.rules import add_months, period_bounds
from hub.program.states import LedgerStatus, ReferralStatus

ACTIVE_DAYS = 90
MONTHS = 12
Period = Literal["month", "quarter", "year"]
PERIODS: tuple[Period, ...] = ("month", "quarter", "year")
_SPAN = {"month": 1, "quarter": 3, "year": 12}


def ratio(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))


def _start(day: datetime, months: int) -> datetime:
    moved = add_months(day.date(), months)
    return datetime(moved.year, moved.month, moved.day, tzinfo=UTC)


def _count_since(start: datetime, end: datetime | None = None) -> ColumnElement[int]:
    """Per group: the referrals created in [start, end) (``end`` None: up to ``at``)."""
    when = (
        Referral.created_at >= start if end is None else and_(Referral.created_at >= start, Referral.created_at < end)
    )
    return func.sum(case((when, 1), else_=0))


def _per_month(session: Session, first: datetime, at: datetime) -> dict[str, int]:
    """The referrals created in each calendar month from ``first``'s (a month's start) up to
    ``at``: one statement of range counts, each read off the ``created_at`` index."""
    starts = [first]
    while _start(starts[-1], 1) <= at:
        starts.append(_start(starts[-1], 1))
    columns = [
        select(func.count())
        .select_from(Referral)
        .where(Referral.created_at >= start, Referral.created_at < _start(start, 1), Referral.created_at <= at)
        .scalar_subquery()
        for start in starts
    ]
    row = session.execute(select(*columns)).one()
    return {start.strftime("%Y-%m"): int(n) for start, n in zip(starts, row, strict=True)}


def compute(
    session: Session,
    at: datetime,
    *,
    period: Period = "month",
    active_days: int = ACTIVE_DAYS,
    months: int = MONTHS,
) -> dict[str, Any]:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    at = at.astimezone(UTC)
    active_since = at - timedelta(days=active_days)
    period_start, period_end = period_bounds(at, period)
    last_period_start = _start(period_start, -_SPAN[period])
    quarter_start, _ = period_bounds(at, "quarter")
    prev_quarter_start = _start(quarter_start, -3)
    month_start, _ = period_bounds(at, "month")
    month_starts = [_start(month_start, -n) for n in range(months - 1, -1, -1)]

    partners = session.execute(
        select(Partner.id, Partner.name, Partner.status, Partner.created_at).order_by(Partner.id)
    ).all()
    # per partner: referrals and the first one (all time), won, and the counts of the recent windows
    per_partner: dict[int, tuple[int, int, datetime | None, int, int, int]] = {
        pid: (int(n), 0, first, 0, 0, 0)
        for pid, n, first in session.execute(
            select(Referral.partner_id, func.count(), func.min(Referral.created_at))
            .where(Referral.created_at <= at)
            .group_by(Referral.partner_id)
        )
    }
    for pid, won in session.execute(
        select(Referral.partner_id, func.count())
        .where(Referral.status == ReferralStatus.CLOSED_WON, Referral.created_at <= at)
        .group_by(Referral.partner_id)
    ):
        total, _, first, *_ = per_partner[pid]
        per_partner[pid] = (total, int(won), first, 0, 0, 0)
    for pid, lately, this_quarter, previous_quarter in session.execute(
        select(
            Referral.partner_id,
            _count_since(active_since),
            _count_since(quarter_start),
            _count_since(prev_quarter_start, quarter_start),
        )
        .where(Referral.created_at >= min(active_since, prev_quarter_start), Referral.created_at <= at)
        .group_by(Referral.partner_id)
    ):
        total, won, first, *_ = per_partner[pid]
        per_partner[pid] = (total, won, first, int(lately), int(this_quarter), int(previous_quarter))
    # per calendar month (UTC), from the earliest month any figure needs
    per_month = _per_month(session, min(last_period_start, month_starts[0]), at)

    def referrals_between(start: datetime, end: datetime) -> int:
        total, day = 0, start
        while day < end:
            total += per_month.get(day.strftime("%Y-%m"), 0)
            day = _start(day, 1)
        return total

    listed = {p.id for p in partners if p.status == "active"}
    active = sum(1 for pid, row in per_partner.items() if pid in listed and row[3])
    this_period = referrals_between(period_start, _start(period_start, _SPAN[period]))
    last_period = referrals_between(last_period_start, period_start)
    retained = sum(1 for row in per_partner.values() if row[4] and row[5])
    prev_active = sum(1 for row in per_partner.values() if row[5])

    conversion = {}
    first_days = {}
    for p in partners:
        total, won, first = per_partner.get(p.id, (0, 0, None))[:3]
        conversion[str(p.id)] = {
            "name": p.name,
            "referrals": int(total),
            "won": int(won or 0),
            "rate": ratio(int(won or 0), int(total)),
        }
        if first is not None:
            first_days[str(p.id)] = (first - p.created_at).days

    commission: dict[str, dict[str, int]] = {}
    for currency, status, amount in session.execute(
        select(LedgerEntry.currency, LedgerEntry.status, func.sum(LedgerEntry.amount_minor))
        .where(
            LedgerEntry.created_at <= at,
            LedgerEntry.status.not_in([LedgerStatus.CANCELLED, LedgerStatus.REVERSED]),
        )
        .group_by(LedgerEntry.currency, LedgerEntry.status)
    ):
        per = commission.setdefault(currency, {"owed": 0, "paid": 0})
        per["paid" if status == LedgerStatus.PAID else "owed"] += int(amount)

    data = {
        "at": at.isoformat(),
        "partners": len(listed),
        "active_partners": active,
        "active_share": ratio(active, len(listed)),
        "referrals": {
            "period": period,
            "this_period": this_period,
            "last_period": last_period,
            "change": this_period - last_period,
        },
        "referrals_per_month": [
            {"month": start.strftime("%Y-%m"), "referrals": per_month.get(start.strftime("%Y-%m"), 0)}
            for start in month_starts
        ],
        "conversion_by_partner": conversion,
        "commission": dict(sorted(commission.items())),
        "time_to_first_referral_days": {
            "by_partner": first_days,
            "median": median_low(first_days.values()) if first_days else None,
        },
        "retention": {
            "previous_quarter_active": prev_active,
            "retained": retained,
            "rate": ratio(retained, prev_active),
        },
    }
    # the lifecycle block: this period up to ``at`` (``hub.program.lifecycle_kpis.operations``)
    data["lifecycle"] = lifecycle_kpis.operations(
        session, period_start, min(period_end, at + timedelta(microseconds=1))
    )
    data["at_risk_partners"] = _at_risk_partners(session, at)
    return data


# -- the health score's KPI -------------------------------------------------------------------------


def _at_risk_partners(session: Session, at: datetime) -> int:
    """Partners whose at-risk task was open at ``at`` (opened by then, not closed by then)."""
    return int(
        session.scalar(
            select(func.count(func.distinct(AtRiskTask.partner_id))).where(
                AtRiskTask.opened_at <= at, (AtRiskTask.closed_at.is_(None)) | (AtRiskTask.closed_at > at)
            )
        )
        or 0
    )


def as_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The KPIs of :func:`compute` as (kpi, value) text rows: ``partnerhub report``'s table and
    CSV, and the dashboard's CSV export."""
    from hub.program.email.formatting import format_money

    period = data["referrals"]["period"]
    rows: list[tuple[str, str]] = [
        ("partners", str(data["partners"])),
        ("active partners", str(data["active_partners"])),
        ("active share", data["active_share"] or ""),
        (f"referrals this {period}", str(data["referrals"]["this_period"])),
        (f"referrals last {period}", str(data["referrals"]["last_period"])),
        ("median days to first referral", str(data["time_to_first_referral_days"]["median"] or "")),
        ("retention (previous quarter)", data["retention"]["rate"] or ""),
        ("at-risk partners", str(data["at_risk_partners"])),
    ]
    for currency, per in data["commission"].items():
        rows.append((f"commission owed {currency}", format_money(per["owed"], currency)))
        rows.append((f"commission paid {currency}", format_money(per["paid"], currency)))
    life = data["lifecycle"]
    rows += [
        (f"median days to onboard (this {period})", life["time_to_onboard_days"]["median"] or ""),
        (
            f"median hours to decide a registration (this {period})",
            life["registration_processing_hours"]["median"] or "",
        ),
        (f"engagement rate (this {period})", life["engagement"]["rate"] or ""),
        (f"lifecycle actions automated (this {period})", life["automation"]["share"] or ""),
    ]
    for pid, conv in data["conversion_by_partner"].items():
        rows.append(
            (
                f"conversion partner {pid} ({conv['name']})",
                f"{conv['won']}/{conv['referrals']}" + (f" = {conv['rate']}" if conv["rate"] else ""),
            )
        )
    return rows
