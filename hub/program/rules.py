"""What a commission rule pays now: the amount (half-even at the currency's exponent), capped
per period, with its holding period and a snapshot of the rule that produced it.

Pure computation over the program file and the ledger; ``hub.commissions`` writes the entries.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.mapping.money import to_minor_units
from hub.program.models import LedgerEntry
from hub.program.program_file import CommissionRule, commission_amount
from hub.program.states import LedgerStatus


class RulePartner(Protocol):
    """What a rule reads of a partner: a ``Partner`` row, or the partner as of another time
    (``hub.program.program_diff``: the tier it had then)."""

    @property
    def id(self) -> int: ...
    @property
    def tier(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def segment(self) -> str | None: ...


#: what a partner earned from a rule (by name) in [start, end) in one currency, the source being
#: recomputed left out: ``(partner_id, rule_name, currency, start, end, exclude_source) -> minor``
Earned = Callable[[int, str, str, datetime, datetime, "str | None"], int]


@dataclass(frozen=True)
class Due:
    """What a source (a deal, a revenue fact, a referral) should earn now."""

    amount_minor: int
    currency: str
    snapshot: dict[str, Any]
    approve_after: datetime


def period_bounds(at: datetime, period: str) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month, quarter or year containing ``at`` (UTC)."""
    at = at.astimezone(UTC)
    if period == "year":
        start, months = date(at.year, 1, 1), 12
    elif period == "quarter":
        start, months = date(at.year, 3 * ((at.month - 1) // 3) + 1, 1), 3
    else:
        start, months = date(at.year, at.month, 1), 1
    end = add_months(start, months)
    return datetime(start.year, start.month, start.day, tzinfo=UTC), datetime(end.year, end.month, end.day, tzinfo=UTC)


def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def proportion(amount_minor: int, part: int, whole: int) -> int:
    """``amount * part / whole`` rounded half-even to a whole minor unit (exact, no floats)."""
    if whole == 0:
        return 0
    value = Decimal(amount_minor) * Decimal(part) / Decimal(whole)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def earned_under_rule(
    session: Session,
    partner_id: int,
    rule_name: str,
    currency: str,
    start: datetime,
    end: datetime,
    *,
    exclude_source: str | None,
) -> int:
    """What the partner earned from the rule (by name) in [start, end), in one currency; the
    source being recomputed is left out so it never caps itself."""
    total = 0
    for entry in session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.currency == currency,
            LedgerEntry.status != LedgerStatus.CANCELLED,
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < end,
        )
    ):
        snap = entry.rule_snapshot or {}
        if snap.get("rule_name") == rule_name and (exclude_source is None or entry.source_key != exclude_source):
            total += entry.amount_minor
    return total


def due(
    session: Session,
    rule: CommissionRule,
    partner: RulePartner,
    *,
    event: str,
    base_minor: int | None,
    base_currency: str | None,
    at: datetime,
    source_key: str,
    extra: dict[str, Any] | None = None,
    scale: tuple[int, int] | None = None,
    earned: Earned | None = None,
) -> Due | None:
    """The entry ``rule`` makes for this partner on this amount at ``at``, or None (nothing to
    pay: no amount for a percentage, or the cap is used up). ``scale`` (part, whole) reduces the
    amount in proportion (a partly refunded invoice). ``earned`` says what counts against a cap
    (default: the ledger, ``earned_under_rule``; a hypothetical run passes its own figures)."""
    computed = commission_amount(rule, base_minor, base_currency)
    if computed is None:
        return None
    amount, currency = computed
    snapshot: dict[str, Any] = {
        "rule": rule.model_dump(mode="json"),
        "rule_name": rule.name,
        "event": event,
        "base_amount_minor": base_minor,
        "base_currency": base_currency,
        "tier": partner.tier,
        "region": partner.region,
        "segment": partner.segment,
        **(extra or {}),
    }
    if rule.requires is not None:  # met when earned (``commissions.meets``); kept with the entry
        snapshot["requires_met_at"] = at.isoformat()
    if scale is not None:
        snapshot["full_amount_minor"] = amount
        snapshot["scale"] = list(scale)
        amount = proportion(amount, *scale)
    if rule.cap is not None and rule.cap.currency == currency:
        start, end = period_bounds(at, rule.cap.period)
        limit = to_minor_units(rule.cap.amount, currency)
        if earned is None:
            used = earned_under_rule(session, partner.id, rule.name, currency, start, end, exclude_source=source_key)
        else:
            used = earned(partner.id, rule.name, currency, start, end, source_key)
        capped = max(0, min(amount, limit - used))
        if capped != amount:
            snapshot["capped_from"] = amount
            snapshot["cap_used_before"] = used
            amount = capped
    if amount <= 0:
        return None
    return Due(amount, currency, snapshot, at + timedelta(days=rule.holding_days))
