"""Fraud signals hold money for a person (issue 12, item 4): a commission on a referral to the
partner's own domain, of partners whose payout details match, of a deal won minutes after its
referral, of a referral burst, or of a partner whose refund or lost-dispute rate crossed the
program file's threshold is held with its reason (admin API, CLI, partner statement), never in an
auto-approved payout, and its payout cannot be approved until a named person releases it. A lost
Stripe dispute reverses the commission like a refund.

Stripe events are read by the real Stripe connector (no API key: the events' objects as sent)
and applied by the domain as the worker does; decisions go through the admin API app and the
CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.api.app import create_app
from hub.pipeline.store import utcnow
from hub.program import tick as program_tick
from hub.program.commissions import settle_deal
from hub.program.models import AuditEntry, Deal, LedgerEntry, Partner, PaymentCustomer, Referral
from hub.program.partners import rotate_key
from hub.runtime.context import Hub
from tests.integration.program.test_money_gates import AUTH, account_event, run_cli, stripe_event
from tests.integration.program.test_payouts import (  # noqa: F401  (fixtures)
    PROGRAM,
    RUN_AT,
    add_partner,
    hub,
    payout_of,
    program_text,
)

WON_AT = datetime(2026, 11, 20, tzinfo=UTC)
TRACKING = itertools.count(1)
FRAUD = """\
fraud:
  won_within_minutes: 30
  burst: {max_referrals: 3, window_minutes: 60}
  loss_rates: {max_refund_percent: "30", max_lost_dispute_percent: "20", min_payments: 4, window_days: 90}
"""
FRAUD_PROGRAM = (
    PROGRAM.replace(
        "    holding_days: 0\n",
        '    holding_days: 0\n  - name: subscriptions\n    event: recurring_invoice_paid\n    percent: "20"\n'
        "    holding_days: 0\n",
    )
    + FRAUD
)


def held(h: Hub, partner_id: int) -> list[str | None]:
    with h.sessions() as s:
        return [
            e.hold_reason if e.hold_released_at is None else None
            for e in s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.partner_id == partner_id, LedgerEntry.kind == "commission")
                .order_by(LedgerEntry.id)
            )
        ]


def new_partner(h: Hub, email: str, **extra: Any) -> int:
    with h.sessions() as s, s.begin():
        p = Partner(name=email.split("@")[0], email=email, status="active", created_at=WON_AT, **extra)
        s.add(p)
        s.flush()
        return p.id


def referral(h: Hub, partner_id: int, at: datetime, *, contact: str = "buyer@customer.example", **extra: Any) -> int:
    with h.sessions() as s, s.begin():
        r = Referral(
            tracking_id=f"R-FRAUD{next(TRACKING)}",
            partner_id=partner_id,
            company_name="Customer",
            contact_email=contact,
            status="submitted",
            history=[],
            created_at=at,
            updated_at=at,
            **extra,
        )
        s.add(r)
        s.flush()
        return r.id


def win(h: Hub, partner_id: int, referral_id: int, at: datetime, amount_minor: int = 60_000) -> None:
    """The referral's deal is won at ``at`` (10 %: a commission of a tenth)."""
    with h.sessions() as s, s.begin():
        deal = Deal(
            source="hubspot",
            external_id=f"deal-{referral_id}",
            properties={},
            property_versions={},
            version_ms=0,
            deleted=False,
            status="closed_won",
            amount_minor=amount_minor,
            currency="USD",
            partner_id=partner_id,
            referral_id=referral_id,
            created_at=at,
            updated_at=at,
        )
        s.add(deal)
        s.flush()
        settle_deal(s, h.program, deal, s.get(Partner, partner_id), now=at)


