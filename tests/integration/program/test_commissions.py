"""Commission ledger: one live commission per deal, exact money, reversals once settled."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from hub.pipeline.store import utcnow
from hub.program.commissions import balances, settle_deal
from hub.program.models import Deal, LedgerEntry, Partner
from hub.program.program_file import (
    CommissionRule,
    FlatAmount,
    Program,
)


@pytest.fixture
def session(db_session):
    return db_session


PROGRAM = Program(
    version=1,
    commissions=[
        CommissionRule(name="gold", tier="gold", percent=Decimal("15")),
        CommissionRule(name="flat silver", tier="silver", flat=FlatAmount(amount=Decimal("500"), currency="EUR")),
        CommissionRule(name="standard", percent=Decimal("10")),
    ],
)


def make(session, tier="gold", amount=100_000, currency="USD"):  # type: ignore[no-untyped-def]
    now = utcnow()
    partner = Partner(name="P", email=f"p{now.timestamp()}@example.com", tier=tier, status="active", created_at=now)
    session.add(partner)
    session.flush()
    deal = Deal(
        source="hubspot",
        external_id=str(now.timestamp()),
        properties={},
        property_versions={},
        version_ms=0,
        deleted=False,
        status="closed_won",
        amount_minor=amount,
        currency=currency,
        partner_id=partner.id,
        created_at=now,
        updated_at=now,
    )
    session.add(deal)
    session.flush()
    return partner, deal


def entries(session, deal):  # type: ignore[no-untyped-def]
    return [
        (e.kind, e.amount_minor, e.currency, e.status)
        for e in session.scalars(select(LedgerEntry).where(LedgerEntry.deal_id == deal.id).order_by(LedgerEntry.id))
    ]


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
