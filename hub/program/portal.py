"""What a partner company sees of its own records, for the portal (``hub.web.portal``).

Every function takes the partner's id and reads only that partner's rows: a record of another
partner is ``None`` (the page answers 404, never "forbidden"). Lists are bounded (``LIMIT``) and
each is one query, or one per kind of row — never one per row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.mapping.money import from_minor_units
from hub.program.commissions import balances
from hub.program.models import DealRegistration, EmailPreference, LedgerEntry, Partner, Payout, Referral
from hub.program.segments import PeerComparison, peer_comparison
from hub.program.states import LedgerStatus, ReferralStatus

LIMIT: Final = 200
#: a CSV cell starting with one of these is read as a formula by spreadsheets
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Home:
    partner: Partner
    balances: dict[str, dict[str, int]]
    next_payment: date | None
    by_status: dict[str, int]
    recent: list[Referral] = field(default_factory=list)
    #: the partner's figures beside its segment's median (``shown`` only with enough peers)
    peers: PeerComparison | None = None


def home(session: Session, partner_id: int, *, today: date) -> Home | None:
    partner = session.get(Partner, partner_id)
    if partner is None:
        return None
    next_payment = session.scalar(
        select(func.min(LedgerEntry.expected_payment_date)).where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.status.in_([LedgerStatus.PENDING, LedgerStatus.APPROVED, LedgerStatus.IN_PAYOUT]),
            LedgerEntry.expected_payment_date >= today,
        )
    )
    counts = session.execute(
        select(Referral.status, func.count()).where(Referral.partner_id == partner_id).group_by(Referral.status)
    ).all()
    by_status = {str(getattr(status, "value", status)): int(n) for status, n in counts}
    recent = list(
        session.scalars(select(Referral).where(Referral.partner_id == partner_id).order_by(Referral.id.desc()).limit(5))
    )
    peers = peer_comparison(session, partner)
    return Home(partner, balances(session, partner_id), next_payment, by_status, recent, peers)


def referral_statuses() -> list[str]:
    return [s.value for s in ReferralStatus]


def referrals(
    session: Session, partner_id: int, *, status: str | None = None, search: str | None = None, limit: int = LIMIT
) -> list[Referral]:
    """The partner's referrals, newest first, by status and/or a search over company, domain,
    contact and tracking id."""
    query = select(Referral).where(Referral.partner_id == partner_id)
    if status:
        query = query.where(Referral.status == status)
    if search:
        like = f"%{search.strip().lower()[:100]}%"
        query = query.where(
            or_(
                func.lower(Referral.company_name).like(like),
                func.lower(Referral.company_domain).like(like),
                func.lower(Referral.contact_email).like(like),
                func.lower(Referral.contact_name).like(like),
                func.lower(Referral.tracking_id).like(like),
            )
        )
    return list(session.scalars(query.order_by(Referral.id.desc()).limit(limit)))


def referral(session: Session, partner_id: int, tracking_id: str) -> Referral | None:
    return session.scalars(
        select(Referral).where(Referral.partner_id == partner_id, Referral.tracking_id == tracking_id[:64])
    ).first()


def registrations(
    session: Session, partner_id: int, *, limit: int = LIMIT
) -> list[tuple[DealRegistration, str | None]]:
    """The partner's deal registrations, newest first, with the tracking id of the referral an
    approved one became."""
    rows = session.execute(
        select(DealRegistration, Referral.tracking_id)
        .outerjoin(Referral, Referral.id == DealRegistration.referral_id)
        .where(DealRegistration.partner_id == partner_id)
        .order_by(DealRegistration.id.desc())
        .limit(limit)
    ).all()
    return [(r, t) for r, t in rows]


def registration(session: Session, partner_id: int, registration_id: int) -> tuple[DealRegistration, str | None] | None:
    row = session.execute(
        select(DealRegistration, Referral.tracking_id)
        .outerjoin(Referral, Referral.id == DealRegistration.referral_id)
        .where(DealRegistration.partner_id == partner_id, DealRegistration.id == registration_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def entries(session: Session, partner_id: int, *, limit: int | None = LIMIT) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.partner_id == partner_id).order_by(LedgerEntry.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def payouts(session: Session, partner_id: int, *, limit: int = LIMIT) -> list[Payout]:
    return list(
        session.scalars(select(Payout).where(Payout.partner_id == partner_id).order_by(Payout.id.desc()).limit(limit))
    )


def payout(session: Session, partner_id: int, payout_id: int) -> tuple[Payout, list[LedgerEntry]] | None:
    found = session.scalars(select(Payout).where(Payout.partner_id == partner_id, Payout.id == payout_id)).first()
    if found is None:
        return None
    lines = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.partner_id == partner_id, LedgerEntry.payout_id == payout_id)
            .order_by(LedgerEntry.id)
        )
    )
    return found, lines


def rule_of(entry: LedgerEntry) -> str | None:
    value = (entry.rule_snapshot or {}).get("rule_name")
    return str(value) if value is not None else None


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text starting with ``= + - @`` (or a tab or CR) gets
    a leading apostrophe. Amounts are written as plain decimals, which never start with them
    except a negative amount, which is quoted the same way."""
    text = "" if value is None else str(getattr(value, "value", value))
    return "'" + text if text.startswith(FORMULA_START) else text


STATEMENT_COLUMNS: Final = (
    "entry_id",
    "created_at",
    "kind",
    "rule",
    "status",
    "amount",
    "currency",
    "expected_payment_date",
    "payout_id",
    "source",
)


def statement_csv(session: Session, partner_id: int) -> str:
    """The partner's whole ledger as CSV (oldest first), every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STATEMENT_COLUMNS)
    rows = session.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == partner_id).order_by(LedgerEntry.id))
    for e in rows:
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    e.id,
                    e.created_at.isoformat(),
                    e.kind,
                    rule_of(e),
                    e.status,
                    from_minor_units(e.amount_minor, e.currency),
                    e.currency,
                    e.expected_payment_date.isoformat() if e.expected_payment_date else "",
                    e.payout_id or "",
                    e.source_key,
                )
            ]
        )
    return out.getvalue()


def preferences(session: Session, partner_id: int) -> dict[int, bool]:
    """Unsubscribe group id -> opted out, as recorded."""
    rows = session.scalars(select(EmailPreference).where(EmailPreference.partner_id == partner_id))
    return {row.asm_group_id: row.opted_out for row in rows}