@pytest.mark.parametrize("program_text", [FRAUD_PROGRAM])
def test_a_referral_to_the_partners_own_domain_is_held_until_a_named_person_releases_it(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    own = add_partner(h, "Own", 1_000, stripe=True)  # paid before; its e-mail: own@partners.example
    free = new_partner(h, "solo@gmail.com", stripe_account_id="acct_solo", payouts_enabled=True)
    by_domain = referral(h, own, WON_AT - timedelta(days=3), contact="cfo@partners.example")
    by_company = referral(
        h, own, WON_AT - timedelta(days=3), contact="x@elsewhere.example", company_domain="partners.example"
    )
    gmail = referral(h, free, WON_AT - timedelta(days=3), contact="friend@gmail.com")
    win(h, own, by_domain, WON_AT)
    win(h, own, by_company, WON_AT)
    win(h, free, gmail, WON_AT)
    reasons = held(h, own)
    assert reasons[0] is None  # add_partner's own deal (no referral)
    assert "own domain" in (reasons[1] or "") and "partners.example" in (reasons[1] or "")
    assert "referred company's domain" in (reasons[2] or "")
    assert held(h, free) == [None]  # a free-mail domain says nothing about the company

    with h.sessions() as s, s.begin():
        key = rotate_key(s, s.get(Partner, own))
    with TestClient(create_app(h)) as client:
        queue = client.get("/api/v1/admin/holds", headers=AUTH).json()
        statement = client.get("/api/v1/statement", headers={"Authorization": f"Bearer {key}"}).json()
    assert [(q["partner_id"], q["held"]) for q in queue] == [(own, True), (own, True)]
    assert [bool(line["held_for_review"]) for line in statement["entries"]] == [False, True, True]
    cli_queue = json.loads(run_cli("ledger", "holds", "--json").stdout)
    assert [q["id"] for q in cli_queue] == [q["id"] for q in queue]
    assert "own domain" in cli_queue[0]["hold_reason"]

    program_tick.tick(h, RUN_AT)  # USD 130, under the auto-approval limit: the holds decide
    payout = payout_of(h, own)
    assert payout.status == "review" and "held for review" in (payout.reason or "")
    refused = run_cli("payouts", "approve", str(payout.id), "--by", "Ada")
    assert refused.returncode == 4 and "release the hold" in refused.stderr, refused.stderr
    with TestClient(create_app(h)) as client:
        r = client.post(f"/api/v1/admin/payouts/{payout.id}/approve", headers=AUTH, json={"reason": "x", "by": "Ada"})
        assert r.status_code == 409 and "held for review" in r.json()["detail"]
        first, second = (q["id"] for q in queue)
        r = client.post(f"/api/v1/admin/ledger/{first}/release", headers=AUTH, json={"reason": "their customer too"})
        assert r.status_code == 422  # the person must be named
        r = client.post(f"/api/v1/admin/ledger/{first}/release", headers=AUTH, json={"reason": "checked", "by": "Ada"})
        assert r.status_code == 200 and r.json()["hold_released_by"] == "Ada" and r.json()["held"] is False
        assert (
            client.post(
                f"/api/v1/admin/ledger/{first}/release", headers=AUTH, json={"reason": "again", "by": "Ada"}
            ).status_code
            == 409
        )  # not held any more
    released = run_cli("ledger", "release", str(second), "--by", "Ada", "--reason", "subsidiary, checked")
    assert released.returncode == 0 and "released by Ada" in released.stdout, released.stderr
    approved = run_cli("payouts", "approve", str(payout.id), "--by", "Ada", "--reason", "holds checked")
    assert approved.returncode == 0 and "sending" in approved.stdout, approved.stderr
    with h.sessions() as s:
        audit = [(a.actor, a.action) for a in s.scalars(select(AuditEntry).where(AuditEntry.action.like("ledger.%")))]
    assert audit.count(("fraud-screening", "ledger.hold")) == 2
    assert audit.count(("Ada", "ledger.release_hold")) == 2


@pytest.mark.parametrize("program_text", [FRAUD_PROGRAM])
def test_matching_payout_details_hold_both_partners(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    first, second, honest = (add_partner(h, n, 6_000, stripe=True) for (n,) in (("First",), ("Second",), ("Honest",)))
    mail_a, mail_b = (add_partner(h, n, 6_000, stripe=True) for (n,) in (("MailA",), ("MailB",)))
    stripe_event(h, account_event("acct_first", "fpSHARED"))
    stripe_event(h, account_event("acct_honest", "fpOWN"))
    assert held(h, first) == [None]  # nobody shares it yet
    stripe_event(h, account_event("acct_second", "fpOTHER", "fpSHARED"))
    assert f"the same bank account as partner #{second}" in (held(h, first)[0] or "")
    assert f"the same bank account as partner #{first}" in (held(h, second)[0] or "")
    assert held(h, honest) == [None]
    stripe_event(h, account_event("acct_mailb", "fpB", email="Payouts@Shared.example"))
    stripe_event(h, account_event("acct_maila", "fpA", email="payouts@shared.example"))
    assert "the same payout e-mail" in (held(h, mail_a)[0] or "")
    assert "the same payout e-mail" in (held(h, mail_b)[0] or "")
    # a commission earned later by a partner whose details match is held as it is made
    later = referral(h, second, WON_AT - timedelta(days=2))
    win(h, second, later, WON_AT)
    assert all(held(h, second))
    with TestClient(create_app(h)) as client:
        queue = client.get("/api/v1/admin/holds", headers=AUTH).json()
    assert {q["partner_id"] for q in queue} == {first, second, mail_a, mail_b}


@pytest.mark.parametrize("program_text", [FRAUD_PROGRAM])
def test_a_deal_won_minutes_after_its_referral_and_a_referral_burst_are_held(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    fast = new_partner(h, "fast@fastco.example")
    patient = new_partner(h, "patient@slowco.example")
    quick = referral(h, fast, WON_AT - timedelta(minutes=12))
    slow = referral(h, patient, WON_AT - timedelta(minutes=31))
    win(h, fast, quick, WON_AT)
    win(h, patient, slow, WON_AT)
    assert "won too fast" in (held(h, fast)[0] or "") and "30 minutes" in (held(h, fast)[0] or "")
    assert held(h, patient) == [None]

    bursty = new_partner(h, "bursty@burst.example")
    calm = new_partner(h, "calm@calm.example")
    start = WON_AT - timedelta(days=5)
    burst = [referral(h, bursty, start + timedelta(minutes=10 * n)) for n in range(4)]  # 4 in 30 minutes
    spaced = [referral(h, calm, start + timedelta(minutes=25 * n)) for n in range(6)]  # never 4 in an hour
    win(h, bursty, burst[0], WON_AT)
    win(h, calm, spaced[2], WON_AT)
    assert "referral burst: more than 3 referrals within 60 minutes" in (held(h, bursty)[0] or "")
    assert held(h, calm) == [None]
    with TestClient(create_app(h)) as client:
        reasons = {q["hold_reason"] for q in client.get("/api/v1/admin/holds", headers=AUTH).json()}
    assert any("won too fast" in r for r in reasons) and any("referral burst" in r for r in reasons)


def _invoice(n: int, paid_at: int) -> dict[str, Any]:
    return {
        "id": f"in_{n}",
        "object": "invoice",
        "customer": "cus_1",
        "subscription": "sub_1",
        "amount_paid": 10_000,
        "currency": "usd",
        "charge": f"ch_{n}",
        "status_transitions": {"paid_at": paid_at},
        "lines": {"data": [{"price": {"id": "price_1", "product": "prod_1"}, "period": {"start": paid_at}}]},
        "created": paid_at,
    }


def _event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{kind}_{obj['id']}",
        "object": "event",
        "type": kind,
        "created": 1_800_000_000,
        "data": {"object": obj},
    }


def _charge(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"ch_{n}", "object": "charge", "invoice": f"in_{n}", "customer": "cus_1", "currency": "usd", **extra}


def _dispute(n: int, status: str) -> dict[str, Any]:
    return {
        "id": f"dp_{n}",
        "object": "dispute",
        "amount": 10_000,
        "currency": "usd",
        "status": status,
        "reason": "fraudulent",
        "created": 1_800_000_000,
        "charge": _charge(n),
    }


def commission_of(h: Hub, invoice: int) -> tuple[str, int, str | None]:
    with h.sessions() as s:
        entries = s.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.kind == "commission", LedgerEntry.source_key.like("fact:%"))
            .order_by(LedgerEntry.id)
        ).all()
        entry = entries[invoice - 1]
        return entry.status, entry.amount_minor, entry.hold_reason


