"""An admin moves a deal to another partner and the money moves with it (issue 12, item 2):
before payment through the admin HTTP API, after payment and inside open payouts through the
CLI (``partnerhub deals attribute``), on SQLite and PostgreSQL, with the real app, the real
outbox job for transfers and the real payout run.

Before the fix the override changed ``deals.partner_id`` only: the old partner kept the
commission (``settle()`` rewrote a pending entry's amount but kept its ``partner_id``) and the
Stripe revenue facts kept the recurring revenue with the old partner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.payments import Revenue
from hub.pipeline.models import Alert, OutboxItem, WorkState
from hub.pipeline.store import utcnow
from hub.program import facts, payments
from hub.program import tick as program_tick
from hub.program.commissions import balances, settle_deal
from hub.program.models import (
    AuditEntry,
    Deal,
    LedgerEntry,
    Notification,
    Partner,
    PaymentCustomer,
    Payout,
    RevenueFact,
)
from hub.runtime.context import Hub
from hub.runtime.jobs import run_outbox_item
from tests.support.program_hub import cli, open_program_hub

TOKEN = "admin-token-made-up-for-the-reattribution-tests"
PROGRAM = """\
version: 1
commissions:
  - name: gold-deals
    tier: gold
    percent: "20"
    holding_days: 0
  - name: standard
    percent: "10"
    holding_days: 0
  - name: gold-recurring
    event: recurring_invoice_paid
    tier: gold
    percent: "30"
    holding_days: 0
  - name: recurring
    event: recurring_invoice_paid
    percent: "15"
    holding_days: 0
payouts:
  day_of_month: 1
  auto_approve_up_to: {USD: "100000"}
  auto_approve_run_cap: {USD: "1000000"}
"""


class FakeTransfers:
    """The Stripe connector's outbox side (``create_transfer``), at the provider boundary."""

    name = "stripe"
    actions = frozenset({"create_transfer"})

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def create_transfer(self, payload: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        self.sent.append(payload)
        return {
            "transfer_id": f"tr_{len(self.sent)}",
            "amount_minor": payload["amount_minor"],
            "currency": payload["currency"],
            "existing": False,
        }

    def outbox_actions(self) -> dict[str, Any]:
        return {"create_transfer": self.create_transfer}

    def find_transfers(self, payout_id: int) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    h = open_program_hub(database_url, redis_url, tmp_path, monkeypatch, program=PROGRAM, admin_token=TOKEN)
    h.connectors["stripe"] = FakeTransfers()
    yield h
    h.close()


def partner(h: Hub, name: str, *, tier: str | None = None, stripe: bool = False, paid_before: bool = False) -> int:
    with h.sessions() as s, s.begin():
        p = Partner(
            name=name,
            email=f"{name.lower()}@partners.example",
            status="active",
            tier=tier,
            created_at=utcnow(),
            stripe_account_id=f"acct_{name.lower()}" if stripe else None,
            payouts_enabled=stripe,
        )
        s.add(p)
        s.flush()
        if paid_before:  # paid once already: the run may approve this partner's payouts
            past = utcnow() - timedelta(days=90)
            s.add(
                Payout(
                    partner_id=p.id,
                    currency="USD",
                    amount_minor=1,
                    period="2000-01",
                    status="paid",
                    method="stripe",
                    created_at=past,
                    updated_at=past,
                    paid_at=past,
                )
            )
        return p.id


def won_deal(h: Hub, partner_id: int, amount_minor: int, name: str) -> int:
    """A won deal credited to the partner, its commission settled as the engine does."""
    with h.sessions() as s, s.begin():
        now = utcnow()
        deal = Deal(
            source="hubspot",
            external_id=f"deal-{name}",
            name=name,
            properties={},
            property_versions={},
            version_ms=0,
            deleted=False,
            status="closed_won",
            amount_minor=amount_minor,
            currency="USD",
            partner_id=partner_id,
            attribution_source="tracking_id",
            created_at=now,
            updated_at=now,
        )
        s.add(deal)
        s.flush()
        settle_deal(s, h.program, deal, s.get(Partner, partner_id), now=now)
        return deal.id


def entries(h: Hub, partner_id: int) -> list[tuple[str, str | None, int, str]]:
    with h.sessions() as s:
        return [
            (e.kind, e.source_key, e.amount_minor, e.status)
            for e in s.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == partner_id).order_by(LedgerEntry.id))
        ]


def mails(h: Hub, partner_id: int) -> list[str]:
    with h.sessions() as s:
        return [
            n.kind
            for n in s.scalars(
                select(Notification).where(Notification.partner_id == partner_id).order_by(Notification.id)
            )
        ]


def alerts(h: Hub) -> dict[str, str]:
    with h.sessions() as s:
        return {a.kind: a.message for a in s.scalars(select(Alert).where(Alert.state == "open"))}


