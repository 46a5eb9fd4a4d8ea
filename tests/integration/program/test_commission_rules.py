"""Commission rules, table-driven: each case is a program, what happens, and the ledger it must
leave (kind, amount in minor units, currency, status), through the real entry points of the
engine (``settle_deal`` as the deal flow calls it, ``facts.record_fact`` as payment connectors
call it, the scheduled approval pass and the payout run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sendgrid import SendGridSettings
from hub.mapping import MappingStore
from hub.pipeline.store import utcnow
from hub.program import facts, payouts
from hub.program.commissions import balances, settle_deal
from hub.program.models import Deal, LedgerEntry, Partner, Payout
from hub.program.program_file import (
    Cap,
    CommissionRule,
    FlatAmount,
    PayoutSchedule,
    Program,
)
from hub.runtime.settings import ProgramSettings
from tests.support.servers import REPO

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A hub stand-in for the engine: the program file, a program clock we move, and the shipped
    mapping files (a deal's partner data is owed to its CRM as in the running hub)."""

    def __init__(self, program: Program, now: datetime = T0):
        self.program = program
        self.connectors: dict[str, Any] = {}
        self.now = now
        self.mappings = MappingStore(REPO / "mappings")

    @property
    def settings(self) -> Any:
        return SimpleNamespace(program=ProgramSettings(clock_now=self.now), sendgrid=SendGridSettings())


def rule(name: str, **kw: Any) -> CommissionRule:
    if "percent" in kw:
        kw["percent"] = Decimal(kw["percent"])
    return CommissionRule(name=name, holding_days=kw.pop("holding_days", 0), **kw)


def flat(amount: str, currency: str) -> FlatAmount:
    return FlatAmount(amount=Decimal(amount), currency=currency)


def partner(session, tier: str | None = "gold", **kw: Any) -> Partner:  # type: ignore[no-untyped-def]
    p = Partner(
        name="P",
        email=f"p{utcnow().timestamp()}@example.com",
        tier=tier,
        status="active",
        created_at=T0 - timedelta(days=400),
        **kw,
    )
    session.add(p)
    session.flush()
    return p


def won(session, hub: Clock, p: Partner, amount: int, currency: str = "USD", **props: Any) -> Deal:  # type: ignore[no-untyped-def]
    now = hub.now
    deal = Deal(
        source="hubspot",
        external_id=f"d{utcnow().timestamp()}",
        properties=props,
        property_versions={},
        version_ms=0,
        deleted=False,
        status="closed_won",
        amount_minor=amount,
        currency=currency,
        partner_id=p.id,
        created_at=now,
        updated_at=now,
    )
    session.add(deal)
    session.flush()
    settle_deal(session, hub.program, deal, p, now=now)
    return deal


def invoice(
    session,
    hub: Clock,
    p: Partner,
    key: str,
    amount: int,
    currency: str = "USD",
    *,  # type: ignore[no-untyped-def]
    at: datetime,
    customer: str = "cus_1",
    product: str | None = None,
) -> None:
    facts.record_fact(
        session,
        hub,
        natural_key=key,
        source="stripe",
        kind="revenue",
        amount_minor=amount,
        currency=currency,
        occurred_at=at,
        status="paid",
        recurrence="recurring",
        customer_id=customer,
        partner_id=p.id,
        product=product,
        period_start=at,
    )


def refund(session, hub: Clock, key: str, of: str, amount: int, currency: str = "USD") -> None:  # type: ignore[no-untyped-def]
    facts.record_fact(
        session,
        hub,
        natural_key=key,
        source="stripe",
        kind="refund",
        amount_minor=-amount,
        currency=currency,
        occurred_at=hub.now,
        status="succeeded",
        revenue_key=of,
    )


def pay_all(session, p: Partner) -> None:  # type: ignore[no-untyped-def]
    """What a completed payout does to its entries."""
    for e in session.scalars(
        select(LedgerEntry).where(LedgerEntry.partner_id == p.id, LedgerEntry.status != "cancelled")
    ):
        e.status = "paid"


def ledger(session, p: Partner) -> list[tuple[str, int, str, str]]:  # type: ignore[no-untyped-def]
    return [
        (e.kind, e.amount_minor, e.currency, e.status)
        for e in session.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == p.id).order_by(LedgerEntry.id))
    ]


# -- the cases --------------------------------------------------------------------------------------


def case_percent(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier=None)
    won(s, hub, p, 123_456)  # 10 % of 1,234.56 = 123.456 -> 123.46
    return p