@pytest.mark.parametrize("program_text", [FRAUD_PROGRAM])
def test_a_lost_dispute_reverses_the_commission_and_loss_rates_hold_the_rest(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    partner = new_partner(h, "subs@reseller.example")
    with h.sessions() as s, s.begin():
        now = utcnow()
        s.add(
            PaymentCustomer(
                source="stripe", external_id="cus_1", properties={}, version_ms=0, deleted=False,
                partner_id=partner, attribution_source="partner_id", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    paid_at = int((utcnow() - timedelta(days=10)).timestamp())
    for n in range(1, 5):
        assert stripe_event(h, _event("invoice.paid", _invoice(n, paid_at + n))) == ["revenue"]
    assert [commission_of(h, n) for n in range(1, 5)] == [("pending", 2_000, None)] * 4

    # a dispute opened changes nothing; lost, it takes the commission back like a refund
    assert stripe_event(h, _event("charge.dispute.created", _dispute(1, "needs_response"))) == ["dispute"]
    assert commission_of(h, 1) == ("pending", 2_000, None)
    assert stripe_event(h, _event("charge.dispute.closed", _dispute(1, "lost"))) == ["dispute"]
    assert stripe_event(h, _event("charge.dispute.closed", _dispute(1, "lost"))) == ["dispute:unchanged"]
    assert commission_of(h, 1)[0] == "cancelled"
    # 1 of 4 payments lost to a dispute: 25 % > 20 %: the partner's unpaid commissions are held
    for n in (2, 3, 4):
        status, amount, reason = commission_of(h, n)
        assert (status, amount) == ("pending", 2_000) and "lost-dispute rate above 20%" in (reason or "")

    # refunds: 1 of 4 (25 %) is within 30 %; 2 of 4 (50 %) crosses it
    refund = {
        "id": "re_2",
        "object": "refund",
        "amount": 10_000,
        "currency": "usd",
        "status": "succeeded",
        "created": 1_800_000_000,
    }
    stripe_event(h, _event("charge.refunded", _charge(2, refunds={"data": [{**refund, "charge": "ch_2"}]})))
    assert "refund rate" not in (commission_of(h, 4)[2] or "")
    stripe_event(
        h, _event("charge.refunded", _charge(3, refunds={"data": [{**refund, "id": "re_3", "charge": "ch_3"}]}))
    )
    assert commission_of(h, 2)[0] == "cancelled" and commission_of(h, 3)[0] == "cancelled"
    assert "refund rate above 30% of payments over 90 days" in (commission_of(h, 4)[2] or "")
    cli_queue = json.loads(run_cli("ledger", "holds", "--json").stdout)
    assert [q["partner_id"] for q in cli_queue] == [partner]
    assert "lost-dispute rate" in cli_queue[0]["hold_reason"] and "refund rate" in cli_queue[0]["hold_reason"]
    with h.sessions() as s:
        figures = [a.after for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.hold"))]
    assert any(f.get("lost-dispute_rate_percent") == "25.00" for f in figures)


def test_a_released_hold_is_not_held_again_for_the_same_reason(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    from hub.program import fraud

    h = hub
    partner = add_partner(h, "Released", 6_000, stripe=True)
    with h.sessions() as s, s.begin():
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == partner)).one()
        assert fraud.hold(s, entry, "signal A", now=WON_AT) is True
        assert fraud.hold(s, entry, "signal A", now=WON_AT) is False  # once per reason
        fraud.release(s, entry.id, by="Ada", reason="checked", now=WON_AT)
        assert not fraud.is_held(entry)
        assert fraud.hold(s, entry, "signal A", now=WON_AT) is False  # a person decided it
        assert fraud.hold(s, entry, "signal B", now=WON_AT) is True  # a new reason holds it again
        assert fraud.is_held(entry) and entry.hold_reason == "signal A; signal B"
        entry.status = "paid"
        assert fraud.hold(s, entry, "signal C", now=WON_AT) is False  # paid money is history