def payout_of(h: Hub, partner_id: int, period: str) -> Payout:
    with h.sessions() as s:
        return s.scalars(select(Payout).where(Payout.partner_id == partner_id, Payout.period == period)).one()


def send_transfers(h: Hub) -> None:
    with h.sessions() as s:
        ids = list(
            s.scalars(
                select(OutboxItem.id).where(
                    OutboxItem.action == "create_transfer", OutboxItem.state == WorkState.PENDING
                )
            )
        )
    for item_id in ids:
        assert run_outbox_item(h, item_id) == WorkState.DONE


def tick(h: Hub, at: datetime) -> dict[str, Any]:
    return program_tick.tick(h, at)


def period(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def test_before_payment_the_api_moves_commission_and_recurring_revenue_to_the_new_partners_rules(hub: Hub) -> None:
    from fastapi.testclient import TestClient

    from hub.api.app import create_app

    h = hub
    old = partner(h, "Old")
    new = partner(h, "New", tier="gold")
    deal_id = won_deal(h, old, 1_000_000, "Acme expansion")  # USD 10,000
    with h.sessions() as s, s.begin():
        s.add(
            PaymentCustomer(
                source="stripe",
                external_id="cus_1",
                properties={},
                version_ms=1,
                deleted=False,
                partner_id=old,
                deal_id=deal_id,
                attribution_source="deal",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        s.flush()
        facts.record_fact(
            s,
            h,
            natural_key="stripe:invoice:in_1",
            source="stripe",
            kind="revenue",
            amount_minor=100_000,
            currency="USD",
            occurred_at=utcnow(),
            status="paid",
            recurrence="recurring",
            customer_id="cus_1",
            partner_id=old,
            deal_id=deal_id,
        )
    assert entries(h, old) == [
        ("commission", f"deal:{deal_id}", 100_000, "pending"),  # 10 % (standard)
        ("commission", "fact:1", 15_000, "pending"),  # 15 % (recurring)
    ]

    with TestClient(create_app(h)) as client:
        r = client.post(
            f"/api/v1/admin/deals/{deal_id}/attribution",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"partner_id": new, "reason": "New sourced it; Old only forwarded the lead"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        missing = client.post(
            f"/api/v1/admin/deals/{deal_id}/attribution",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"partner_id": 999_999, "reason": "typo"},
        )
        assert missing.status_code == 422 and "no partner" in missing.json()["detail"][0]["msg"]
        assert (
            client.post(
                "/api/v1/admin/deals/999999/attribution",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={"partner_id": new, "reason": "x"},
            ).status_code
            == 404
        )
    assert body["partner_id"] == new and body["attribution_source"] == "admin"
    assert [(m["outcome"], m["amount_minor"]) for m in body["money"]["moved_off"]] == [
        ("cancelled", 100_000),
        ("cancelled", 15_000),
    ]
    assert body["money"]["customers"] == ["cus_1"] and body["money"]["facts"] == ["stripe:invoice:in_1"]

    # the old partner's entries are cancelled; the new partner earns under its own (gold) rules
    assert entries(h, old) == [
        ("commission", f"deal:{deal_id}", 100_000, "cancelled"),
        ("commission", "fact:1", 15_000, "cancelled"),
    ]
    assert entries(h, new) == [
        ("commission", f"deal:{deal_id}", 200_000, "pending"),  # 20 % gold-deals
        ("commission", "fact:1", 30_000, "pending"),  # 30 % gold-recurring
    ]
    with h.sessions() as s:
        snaps = [
            e.rule_snapshot
            for e in s.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == new).order_by(LedgerEntry.id))
        ]
        assert [(x["rule_name"], x["tier"]) for x in snaps] == [("gold-deals", "gold"), ("gold-recurring", "gold")]
        assert s.scalars(select(PaymentCustomer)).one().partner_id == new
        assert s.scalars(select(RevenueFact)).one().partner_id == new
        audit = [
            (a.action, a.actor)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action != "program.load").order_by(AuditEntry.id))
        ]
        assert audit == [("attribution.override", "admin"), ("attribution.money", "admin")]
        emailed = s.scalars(select(OutboxItem).where(OutboxItem.action == "send_email")).all()
        assert sorted(i.payload["to"]["email"] for i in emailed) == ["new@partners.example", "old@partners.example"]
        removed = next(i for i in emailed if i.payload["to"]["email"] == "old@partners.example")
        assert removed.payload["subject"] == "Acme expansion is no longer credited to you"
        assert "$1,000.00: cancelled before payment" in removed.payload["text"]
        assert "New" not in removed.payload["text"].replace("Acme expansion", "")  # the other partner unnamed
    assert mails(h, old) == ["attribution_removed"] and mails(h, new) == ["attribution_added"]

    # the customer's next invoice is the new partner's; a replayed settlement changes nothing
    with h.sessions() as s, s.begin():
        payments.apply(
            s,
            h,
            "stripe",
            Revenue(
                key="stripe:invoice:in_2",
                customer_id="cus_1",
                amount_minor=100_000,
                currency="usd",
                occurred_at=utcnow(),
                status="paid",
                recurrence="recurring",
            ),
        )
        deal = s.get(Deal, deal_id)
        settle_deal(s, h.program, deal, s.get(Partner, new))
    assert entries(h, new)[2:] == [("commission", "fact:2", 30_000, "pending")]
    assert len(entries(h, old)) == 2 and len(entries(h, new)) == 3