def case_flat(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="silver")
    won(s, hub, p, 999_999, "USD")  # flat EUR 500 whatever the deal: no conversion
    return p


def case_tier(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="gold")
    won(s, hub, p, 100_000)
    return p


def case_region_and_product(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier=None, region="EMEA")
    won(s, hub, p, 100_000, "EUR")  # EMEA rule: 12 %
    won(s, hub, p, 100_000, "EUR", product="addon")  # product rule first: 5 %
    return p


def case_recurring_months(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier=None)
    for month in range(4):  # 20 % for the first 3 months of the customer
        invoice(s, hub, p, f"in_{month}", 10_000, at=T0 + timedelta(days=31 * month))
    return p


def case_recurring_for_life(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier=None)
    for month in range(3):
        invoice(s, hub, p, f"in_{month}", 10_000, at=T0 + timedelta(days=365 * month), product="lifetime")
    return p


def case_cap(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="capped")  # 10 %, at most USD 100 a month
    for _ in range(3):
        won(s, hub, p, 60_000)  # 60, then 40 (capped), then nothing
    hub.now = T0 + timedelta(days=31)  # a new month: a new cap
    won(s, hub, p, 60_000)
    return p


def case_holding_period(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="held")  # 10 %, held 30 days
    won(s, hub, p, 100_000)
    payouts.approve_due(s, T0 + timedelta(days=29, hours=23))
    assert ledger(s, p)[0][3] == "pending"
    payouts.approve_due(s, T0 + timedelta(days=30))
    return p


def case_partial_refund(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier=None)
    invoice(s, hub, p, "in_1", 10_000, at=T0)  # 20 % = 20.00
    refund(s, hub, "re_1", "in_1", 2_500)  # a quarter back: 15.00, the pending entry edited
    refund(s, hub, "re_1", "in_1", 2_500)  # the same refund again: nothing more
    return p


def case_refund_after_payout(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier=None)
    invoice(s, hub, p, "in_1", 10_000, at=T0)
    pay_all(s, p)
    refund(s, hub, "re_1", "in_1", 10_000)  # all of it, after payout: a negative entry
    return p


def case_partial_refund_after_payout(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier=None)
    invoice(s, hub, p, "in_1", 10_001, at=T0)  # 20 % of 100.01 = 20.002 -> 20.00
    pay_all(s, p)
    refund(s, hub, "re_1", "in_1", 3_333)  # net 66.68: 20.00 * 6668/10001 = 13.3347 -> 13.33
    return p


def case_reopened_after_payout(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="gold")
    deal = won(s, hub, p, 100_000)
    pay_all(s, p)
    deal.status = "proposal_sent"  # the deal is reopened in the CRM
    settle_deal(s, hub.program, deal, p, now=hub.now)
    return p


def case_lowered_after_payout(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="gold")
    deal = won(s, hub, p, 100_000)
    pay_all(s, p)
    deal.amount_minor = 60_000
    settle_deal(s, hub.program, deal, p, now=hub.now)
    return p


def case_two_currencies(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="gold")
    won(s, hub, p, 100_000, "USD")
    won(s, hub, p, 50_000, "EUR")
    assert balances(s, p.id) == {
        "USD": {"pending": 15_000, "approved": 0, "paid": 0},
        "EUR": {"pending": 7_500, "approved": 0, "paid": 0},
    }
    return p


def case_zero_decimal_currency(s, hub):  # type: ignore[no-untyped-def]
    p = partner(s, tier="gold")
    won(s, hub, p, 12_345, "JPY")  # 15 % of ¥12,345 = 1,851.75 -> ¥1,852
    won(s, hub, p, 12_350, "JPY")  # 1,852.5 -> ¥1,852 (half-even tie)
    return p


def case_qualified_referral(s, hub):  # type: ignore[no-untyped-def]
    from hub.program.commissions import settle_referral
    from hub.program.models import Referral

    p = partner(s, tier="bonus")
    ref = Referral(
        tracking_id="R-TEST000001",
        partner_id=p.id,
        company_name="Acme",
        status="submitted",
        history=[],
        created_at=T0,
        updated_at=T0,
    )
    s.add(ref)
    s.flush()
    settle_referral(s, hub.program, ref, p, now=T0)
    settle_referral(s, hub.program, ref, p, now=T0)  # replayed: once
    return p


