"""Stripe end to end: signed events through the running web app and worker into customers,
revenue facts and partner accounts; transfers carried out from the outbox. Each event is
delivered twice and out of order; the fake Stripe checks every request against the spec."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from hub.pipeline.models import OutboxItem
from hub.pipeline.store import utcnow
from hub.program.models import (
    AuditEntry,
    Partner,
    PaymentCustomer,
    Referral,
    RevenueFact,
)
from tests.support.fake_stripe import FakeStripe
from tests.support.servers import wait_until

KEY = "sk_test_made_up_0000"  # made up for tests
NEW, OLD = "whsec_made_up_new", "whsec_made_up_old"  # made up for tests
ADMIN_TOKEN = "admin-token-made-up-for-tests-32-characters-or-more"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    server = FakeStripe().start()
    try:
        yield server
    finally:
        server.stop()
    assert server.problems == []  # every request the hub made was one the spec accepts


def start(make_harness: Any, database_url: str, fake: FakeStripe) -> Any:
    h = make_harness(
        database_url,
        PARTNERHUB_STRIPE__API_KEY=KEY,
        PARTNERHUB_STRIPE__API_BASE_URL=fake.url,
        PARTNERHUB_STRIPE__WEBHOOK_SECRETS=json.dumps([NEW, OLD]),
        PARTNERHUB_STRIPE__TIMEOUT_S="1",
        PARTNERHUB_ADMIN_TOKEN=ADMIN_TOKEN,
        PARTNERHUB_SYNC__INTERVAL_S="0",
    )  # polled only when a test says so
    h.start_web()
    h.start_worker()
    return h


def send(
    h: Any, event: dict[str, Any], *, secret: str = NEW, timestamp: int | None = None, query: str = ""
) -> httpx.Response:
    raw = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(raw, secret, timestamp=timestamp)
    return httpx.post(
        f"{h.web_url}/webhooks/stripe{query}",
        content=raw.encode(),
        timeout=30,
        headers={"content-type": "application/json", "Stripe-Signature": header},
    )


def settle(h: Any, rows: int) -> None:
    wait_until(
        lambda: len(h.inbox()) == rows and all(s == "done" for s in h.states()), 60, what=f"{rows} inbox rows done"
    )


def facts(h: Any) -> dict[str, RevenueFact]:
    with h.hub.sessions() as s:
        return {f.natural_key: f for f in s.scalars(select(RevenueFact))}


def customer(h: Any, customer_id: str) -> PaymentCustomer:
    with h.hub.sessions() as s:
        return s.scalars(select(PaymentCustomer).where(PaymentCustomer.external_id == customer_id)).one()


def add_partner(h: Any, email: str, *, tracking_id: str | None = None, contact_email: str | None = None) -> int:
    """A partner, and one of its referrals (set up directly: the referral flow has its own tests)."""
    with h.hub.sessions() as s, s.begin():
        partner = Partner(name=email.split("@")[0], email=email, status="active", created_at=utcnow())
        s.add(partner)
        s.flush()
        if tracking_id:
            s.add(
                Referral(
                    tracking_id=tracking_id,
                    partner_id=partner.id,
                    company_name="Acme",
                    company_domain=(contact_email or "x@acme.io").split("@")[1],
                    contact_email=contact_email,
                    status="submitted",
                    history=[],
                    created_at=utcnow() - timedelta(hours=1),
                    updated_at=utcnow(),
                )
            )
        return partner.id


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(obj))


def test_invoice_refunds_and_customer_twice_and_out_of_order(
    make_harness: Any, database_url: str, fake: FakeStripe
) -> None:
    h = start(make_harness, database_url, fake)
    partner_id = add_partner(h, "p1@partners.example", tracking_id="TRK-1", contact_email="buyer@acme.io")
    cus = fake.add_customer(email="buyer@acme.io", metadata={"partnerhub_tracking_id": "TRK-1"})
    charge = fake.add_charge(amount=2000, customer=cus["id"])
    invoice = fake.invoice(amount=2000, customer=cus["id"], subscription="sub_1", charge=charge["id"])
    charge["invoice"] = invoice["id"]
    r1 = fake.add_refund(charge["id"], 300)
    after_r1 = snapshot(fake.charges[charge["id"]])
    r2 = fake.add_refund(charge["id"], 200)
    after_r2 = snapshot(fake.charges[charge["id"]])
    events = [
        fake.publish("invoice.paid", invoice),
        fake.publish("charge.refunded", after_r2),  # cumulative amount_refunded 500
        fake.publish("refund.created", r2),
        fake.publish("refund.created", r1),
        fake.publish("charge.refunded", after_r1),  # cumulative amount_refunded 300
        fake.publish("customer.created", cus),
    ]
    for event in events:  # the invoice before its customer, the second refund before the first
        assert send(h, event).status_code == 200
    settle(h, len(events))
    for event in reversed(events):  # every event again
        assert send(h, event).status_code == 200
    settle(h, len(events))

    got = facts(h)
    assert sorted(got) == sorted(
        [f"stripe:invoice:{invoice['id']}", f"stripe:refund:{r1['id']}", f"stripe:refund:{r2['id']}"]
    )
    revenue = got[f"stripe:invoice:{invoice['id']}"]
    assert (revenue.kind, revenue.amount_minor, revenue.currency, revenue.recurrence) == (
        "revenue",
        2000,
        "USD",
        "recurring",
    )
    assert revenue.product == "price_monthly" and revenue.customer_id == cus["id"]
    assert revenue.period_start is not None and int(revenue.period_start.timestamp()) == 1_700_000_000
    refunds = [f for f in got.values() if f.kind == "refund"]
    assert sorted(f.amount_minor for f in refunds) == [-300, -200]
    assert sum(f.amount_minor for f in refunds) == -after_r2["amount_refunded"]  # never counted twice
    assert {f.revenue_key for f in refunds} == {revenue.natural_key}
    assert {f.partner_id for f in got.values()} == {partner_id}
    attributed = customer(h, cus["id"])
    assert (attributed.partner_id, attributed.attribution_source) == (partner_id, "tracking_id")
    outcomes = [row.outcome for row in h.inbox()]
    assert outcomes[0] == "revenue"  # recorded once; the second delivery made no new row
    assert fake.requests_to(f"/v1/customers/{cus['id']}")  # the invoice arrived first: customer read


def test_checkout_by_email_match_and_its_refund(make_harness: Any, database_url: str, fake: FakeStripe) -> None:
    h = start(make_harness, database_url, fake)
    partner_id = add_partner(h, "p2@partners.example", tracking_id="TRK-2", contact_email="cto@globex.io")
    cus = fake.add_customer(email="cto@globex.io")  # no metadata: matched on the referral's email
    session = fake.add_session(amount=5000, customer=cus["id"], price="price_onetime")
    charge = fake.add_charge(amount=5000, customer=cus["id"], payment_intent=session["payment_intent"])
    refund = fake.add_refund(charge["id"], 1250)
    subscription_session = fake.add_session(amount=900, customer=cus["id"], mode="subscription")
    failing = fake.add_refund(charge["id"], 600, status="pending")
    created_event = fake.publish("refund.created", snapshot(failing))
    fake.refunds[failing["id"]]["status"] = "failed"
    events = [
        fake.publish("refund.created", refund),
        fake.publish("checkout.session.completed", session),
        fake.publish("checkout.session.completed", subscription_session),  # its money is invoice.paid's
        fake.publish("refund.updated", snapshot(fake.refunds[failing["id"]])),
        created_event,  # the older, pending state arrives last: the refund is re-read
    ]
    for event in events + events:
        assert send(h, event).status_code == 200
    settle(h, len(events))
    got = facts(h)
    sale = got[f"stripe:checkout:{session['id']}"]
    assert (sale.amount_minor, sale.recurrence, sale.product, sale.partner_id) == (
        5000,
        "one_time",
        "price_onetime",
        partner_id,
    )
    back = got[f"stripe:refund:{refund['id']}"]
    assert (back.amount_minor, back.revenue_key, back.partner_id) == (-1250, sale.natural_key, partner_id)
    gone = got[f"stripe:refund:{failing['id']}"]
    assert (gone.amount_minor, gone.status, gone.details["requested_minor"]) == (0, "failed", 600)
    assert len(got) == 3
    assert customer(h, cus["id"]).attribution_source == "email"
    assert h.inbox()[2].outcome == "ignored"


def test_customer_attributed_later_is_sticky_and_older_events_do_not_overwrite(
    make_harness: Any, database_url: str, fake: FakeStripe
) -> None:
    h = start(make_harness, database_url, fake)
    first = add_partner(h, "first@partners.example")
    second = add_partner(h, "second@partners.example")
    cus = fake.add_customer(email="ops@initech.io", name="Initech")
    invoice = fake.invoice(amount=700, customer=cus["id"], subscription=None)
    now = int(time.time())
    assert send(h, fake.publish("invoice.paid", invoice, created=now - 50)).status_code == 200
    settle(h, 1)
    assert facts(h)[f"stripe:invoice:{invoice['id']}"].partner_id is None  # nobody to credit yet
    tagged = {**cus, "metadata": {"partnerhub_partner_id": str(first)}, "name": "Initech Ltd"}
    retagged = {**cus, "metadata": {"partnerhub_partner_id": str(second)}, "name": "Initech Group"}
    older = {**cus, "name": "Initech (old)"}
    fake.customers[cus["id"]] = retagged  # Stripe's state now; the events below describe later changes
    for event in (
        fake.publish("customer.updated", tagged, created=now + 20),
        fake.publish("customer.updated", retagged, created=now + 30),
        fake.publish("customer.updated", older, created=now + 10),
    ):  # arrives last, is oldest
        assert send(h, event).status_code == 200
    settle(h, 4)
    row = customer(h, cus["id"])
    assert (row.partner_id, row.attribution_source) == (first, "partner_id")  # sticky
    assert row.name == "Initech Group"  # the newest version, not the last to arrive
    fact = facts(h)[f"stripe:invoice:{invoice['id']}"]
    assert (fact.partner_id, fact.recurrence) == (first, "one_time")


def test_connect_account_ready_links_and_transfer_reversal(
    make_harness: Any, database_url: str, fake: FakeStripe
) -> None:
    h = start(make_harness, database_url, fake)
    add_partner(h, "p3@partners.example")
    other = add_partner(h, "p4@partners.example")
    account = fake.add_account(transfers="inactive")
    pending = snapshot(account)
    out = h.cli("partners", "set-stripe-account", "P3@partners.example", account["id"]).stdout
    assert account["id"] in out and "not enabled yet" in out
    bad = h.cli("partners", "set-stripe-account", "p3@partners.example", "acct with spaces", check=False)
    assert bad.returncode == 1 and "not a Stripe account id" in bad.stderr
    fake.accounts[account["id"]]["capabilities"]["transfers"] = "active"
    ready = fake.publish("account.updated", snapshot(fake.accounts[account["id"]]), account=account["id"])
    stale = fake.publish("account.updated", pending, account=account["id"], created=ready["created"] - 60)
    for event in (ready, stale, ready):
        # the Connect endpoint's URL and secret
        assert send(h, event, secret=OLD, query="?endpoint=connect").status_code == 200
    settle(h, 2)
    with h.hub.sessions() as s:
        partner = s.scalars(select(Partner).where(Partner.email == "p3@partners.example")).one()
        assert (partner.stripe_account_id, partner.payouts_enabled) == (account["id"], True)  # re-read: stale lost
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "partner.stripe_account")).all()

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    second = fake.add_account(transfers="active")
    taken = httpx.put(
        f"{h.web_url}/api/v1/admin/partners/{other}/stripe-account",
        headers=admin,
        timeout=30,
        json={"stripe_account_id": account["id"]},
    )
    assert taken.status_code == 409
    linked = httpx.put(
        f"{h.web_url}/api/v1/admin/partners/{other}/stripe-account",
        headers=admin,
        timeout=30,
        json={"stripe_account_id": second["id"]},
    )
    assert linked.status_code == 200 and linked.json()["payouts_enabled"] is True
    assert (
        httpx.put(
            f"{h.web_url}/api/v1/admin/partners/{other}/stripe-account", timeout=30, json={"stripe_account_id": None}
        ).status_code
        == 401
    )

    reversed_transfer = fake.transfer_object(amount=4000, destination=account["id"], payout_id=42, amount_reversed=4000)
    not_ours = fake.transfer_object(amount=100, destination=account["id"], payout_id=None, amount_reversed=100)
    for event in (fake.publish("transfer.reversed", reversed_transfer), fake.publish("transfer.reversed", not_ours)):
        assert send(h, event).status_code == 200
        assert send(h, event).status_code == 200
    settle(h, 4)
    alerts = [a for a in h.alerts() if a.kind == "transfer_reversed"]
    assert len(alerts) == 1 and "payout #42" in alerts[0].message and reversed_transfer["id"] in alerts[0].message
    assert alerts[0].count == 1


def test_bad_and_expired_signatures_store_nothing(make_harness: Any, database_url: str, fake: FakeStripe) -> None:
    h = start(make_harness, database_url, fake)
    event = fake.publish("customer.created", fake.add_customer(email="a@b.io"))
    assert send(h, event, secret="whsec_someone_else").status_code == 401
    assert send(h, event, timestamp=int(time.time()) - 301).status_code == 401
    raw = json.dumps(event).encode()
    assert httpx.post(f"{h.web_url}/webhooks/stripe", content=raw, timeout=30).status_code == 401
    header = stripe.WebhookSignature.generate_signature_header(json.dumps(event), NEW)
    tampered = raw.replace(b"a@b.io", b"x@b.io")
    assert (
        httpx.post(
            f"{h.web_url}/webhooks/stripe", content=tampered, timeout=30, headers={"Stripe-Signature": header}
        ).status_code
        == 401
    )
    assert h.inbox() == []
    assert send(h, event, secret=OLD).status_code == 200  # a secret being rotated out still works
    settle(h, 1)


def test_transfer_whose_create_times_out_is_unknown_and_replay_makes_no_second(
    make_harness: Any, database_url: str, fake: FakeStripe
) -> None:
    from hub.pipeline import queue
    from hub.pipeline.outbox import owe

    h = start(make_harness, database_url, fake)
    account = fake.add_account(transfers="active")
    fake.hang_after_create("/v1/transfers")
    with h.hub.sessions() as s, s.begin():
        item_id = owe(
            s,
            natural_key="transfer:payout:7",
            connector="stripe",
            action="create_transfer",
            idempotency_key="payout-7",
            payload={
                "payout_id": 7,
                "destination": account["id"],
                "amount_minor": 12_345,
                "currency": "usd",
                "description": "Partner payout #7",
            },
        )
    queue.enqueue(h.hub.redis, h.hub.settings.queue_prefix, queue.OUTBOX, [item_id])

    def item() -> OutboxItem:
        with h.hub.sessions() as s:
            row = s.get(OutboxItem, item_id)
            assert row is not None
            return row

    wait_until(lambda: item().state == "unknown", 60, what="outbox row parked unknown")
    assert any(a.kind == "outcome_unknown" for a in h.alerts())
    assert fake.transfer_creates == 1
    fake.forget_idempotency()  # a day later: only the lookup protects the payout now
    h.cli("replay", "--outbox", "--id", str(item_id))
    wait_until(lambda: item().state == "done", 60, what="replayed row done")
    result = item().result or {}
    assert result["existing"] is True and result["amount_minor"] == 12_345
    assert fake.transfer_creates == 1  # never a second transfer
    assert len(fake.requests_to("/v1/transfers", "POST")) == 1


def test_polled_events_collapse_with_webhook_deliveries(make_harness: Any, database_url: str, fake: FakeStripe) -> None:
    h = start(make_harness, database_url, fake)
    cus = fake.add_customer(email="z@z.io")
    delivered = fake.publish("customer.created", cus)
    missed = fake.publish("customer.updated", {**cus, "name": "Zed"})
    assert send(h, delivered).status_code == 200
    settle(h, 1)
    out = h.cli("sync", "backfill", "stripe", "--quiet").stdout
    assert "stripe" in out
    settle(h, 2)  # the delivered event collapsed on its id; the missed one was added and processed
    assert [row.event_key for row in h.inbox()] == [delivered["id"], missed["id"]]
    assert customer(h, cus["id"]).name == "Zed"
    h.cli("sync", "backfill", "stripe", "--quiet")  # from the saved cursor: nothing new
    assert len(h.inbox()) == 2