def test_after_payment_the_cli_reverses_against_the_old_partners_next_payout(hub: Hub) -> None:
    h = hub
    old = partner(h, "Paid", stripe=True, paid_before=True)
    new = partner(h, "Gold", tier="gold", stripe=True, paid_before=True)
    deal_id = won_deal(h, old, 1_000_000, "Initech")
    first = utcnow() + timedelta(seconds=1)
    tick(h, first)
    send_transfers(h)
    assert payout_of(h, old, period(first)).status == "paid"
    assert entries(h, old) == [("commission", f"deal:{deal_id}", 100_000, "paid")]
    won_deal(h, old, 1_500_000, "Globex")  # the old partner earns 150,000 more before the next run

    out = cli("deals", "attribute", str(deal_id), "--partner", str(new), "--reason", "registration dispute won by Gold")
    result = json.loads(out.stdout)
    [moved] = result["money"]["moved_off"]
    assert (moved["outcome"], moved["amount_minor"], moved["reversal_id"] is not None) == ("reversed", 100_000, True)
    assert entries(h, old) == [
        ("commission", f"deal:{deal_id}", 100_000, "paid"),  # history is never edited
        ("commission", "deal:2", 150_000, "pending"),
        ("reversal", f"deal:{deal_id}", -100_000, "pending"),
    ]
    assert entries(h, new) == [("commission", f"deal:{deal_id}", 200_000, "pending")]
    assert mails(h, old)[-1] == "attribution_removed" and mails(h, new) == ["attribution_added"]
    with h.sessions() as s:
        moves = s.scalars(
            select(AuditEntry).where(AuditEntry.action != "program.load").order_by(AuditEntry.id)
        ).all()  # the program file's load is audited too
        assert [a.action for a in moves] == ["attribution.override", "attribution.money"]
        assert moves[0].actor.startswith("cli")

    # the next run nets the reversal: the old partner gets 150,000 - 100,000
    second = first + timedelta(days=32)
    tick(h, second)
    assert payout_of(h, old, period(second)).amount_minor == 50_000
    assert payout_of(h, new, period(second)).amount_minor == 200_000
    send_transfers(h)
    with h.sessions() as s:
        totals = {p: balances(s, p) for p in (old, new)}
    assert totals[old] == {"USD": {"pending": 0, "approved": 0, "paid": 150_000}}  # 100 + 150 - 100
    assert totals[new] == {"USD": {"pending": 0, "approved": 0, "paid": 200_000}}


def test_an_entry_in_a_payout_waiting_for_review_is_pulled_out_with_an_alert(hub: Hub) -> None:
    h = hub
    old = partner(h, "Review")  # first payout: waits for a person
    new = partner(h, "Other")
    moved_deal = won_deal(h, old, 1_000_000, "Hooli")
    won_deal(h, old, 500_000, "Pied Piper")
    at = utcnow() + timedelta(seconds=1)
    tick(h, at)
    payout = payout_of(h, old, period(at))
    assert (payout.status, payout.amount_minor) == ("review", 150_000)

    cli("deals", "attribute", str(moved_deal), "--partner", str(new), "--reason", "wrong partner")
    payout = payout_of(h, old, period(at))
    assert (payout.status, payout.amount_minor) == ("review", 50_000)  # shrunk, still for a person
    assert f"deal:{moved_deal}" not in {e[1] for e in entries(h, old) if e[3] != "cancelled"}
    assert entries(h, old) == [
        ("commission", f"deal:{moved_deal}", 100_000, "cancelled"),
        ("commission", "deal:2", 50_000, "in_payout"),
    ]
    assert entries(h, new) == [("commission", f"deal:{moved_deal}", 100_000, "pending")]
    assert "pulled out" in alerts(h)["payout_changed"]
    with h.sessions() as s:
        assert "payout.withdraw_entry" in [a.action for a in s.scalars(select(AuditEntry))]