PROGRAM = Program(
    version=1,
    commissions=[
        rule("bonus referral", event="referral_qualified", tier="bonus", flat=flat("25", "USD")),
        rule("addon", product="addon", percent="5"),
        rule("emea", region="EMEA", percent="12"),
        rule("gold", tier="gold", percent="15"),
        rule("silver flat", tier="silver", flat=flat("500", "EUR")),
        rule("capped", tier="capped", percent="10", cap=Cap(amount=Decimal("100"), currency="USD", period="month")),
        rule("held", tier="held", percent="10", holding_days=30),
        rule("lifetime share", event="recurring_invoice_paid", product="lifetime", percent="10"),
        rule("revenue share", event="recurring_invoice_paid", percent="20", months=3),
        rule("standard", percent="10"),
    ],
    payouts=PayoutSchedule(),
)

CASES = [
    ("percent", case_percent, [("commission", 12_346, "USD", "pending")]),
    ("flat", case_flat, [("commission", 50_000, "EUR", "pending")]),
    ("tier", case_tier, [("commission", 15_000, "USD", "pending")]),
    (
        "region and product",
        case_region_and_product,
        [("commission", 12_000, "EUR", "pending"), ("commission", 5_000, "EUR", "pending")],
    ),
    ("recurring months", case_recurring_months, [("commission", 2_000, "USD", "pending")] * 3),
    ("recurring for life", case_recurring_for_life, [("commission", 1_000, "USD", "pending")] * 3),
    (
        "cap per month",
        case_cap,
        [
            ("commission", 6_000, "USD", "pending"),
            ("commission", 4_000, "USD", "pending"),
            ("commission", 6_000, "USD", "pending"),
        ],
    ),
    ("holding period", case_holding_period, [("commission", 10_000, "USD", "approved")]),
    ("partial refund", case_partial_refund, [("commission", 1_500, "USD", "pending")]),
    (
        "refund after payout",
        case_refund_after_payout,
        [("commission", 2_000, "USD", "paid"), ("reversal", -2_000, "USD", "pending")],
    ),
    (
        "partial refund after payout",
        case_partial_refund_after_payout,
        [
            ("commission", 2_000, "USD", "paid"),
            ("reversal", -2_000, "USD", "pending"),
            ("commission", 1_333, "USD", "pending"),
        ],
    ),
    (
        "reopened deal after payout",
        case_reopened_after_payout,
        [("commission", 15_000, "USD", "paid"), ("reversal", -15_000, "USD", "pending")],
    ),
    (
        "lowered amount after payout",
        case_lowered_after_payout,
        [
            ("commission", 15_000, "USD", "paid"),
            ("reversal", -15_000, "USD", "pending"),
            ("commission", 9_000, "USD", "pending"),
        ],
    ),
    (
        "two currencies",
        case_two_currencies,
        [("commission", 15_000, "USD", "pending"), ("commission", 7_500, "EUR", "pending")],
    ),
    (
        "zero-decimal currency",
        case_zero_decimal_currency,
        [("commission", 1_852, "JPY", "pending"), ("commission", 1_852, "JPY", "pending")],
    ),
    ("qualified referral", case_qualified_referral, [("commission", 2_500, "USD", "pending")]),
]


@pytest.mark.parametrize("name, scenario, expected", CASES, ids=[c[0] for c in CASES])
def test_commission_cases(db_session, name, scenario, expected):
    hub = Clock(PROGRAM)
    p = scenario(db_session, hub)
    assert ledger(db_session, p) == expected
    for entry in db_session.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == p.id)):
        snap = entry.rule_snapshot or {}
        assert snap.get("rule_name"), entry.natural_key  # every entry names the rule behind it
        if entry.kind == "commission":
            assert snap["rule"]["name"] == snap["rule_name"]


def test_a_program_edit_does_not_rewrite_a_refunded_invoice(db_session):
    hub = Clock(PROGRAM)
    p = partner(db_session, tier=None)
    invoice(db_session, hub, p, "in_1", 10_000, at=T0)
    hub.program = Program(version=1, commissions=[rule("revenue share", event="recurring_invoice_paid", percent="50")])
    refund(db_session, hub, "re_1", "in_1", 5_000)
    assert ledger(db_session, p) == [("commission", 1_000, "USD", "pending")]  # 20 % (the snapshot) of 50.00


# -- netting in the payout run ---------------------------------------------------------------------


