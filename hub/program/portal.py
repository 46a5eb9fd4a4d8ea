"""What a partner company sees of its own records, for the portal (``hub.web.portal``).

Every function takes the partner's id and reads only that partner's rows: a record of another
partner is ``None`` (the page answers 404, never "forbidden"). Lists come a page (``PAGE`` rows)
at a time, newest first; each is one query, or one per kind of row —
never one per row. Totals are grouped sums and counts, never a pass over the partner's rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from hub.mapping.money import from_minor_units
from hub.program.commissions import balances
from hub.program.models import DealRegistration, EmailPreference, LedgerEntry, Partner, Payout, Referral
from hub.program.segments import PeerComparison, peer_comparison
from hub.program.states import LedgerStatus, ReferralStatus

#: rows on one page of a list (referrals, commission entries, payouts); older ones are a link away
PAGE: Final = 50
#: a CSV cell starting with one of these is read as a formula by spreadsheets
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list, newest first: ``older`` is the ``before`` value of the next page
    (``None`` on the last one)."""

    rows: list[T]
    older: int | None


def _page(session: Session, query: Select[Any], id_column: InstrumentedAttribute[int], before: int | None) -> Page[Any]:
    """The ``PAGE`` rows of ``query`` with an id below ``before``, newest first (keyset paging:
    each page is an index range, however far back it is)."""
    if before is not None:
        query = query.where(id_column < before)
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return Page(rows, int(rows[-1].id) if more else None)


def _page_of_rows(
    session: Session, query: Select[Any, Any], id_column: InstrumentedAttribute[int], before: int | None
) -> Page[tuple[Any, ...]]:
    """``_page`` for a query of several columns (the id column's entity first): tuples."""
    if before is not None:
        query = query.where(id_column < before)
    rows = [tuple(row) for row in session.execute(query.order_by(id_column.desc()).limit(PAGE + 1))]
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return Page(rows, int(rows[-1][0].id) if more else None)


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
    session: Session,
    partner_id: int,
    *,
    status: str | None = None,
    search: str | None = None,
    before: int | None = None,
) -> Page[Referral]:
    """A page of the partner's referrals, newest first, by status and/or a search over company,
    domain, contact and tracking id."""
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
    return _page(session, query, Referral.id, before)


def referral(session: Session, partner_id: int, tracking_id: str) -> Referral | None:
    return session.scalars(
        select(Referral).where(Referral.partner_id == partner_id, Referral.tracking_id == tracking_id[:64])
    ).first()


def registrations(
    session: Session, partner_id: int, *, before: int | None = None
) -> Page[tuple[DealRegistration, str | None]]:
    """A page of the partner's deal registrations, newest first, each with the tracking id of the
    referral an approved one became."""
    query = (
        select(DealRegistration, Referral.tracking_id)
        .outerjoin(Referral, Referral.id == DealRegistration.referral_id)
        .where(DealRegistration.partner_id == partner_id)
    )
    found = _page_of_rows(session, query, DealRegistration.id, before)
    return Page([(r, t) for r, t in found.rows], found.older)


def registration(session: Session, partner_id: int, registration_id: int) -> tuple[DealRegistration, str | None] | None:
    row = session.execute(
        select(DealRegistration, Referral.tracking_id)
        .outerjoin(Referral, Referral.id == DealRegistration.referral_id)
        .where(DealRegistration.partner_id == partner_id, DealRegistration.id == registration_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def entries(session: Session, partner_id: int, *, before: int | None = None) -> Page[LedgerEntry]:
    """A page of the partner's commission entries, newest first."""
    return _page(session, select(LedgerEntry).where(LedgerEntry.partner_id == partner_id), LedgerEntry.id, before)


def payouts(session: Session, partner_id: int, *, before: int | None = None) -> Page[Payout]:
    """A page of the partner's payouts, newest first."""
    return _page(session, select(Payout).where(Payout.partner_id == partner_id), Payout.id, before)


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
    e = LedgerEntry
    rows = session.execute(  # columns, not objects, and the rule's name, not the whole snapshot
        select(
            e.id,
            e.created_at,
            e.kind,
            e.rule_snapshot["rule_name"].as_string(),
            e.status,
            e.amount_minor,
            e.currency,
            e.expected_payment_date,
            e.payout_id,
            e.source_key,
        )
        .where(e.partner_id == partner_id)
        .order_by(e.id)
    )
    for entry_id, created_at, kind, rule, status, amount, currency, expected, payout_id, source in rows:
        # ids and dates are written as they are (digits first); every text cell is neutralised
        writer.writerow(
            (
                entry_id,
                created_at.isoformat(),
                safe_cell(kind),
                safe_cell(rule),
                safe_cell(status),
                safe_cell(from_minor_units(amount, currency)),
                safe_cell(currency),
                expected.isoformat() if expected else "",
                payout_id or "",
                safe_cell(source),
            )
        )
    return out.getvalue()


def preferences(session: Session, partner_id: int) -> dict[int, bool]:
    """Unsubscribe group id -> opted out, as recorded."""
    rows = session.scalars(select(EmailPreference).where(EmailPreference.partner_id == partner_id))
    return {row.asm_group_id: row.opted_out for row in rows}