def test_a_payout_approved_for_manual_payment_goes_back_to_review_and_an_empty_one_is_rejected(hub: Hub) -> None:
    h = hub
    manual = partner(h, "Manual", paid_before=True)  # no Stripe account: approved, paid by hand
    new = partner(h, "Taker")
    deal_id = won_deal(h, manual, 1_000_000, "Umbrella")
    at = utcnow() + timedelta(seconds=1)
    tick(h, at)
    assert payout_of(h, manual, period(at)).status == "approved"

    cli("deals", "attribute", str(deal_id), "--partner", str(new), "--reason", "moved")
    payout = payout_of(h, manual, period(at))
    assert (payout.status, payout.amount_minor) == ("rejected", 0)  # nothing left to pay by hand
    assert entries(h, manual) == [("commission", f"deal:{deal_id}", 100_000, "cancelled")]
    assert "manual" not in (alerts(h).get("payout_negative") or "")
    assert "pulled out" in alerts(h)["payout_changed"]


def test_an_entry_in_a_payout_whose_transfer_is_under_way_is_reversed_and_the_payout_left_alone(hub: Hub) -> None:
    h = hub
    old = partner(h, "Sending", stripe=True, paid_before=True)
    new = partner(h, "Later", tier="gold")
    deal_id = won_deal(h, old, 1_000_000, "Stark")
    at = utcnow() + timedelta(seconds=1)
    tick(h, at)
    payout = payout_of(h, old, period(at))
    assert (payout.status, payout.amount_minor) == ("sending", 100_000)

    cli("deals", "attribute", str(deal_id), "--partner", str(new), "--reason", "fraud review")
    payout = payout_of(h, old, period(at))
    assert (payout.status, payout.amount_minor) == ("sending", 100_000)  # never altered under a transfer
    assert entries(h, old) == [
        ("commission", f"deal:{deal_id}", 100_000, "in_payout"),
        ("reversal", f"deal:{deal_id}", -100_000, "pending"),
    ]
    assert entries(h, new) == [("commission", f"deal:{deal_id}", 200_000, "pending")]
    assert "Check the transfer" in alerts(h)["payout_entry_reversed"]

    send_transfers(h)  # the transfer lands: the old partner owes it back from the next payout
    assert payout_of(h, old, period(at)).status == "paid"
    later = at + timedelta(days=32)
    summary = tick(h, later)
    assert {"partner_id": old, "currency": "USD", "amount_minor": -100_000} in summary["payout_run"]["carried_over"]
    assert "owes" in alerts(h)["payout_negative"]


def test_moving_a_deal_back_and_forth_never_doubles_money(hub: Hub) -> None:
    h = hub
    a, b = partner(h, "Ann"), partner(h, "Bob", tier="gold")
    deal_id = won_deal(h, a, 1_000_000, "Wayne")
    for target in (b, a, b):
        cli("deals", "attribute", str(deal_id), "--partner", str(target), "--reason", "back and forth")
    live = {p: [e for e in entries(h, p) if e[3] != "cancelled"] for p in (a, b)}
    assert live[a] == [] and live[b] == [("commission", f"deal:{deal_id}", 200_000, "pending")]
    cli("deals", "attribute", str(deal_id), "--partner", "none", "--reason", "nobody sourced it")
    assert [e for e in entries(h, b) if e[3] != "cancelled"] == []
    with h.sessions() as s:
        assert s.get(Deal, deal_id).partner_id is None


def test_an_unattributed_deals_customers_and_invoices_follow_it_to_its_first_partner(hub: Hub) -> None:
    h = hub
    first = partner(h, "First")
    with h.sessions() as s, s.begin():
        now = utcnow()
        deal = Deal(
            source="hubspot",
            external_id="deal-orphan",
            name="Orphan",
            properties={},
            property_versions={},
            version_ms=0,
            deleted=False,
            status="closed_won",
            amount_minor=500_000,
            currency="USD",
            created_at=now,
            updated_at=now,
        )
        s.add(deal)
        s.flush()
        s.add(
            PaymentCustomer(
                source="stripe",
                external_id="cus_orphan",
                properties={},
                version_ms=1,
                deleted=False,
                deal_id=deal.id,
                created_at=now,
                updated_at=now,
            )
        )
        s.flush()
        facts.record_fact(
            s,
            h,
            natural_key="stripe:invoice:in_orphan",
            source="stripe",
            kind="revenue",
            amount_minor=20_000,
            currency="USD",
            occurred_at=now,
            status="paid",
            recurrence="recurring",
            customer_id="cus_orphan",
            deal_id=deal.id,
        )
        deal_id = deal.id
    assert entries(h, first) == []
    cli("deals", "attribute", str(deal_id), "--partner", str(first), "--reason", "found the partner")
    assert entries(h, first) == [
        ("commission", f"deal:{deal_id}", 50_000, "pending"),
        ("commission", "fact:1", 3_000, "pending"),
    ]
    assert mails(h, first) == ["attribution_added"]