def test_clawbacks_net_in_the_next_payout_and_never_go_negative_silently(db_session):
    hub = Clock(
        Program(
            version=1,
            commissions=[rule("standard", percent="10")],
            payouts=PayoutSchedule(minimum={"USD": Decimal("5")}),
        )
    )
    p = partner(db_session, tier=None)
    q = partner(db_session, tier=None)
    deal = won(db_session, hub, p, 100_000)  # P: USD 100
    won(db_session, hub, q, 100_000, "USD")  # Q: USD 100 and EUR 3 (under no minimum)
    won(db_session, hub, q, 3_000, "EUR")
    pay_all(db_session, p)
    deal.status = "closed_lost"  # P's deal lost after payout: -100
    settle_deal(db_session, hub.program, deal, p, now=T0)
    won(db_session, hub, p, 40_000)  # P earns 40 more: net -60
    payouts.approve_due(db_session, T0)
    summary = payouts.run(db_session, hub, "2026-03", T0)
    made = {(x["partner_id"], x["currency"]): x["amount_minor"] for x in summary["payouts"]}
    assert made == {(q.id, "USD"): 10_000, (q.id, "EUR"): 300}
    assert {"partner_id": p.id, "currency": "USD", "amount_minor": -6_000} in summary["carried_over"]
    alerts = [a.key for a in db_session.scalars(select(__import__("hub.pipeline.models", fromlist=["Alert"]).Alert))]
    assert f"payout_negative:{p.id}:USD" in alerts
    # P's entries stay approved, outside any payout, for the next run
    assert {
        e.status
        for e in db_session.scalars(
            select(LedgerEntry).where(LedgerEntry.partner_id == p.id, LedgerEntry.status != "paid")
        )
    } == {"approved"}
    assert db_session.scalars(select(Payout).where(Payout.partner_id == p.id)).first() is None


# -- tiers -------------------------------------------------------------------------------------------


def test_quarterly_tier_review_moves_partners_and_tells_them(db_session):
    from hub.program import tick as program_tick
    from hub.program.models import AuditEntry, Notification, Referral
    from hub.program.program_file import TierLevel, Tiers

    program = Program(
        version=1,
        commissions=[rule("standard", percent="10")],
        tiers=Tiers(
            levels=[
                TierLevel(name="gold", min_referrals=2, min_won_revenue=flat("1000", "USD")),
                TierLevel(name="silver", min_referrals=2),
                TierLevel(name="bronze"),
            ]
        ),
    )
    hub = Clock(program, now=datetime(2026, 3, 10, tzinfo=UTC))  # in Q1
    star, busy, quiet = (partner(db_session, tier="bronze") for _ in range(3))
    for p, count in ((star, 2), (busy, 3), (quiet, 0)):
        for n in range(count):
            db_session.add(
                Referral(
                    tracking_id=f"R-T{p.id:03d}{n:05d}",
                    partner_id=p.id,
                    company_name="X",
                    status="submitted",
                    history=[],
                    created_at=hub.now,
                    updated_at=hub.now,
                )
            )
    won(db_session, hub, star, 150_000)  # USD 1,500 won in Q1
    won(db_session, hub, busy, 150_000, "EUR")  # EUR does not count for gold
    db_session.commit()

    from sqlalchemy.orm import sessionmaker

    hub.sessions = sessionmaker(bind=db_session.get_bind())  # type: ignore[attr-defined]
    first = program_tick.tick(hub, datetime(2026, 4, 2, tzinfo=UTC))  # Q2: review Q1
    assert first["tier_review"]["quarter"] == "2026-Q1"
    assert {m["partner_id"]: m["tier"] for m in first["tier_review"]["moved"]} == {star.id: "gold", busy.id: "silver"}
    assert program_tick.tick(hub, datetime(2026, 4, 3, tzinfo=UTC))["tier_review"] is None  # once
    db_session.expire_all()
    assert [db_session.get(Partner, p.id).tier for p in (star, busy, quiet)] == ["gold", "silver", "bronze"]
    audit = [(a.actor, a.subject, a.before, a.after["tier"]) for a in db_session.scalars(select(AuditEntry))]
    assert (("program", f"partner:{star.id}", {"tier": "bronze"}, "gold")) in audit
    mails = [
        (n.partner_id, n.subject)
        for n in db_session.scalars(
            select(Notification).where(Notification.kind == "tier_changed").order_by(Notification.id)
        )
    ]
    assert mails == [(star.id, "Your partner tier is now Gold"), (busy.id, "Your partner tier is now Silver")]
