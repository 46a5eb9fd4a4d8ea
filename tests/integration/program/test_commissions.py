"""Commission ledger: one live commission per deal, exact money, reversals once settled."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from hub.mapping import MappingFileError
from hub.pipeline.store import utcnow
from hub.program.commissions import balances, settle_deal
from hub.program.models import Deal, LedgerEntry, Partner
from hub.program.program_file import (
    CommissionRule,
    FlatAmount,
    PayoutSchedule,
    Program,
    commission_amount,
    load_program,
)
from tests.support.servers import REPO


@pytest.fixture
def session(db_session):
    return db_session


PROGRAM = Program(version=1, commissions=[
    CommissionRule(name="gold", tier="gold", percent=Decimal("15")),
    CommissionRule(name="flat silver", tier="silver", flat=FlatAmount(amount=Decimal("500"), currency="EUR")),
    CommissionRule(name="standard", percent=Decimal("10")),
])


def make(session, tier="gold", amount=100_000, currency="USD"):  # type: ignore[no-untyped-def]
    now = utcnow()
    partner = Partner(name="P", email=f"p{now.timestamp()}@example.com", tier=tier, status="active", created_at=now)
    session.add(partner)
    session.flush()
    deal = Deal(source="hubspot", external_id=str(now.timestamp()), properties={}, property_versions={}, version_ms=0,
                deleted=False, status="closed_won", amount_minor=amount, currency=currency, partner_id=partner.id,
                created_at=now, updated_at=now)
    session.add(deal)
    session.flush()
    return partner, deal


def entries(session, deal):  # type: ignore[no-untyped-def]
    return [(e.kind, e.amount_minor, e.currency, e.status) for e in
            session.scalars(select(LedgerEntry).where(LedgerEntry.deal_id == deal.id).order_by(LedgerEntry.id))]


@pytest.mark.parametrize("tier, amount, currency, expected", [
    ("gold", 123_456, "USD", (18_518, "USD")),        # 15 % of 1,234.56 = 185.184 -> 185.18
    ("gold", 125, "USD", (19, "USD")),                # 18.75 -> 19? half-even of 18.75 is 19 (not a tie)
    ("bronze", 125, "USD", (12, "USD")),              # 10 % of 1.25 = 0.125 -> 0.12 (half-even tie)
    ("bronze", 135, "USD", (14, "USD")),              # 0.135 -> 0.14 (half-even tie, odd neighbour)
    ("bronze", 1_000_005, "JPY", (100_000, "JPY")),   # zero-decimal currency: 100,000.5 yen -> 100,000
    ("bronze", 1_234_567, "KWD", (123_457, "KWD")),   # three decimals: 123.4567 -> 123.457
    ("silver", 999_999, "USD", (50_000, "EUR")),      # flat, in the rule's own currency: no conversion
])
def test_commission_amounts(tier, amount, currency, expected):
    rule = PROGRAM.commission_rule("deal_won", tier)
    assert commission_amount(rule, amount, currency) == expected


def test_replayed_close_never_makes_a_second_entry(session):
    partner, deal = make(session)
    first = settle_deal(session, PROGRAM, deal, partner)
    assert first.earned is not None and first.earned.amount_minor == 15_000
    again = settle_deal(session, PROGRAM, deal, partner)
    assert again.earned is None
    assert entries(session, deal) == [("commission", 15_000, "USD", "pending")]


def test_won_reopened_won_again_with_new_amount_one_live_commission(session):
    partner, deal = make(session)
    settle_deal(session, PROGRAM, deal, partner)
    deal.status = "proposal_sent"
    assert settle_deal(session, PROGRAM, deal, partner).cancelled is not None
    assert entries(session, deal) == [("commission", 15_000, "USD", "cancelled")]
    deal.status, deal.amount_minor = "closed_won", 200_000
    result = settle_deal(session, PROGRAM, deal, partner)
    assert result.earned is not None
    assert entries(session, deal) == [("commission", 30_000, "USD", "pending")]
    assert balances(session, partner.id) == {"USD": {"pending": 30_000, "approved": 0, "paid": 0}}


def test_amount_edit_recomputes_pending(session):
    partner, deal = make(session)
    settle_deal(session, PROGRAM, deal, partner)
    deal.amount_minor = 50_000
    assert settle_deal(session, PROGRAM, deal, partner).earned is None  # no second "closed" email
    assert entries(session, deal) == [("commission", 7_500, "USD", "pending")]


def test_change_after_payment_becomes_a_reversal_and_a_new_entry(session):
    partner, deal = make(session)
    settle_deal(session, PROGRAM, deal, partner)
    entry = session.scalars(select(LedgerEntry)).one()
    entry.status = "paid"
    deal.amount_minor = 80_000
    result = settle_deal(session, PROGRAM, deal, partner)
    assert result.reversed is not None and result.earned is not None
    assert entries(session, deal) == [
        ("commission", 15_000, "USD", "paid"),
        ("reversal", -15_000, "USD", "pending"),
        ("commission", 12_000, "USD", "pending"),
    ]
    # replay: nothing more
    assert settle_deal(session, PROGRAM, deal, partner) == type(result)()
    assert len(entries(session, deal)) == 3
    # lost after payment: the new pending one is cancelled, the paid one stays reversed
    deal.status = "closed_lost"
    settle_deal(session, PROGRAM, deal, partner)
    assert entries(session, deal)[-1] == ("commission", 12_000, "USD", "cancelled")
    assert balances(session, partner.id) == {"USD": {"pending": -15_000, "approved": 0, "paid": 15_000}}


def test_unattributed_or_amountless_deal_earns_nothing(session):
    partner, deal = make(session, tier="bronze")
    assert settle_deal(session, PROGRAM, deal, None).earned is None
    deal.amount_minor = None
    assert settle_deal(session, PROGRAM, deal, partner).earned is None
    assert entries(session, deal) == []


@pytest.mark.parametrize("earned, expected", [
    (date(2026, 11, 23), date(2026, 12, 15)),
    (date(2026, 12, 31), date(2027, 1, 15)),
    (date(2026, 1, 31), date(2026, 2, 15)),
])
def test_expected_payment_date_default_is_15th_of_next_month(earned, expected):
    assert PayoutSchedule().expected_date(earned) == expected


def test_default_program_file_loads():
    program = load_program(REPO / "mappings")
    assert program.attribution.window_days == 90
    assert program.commission_rule("deal_won", "gold").name == "gold tier"


def test_broken_program_file_reports_file_line(tmp_path):
    (tmp_path / "program.yaml").write_text("version: 1\ncommissions:\n  - name: x\n    percent: \"10\"\n    flat_fee: 3\n")
    with pytest.raises(MappingFileError) as info:
        load_program(tmp_path)
    assert any("program.yaml:5:5:" in line and "flat_fee" in line for line in info.value.errors), info.value.errors
