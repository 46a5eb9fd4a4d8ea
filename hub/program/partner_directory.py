"""The partners as an operator browses them: a filtered, paginated list (search by name or
e-mail; tier, segment, region, activity) and one partner's detail (referrals, ledger balance and
entries, payouts with their lines, e-mails and their status, audit trail).

Set-based: a page of the list is one query for the partners plus one grouped query for their
referral counts; the detail is a fixed number of queries whatever the partner holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.program.errors import NotFound
from hub.program.models import AuditEntry, LedgerEntry, Notification, Partner, Payout, Referral

PAGE = 50
RECENT = 50
ACTIVE_DAYS = 90
Activity = Literal["", "active", "quiet", "flagged", "inactive"]
ACTIVITIES: tuple[str, ...] = ("active", "quiet", "flagged", "inactive")


@dataclass(frozen=True)
class PartnerFilter:
    search: str = ""
    tier: str = ""
    segment: str = ""
    region: str = ""
    activity: str = ""


def facets(session: Session) -> dict[str, list[str]]:
    """The tiers, segments and regions in use (the list's filter choices)."""
    out: dict[str, list[str]] = {}
    for name, column in (("tier", Partner.tier), ("segment", Partner.segment), ("region", Partner.region)):
        out[name] = [
            v for v in session.scalars(select(column).where(column.is_not(None)).distinct().order_by(column)) if v
        ]
    return out


def list_partners(
    session: Session, f: PartnerFilter, *, now: datetime, page: int = 1, per_page: int = PAGE
) -> tuple[list[dict[str, Any]], bool]:
    """One page of partners (by name) matching ``f`` with their referral counts, and whether
    there is a next page."""
    query = select(Partner)
    if f.search:
        like = f"%{f.search.lower()}%"
        query = query.where(or_(func.lower(Partner.name).like(like), func.lower(Partner.email).like(like)))
    for column, value in ((Partner.tier, f.tier), (Partner.segment, f.segment), (Partner.region, f.region)):
        if value:
            query = query.where(column == value)
    quiet_since = now - timedelta(days=ACTIVE_DAYS)
    if f.activity == "active":
        query = query.where(Partner.status == "active", Partner.last_activity_at >= quiet_since)
    elif f.activity == "quiet":
        query = query.where(
            Partner.status == "active",
            or_(Partner.last_activity_at.is_(None), Partner.last_activity_at < quiet_since),
        )
    elif f.activity == "flagged":
        query = query.where(Partner.flag_reason.is_not(None))
    elif f.activity == "inactive":
        query = query.where(Partner.status != "active")
    found = list(
        session.scalars(
            query.order_by(Partner.name, Partner.id).offset(max(page - 1, 0) * per_page).limit(per_page + 1)
        )
    )
    shown = found[:per_page]
    counts: dict[int, int] = {}
    if shown:
        counts = {
            pid: int(n)
            for pid, n in session.execute(
                select(Referral.partner_id, func.count())
                .where(Referral.partner_id.in_([p.id for p in shown]))
                .group_by(Referral.partner_id)
            )
        }
    return [{"partner": p, "referrals": counts.get(p.id, 0)} for p in shown], len(found) > per_page


@dataclass
class PartnerDetail:
    partner: Partner
    referral_count: int
    referrals: list[Referral]
    #: currency -> ledger status -> sum of minor units
    balances: dict[str, dict[str, int]]
    entries: list[LedgerEntry]
    payouts: list[Payout]
    #: payout id -> its entries (the payout's lines)
    lines: dict[int, list[LedgerEntry]] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)


def payout_lines(session: Session, payout_ids: list[int]) -> dict[int, list[LedgerEntry]]:
    """The ledger entries of each payout, one query for all of them."""
    lines: dict[int, list[LedgerEntry]] = {pid: [] for pid in payout_ids}
    if payout_ids:
        for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.payout_id.in_(payout_ids)).order_by(LedgerEntry.id)
        ):
            lines[e.payout_id or 0].append(e)
    return lines


def partner_detail(session: Session, partner_id: int, *, recent: int = RECENT) -> PartnerDetail:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("no such partner")
    referral_count = session.scalar(select(func.count()).select_from(Referral).where(Referral.partner_id == partner_id))
    referrals = list(
        session.scalars(
            select(Referral).where(Referral.partner_id == partner_id).order_by(Referral.id.desc()).limit(recent)
        )
    )
    balances: dict[str, dict[str, int]] = {}
    for currency, status, amount in session.execute(
        select(LedgerEntry.currency, LedgerEntry.status, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.partner_id == partner_id)
        .group_by(LedgerEntry.currency, LedgerEntry.status)
    ):
        balances.setdefault(currency, {})[str(status)] = int(amount)
    entries = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.partner_id == partner_id)
            .order_by(LedgerEntry.id.desc())
            .limit(recent)
        )
    )
    payouts = list(
        session.scalars(select(Payout).where(Payout.partner_id == partner_id).order_by(Payout.id.desc()).limit(recent))
    )
    notifications = list(
        session.scalars(
            select(Notification)
            .where(Notification.partner_id == partner_id)
            .order_by(Notification.id.desc())
            .limit(recent)
        )
    )
    subjects = [f"partner:{partner_id}"]
    subjects += [f"referral:{r.tracking_id}" for r in referrals]
    subjects += [f"payout:{p.id}" for p in payouts]
    subjects += [f"ledger:{e.id}" for e in entries]
    audit = list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.subject.in_(subjects)).order_by(AuditEntry.id.desc()).limit(recent)
        )
    )
    return PartnerDetail(
        partner=partner,
        referral_count=int(referral_count or 0),
        referrals=referrals,
        balances=balances,
        entries=entries,
        payouts=payouts,
        lines=payout_lines(session, [p.id for p in payouts]),
        notifications=notifications,
        audit=audit,
    )
