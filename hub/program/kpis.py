"""Program KPIs, computed from the records at a moment ``at`` (UTC calendar months/quarters).

* ``active_partners``: partners with at least one referral in the ``active_days`` (90) before
  ``at``; ``active_share``: that over all partners with status active (a fraction, 4 places);
* ``referrals``: this calendar month's count against last month's;
* ``conversion_by_partner``: per partner, referrals whose deal was won / referrals;
* ``commission``: per currency, ``owed`` (pending + approved + in a payout) and ``paid``;
* ``time_to_first_referral_days``: per partner with a referral, whole days from joining to its
  first referral, and their median;
* ``retention``: of the partners active (a referral) in the previous quarter, the share that
  made a referral in this quarter so far.

Counts are integers, money is integer minor units per currency (never summed across them),
ratios are decimal strings (no floats in reports).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import median_low
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.program.models import LedgerEntry, Partner, Referral
from hub.program.rules import add_months, period_bounds
from hub.program.states import LedgerStatus, ReferralStatus

ACTIVE_DAYS = 90


def ratio(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))


def compute(session: Session, at: datetime, *, active_days: int = ACTIVE_DAYS) -> dict[str, Any]:
    at = at.astimezone(UTC)
    partners = list(session.scalars(select(Partner).order_by(Partner.id)))
    referrals = list(session.scalars(select(Referral).where(Referral.created_at <= at).order_by(Referral.id)))
    by_partner: dict[int, list[Referral]] = {}
    for r in referrals:
        by_partner.setdefault(r.partner_id, []).append(r)

    active_since = at - timedelta(days=active_days)
    listed = [p for p in partners if p.status == "active"]
    active = [p for p in listed if any(r.created_at >= active_since for r in by_partner.get(p.id, []))]

    month_start, _ = period_bounds(at, "month")
    last_month_start = datetime.combine(add_months(month_start.date(), -1), datetime.min.time(), UTC)
    this_month = sum(1 for r in referrals if r.created_at >= month_start)
    last_month = sum(1 for r in referrals if last_month_start <= r.created_at < month_start)

    conversion = {}
    for p in partners:
        mine = by_partner.get(p.id, [])
        won = sum(1 for r in mine if r.status == ReferralStatus.CLOSED_WON)
        conversion[str(p.id)] = {"name": p.name, "referrals": len(mine), "won": won, "rate": ratio(won, len(mine))}

    commission: dict[str, dict[str, int]] = {}
    for e in session.scalars(select(LedgerEntry).where(LedgerEntry.created_at <= at)):
        if e.status in (LedgerStatus.CANCELLED, LedgerStatus.REVERSED):
            continue
        per = commission.setdefault(e.currency, {"owed": 0, "paid": 0})
        per["paid" if e.status == LedgerStatus.PAID else "owed"] += e.amount_minor

    first_days = {}
    for p in partners:
        referred = by_partner.get(p.id)
        if referred:
            first_days[str(p.id)] = (min(r.created_at for r in referred) - p.created_at).days

    quarter_start, _ = period_bounds(at, "quarter")
    prev_start = datetime.combine(add_months(quarter_start.date(), -3), datetime.min.time(), UTC)
    prev_active = {r.partner_id for r in referrals if prev_start <= r.created_at < quarter_start}
    retained = {r.partner_id for r in referrals if r.created_at >= quarter_start} & prev_active

    return {
        "at": at.isoformat(),
        "partners": len(listed),
        "active_partners": len(active),
        "active_share": ratio(len(active), len(listed)),
        "referrals": {"this_month": this_month, "last_month": last_month, "change": this_month - last_month},
        "conversion_by_partner": conversion,
        "commission": dict(sorted(commission.items())),
        "time_to_first_referral_days": {
            "by_partner": first_days,
            "median": median_low(first_days.values()) if first_days else None,
        },
        "retention": {
            "previous_quarter_active": len(prev_active),
            "retained": len(retained),
            "rate": ratio(len(retained), len(prev_active)),
        },
    }
