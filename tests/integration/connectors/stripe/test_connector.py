"""The Stripe connector on its own, against the spec-checked fake Stripe: the signature check
(the SDK's signing helper and the shared vector), transfers that are never made twice, the
events safety net, webhook endpoint registration, and the pinned version on every call."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe
from pydantic import SecretStr

from connectors.errors import FatalError, MalformedPayload, OutcomeUnknown, SignatureInvalid
from connectors.stripe import (
    API_VERSION,
    PLATFORM_EVENTS,
    StripeConnector,
    StripeSettings,
)
from connectors.stripe.webhooks import event_change
from connectors.values import InboundRequest
from tests.support.fake_stripe import FakeStripe

KEY = "sk_test_made_up_0000"  # made up for tests
NEW, OLD = "whsec_made_up_new", "whsec_made_up_old"  # made up for tests
VECTOR = Path("/work/shared/vectors/stripe.signed-vector.json")


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    server = FakeStripe().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def connector(fake: FakeStripe) -> Iterator[StripeConnector]:
    made = StripeConnector(
        StripeSettings(
            api_key=SecretStr(KEY),
            api_base_url=fake.url,
            timeout_s=1.0,
            webhook_secrets=[SecretStr(NEW), SecretStr(OLD)],
        )
    )
    try:
        yield made
    finally:
        made.close()
        assert fake.problems == []  # every request the hub made was one the spec accepts


def _request(body: bytes, header: str | None, *, at: float | None = None) -> InboundRequest:
    headers = {"content-type": "application/json"} | ({"stripe-signature": header} if header else {})
    return InboundRequest(
        "POST",
        "https://hooks.example.com/webhooks/stripe",
        headers,
        body,
        received_at=at if at is not None else time.time(),
    )


# -- signatures ----------------------------------------------------------------------------------


def test_shared_vector_verifies_with_its_secret() -> None:
    vector = json.loads(VECTOR.read_text())
    payload = (
        (VECTOR.parent / vector["payload_file"]).read_bytes()
        if (VECTOR.parent / vector["payload_file"]).exists()
        else None
    )
    connector = StripeConnector(StripeSettings(webhook_secrets=[SecretStr(vector["secret"])]))
    if payload is None:  # the vector's payload is not shipped: sign our own body the same way
        payload = b'{"id":"evt_1","object":"event"}'
        header = stripe.WebhookSignature.generate_signature_header(
            payload.decode(), vector["secret"], timestamp=vector["timestamp"]
        )
    else:
        header = vector["header_value"]
    connector.verify_webhook(_request(payload, header, at=vector["timestamp"] + 10))
    with pytest.raises(SignatureInvalid):  # the same request 301 s later is outside the tolerance
        connector.verify_webhook(_request(payload, header, at=vector["timestamp"] + 301))
    connector.close()


def test_signature_from_the_sdk_any_accepted_secret_and_rejections(connector: StripeConnector) -> None:
    body = json.dumps({"id": "evt_1", "object": "event"}).encode()
    for secret in (NEW, OLD):  # the current secret and the one being rolled out
        header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
        connector.verify_webhook(_request(body, header))
    both = stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_unknown")
    t = both.split(",")[0].split("=")[1]
    rolled = f"{both},v1=" + stripe.WebhookSignature._compute_signature(f"{t}.{body.decode()}", OLD)
    connector.verify_webhook(_request(body, rolled))  # several v1: any match passes
    bad = [
        None,
        stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_unknown"),
        stripe.WebhookSignature.generate_signature_header(body.decode(), NEW, timestamp=int(time.time()) - 301),
        "t=abc,v1=00",
        "t=" + "9" * 400 + ",v1=00",  # no time at all (was an OverflowError: a 500)
        "t=-5,v1=00",
        f"t={int(time.time())}",
        "v0=" + "0" * 64,
    ]
    for header in bad:
        with pytest.raises(SignatureInvalid):
            connector.verify_webhook(_request(body, header))
    tampered = stripe.WebhookSignature.generate_signature_header(body.decode(), NEW)
    with pytest.raises(SignatureInvalid):
        connector.verify_webhook(_request(body + b" ", tampered))


def test_parse_keys_on_the_event_id(fake: FakeStripe, connector: StripeConnector) -> None:
    refund = fake.add_refund(fake.add_charge(amount=900, customer=None)["id"], 100)
    event = fake.publish("refund.created", refund)
    parsed = connector.parse_webhook(_request(json.dumps(event).encode(), None))
    (change,) = parsed.changes
    assert (change.event_key, change.event_type, change.object_type, change.object_id) == (
        event["id"],
        "refund.created",
        "refund",
        refund["id"],
    )
    assert change.version_ms == event["created"] * 1000
    for body in (b"[]", b"{", json.dumps({"object": "event", "id": "evt_1"}).encode()):
        with pytest.raises(MalformedPayload):
            connector.parse_webhook(_request(body, None))


# -- transfers -----------------------------------------------------------------------------------


def _payload(account: str, payout_id: int = 7, amount: int = 12_345) -> dict[str, object]:
    return {
        "payout_id": payout_id,
        "destination": account,
        "amount_minor": amount,
        "currency": "usd",
        "description": "Partner payout #7",
    }


def test_transfer_is_made_once_and_found_after_the_idempotency_key_expired(
    fake: FakeStripe, connector: StripeConnector
) -> None:
    account = fake.add_account(transfers="active")["id"]
    first = connector.create_transfer(_payload(account), idempotency_key="payout-7")
    assert first["existing"] is False and first["amount_minor"] == 12_345 and first["currency"] == "USD"
    (create,) = fake.requests_to("/v1/transfers", "POST")
    assert create["headers"]["idempotency-key"] == "payout-7"
    made = fake.transfers[first["transfer_id"]]
    assert made["transfer_group"] == "payout_7" and made["metadata"] == {"payout_id": "7"}
    fake.forget_idempotency()  # more than 24 hours later
    again = connector.create_transfer(_payload(account), idempotency_key="payout-7")
    assert again == {**first, "existing": True}
    assert fake.transfer_creates == 1
    lookups = fake.requests_to("/v1/transfers", "GET")
    assert len(lookups) == 2 and all("transfer_group=payout_7" in r["query"] for r in lookups)
    assert [t["id"] for t in connector.find_transfers(7)] == [first["transfer_id"]]
    assert connector.find_transfers(8) == []


def test_transfer_whose_answer_is_lost_is_outcome_unknown_then_found(
    fake: FakeStripe, connector: StripeConnector
) -> None:
    account = fake.add_account(transfers="active")["id"]
    fake.hang_after_create("/v1/transfers")
    with pytest.raises(OutcomeUnknown):
        connector.create_transfer(_payload(account), idempotency_key="payout-7")
    assert fake.transfer_creates == 1
    fake.forget_idempotency()
    found = connector.create_transfer(_payload(account), idempotency_key="payout-7")
    assert found["existing"] is True and fake.transfer_creates == 1


def test_transfer_5xx_is_unknown_and_4xx_fails_with_stripes_message(
    fake: FakeStripe, connector: StripeConnector
) -> None:
    account = fake.add_account(transfers="active")["id"]
    fake.fail_next("/v1/transfers", 500, "An unknown error occurred", method="POST")
    with pytest.raises(OutcomeUnknown):
        connector.create_transfer(_payload(account), idempotency_key="payout-7")
    fake.balance_minor = 100
    with pytest.raises(FatalError) as caught:
        connector.create_transfer(_payload(account, payout_id=8), idempotency_key="payout-8")
    assert not isinstance(caught.value, OutcomeUnknown)
    assert "insufficient funds" in str(caught.value)
    with pytest.raises(FatalError, match="payload"):
        connector.create_transfer(
            {"payout_id": 9, "destination": "nope", "amount_minor": 1, "currency": "usd"}, idempotency_key="payout-9"
        )
    assert fake.transfer_creates == 0


# -- polling -------------------------------------------------------------------------------------


def test_events_are_polled_newest_first_and_a_stopped_walk_resumes(
    fake: FakeStripe, connector: StripeConnector
) -> None:
    customer = fake.add_customer(email="a@acme.io")
    base = int(time.time()) - 3600
    published = [fake.publish("customer.updated", customer, created=base + i) for i in range(230)]
    fake.publish("payout.paid", {"id": "po_1", "object": "payout"}, created=base + 1)  # not subscribed
    pages = list(connector.fetch_changes("event", None))
    assert [len(p.records) for p in pages] == [100, 100, 30]
    assert [r.id for p in pages for r in p.records] == [e["id"] for e in reversed(published)]
    assert pages[0].cursor is not None and pages[0].cursor.value == {
        "created": 0,
        "top": base + 229,
        "after": published[130]["id"],
    }
    assert pages[-1].cursor is not None and pages[-1].cursor.value == {"created": base + 229}
    resumed = list(connector.fetch_changes("event", pages[0].cursor))  # stopped after one page
    assert [r.id for p in resumed for r in p.records] == [e["id"] for e in reversed(published[:130])]
    assert resumed[-1].cursor == pages[-1].cursor
    newer = fake.publish("customer.updated", customer, created=base + 300)
    again = list(connector.fetch_changes("event", pages[-1].cursor))
    assert [r.id for p in again for r in p.records] == [newer["id"], published[-1]["id"]]  # gte: last second again
    assert again[-1].cursor is not None and again[-1].cursor.value == {"created": base + 300}
    query = fake.requests_to("/v1/events")[-1]["query"]
    assert "created%5Bgte%5D=" in query and "types%5B0%5D=" in query
    record = pages[0].records[0]
    assert connector.polled_change("event", record) == event_change(record.raw)
    assert set(PLATFORM_EVENTS) >= {"invoice.paid", "charge.refunded", "refund.created", "transfer.reversed"}


# -- webhook endpoints ---------------------------------------------------------------------------


def test_register_webhooks_creates_both_endpoints_once(fake: FakeStripe, connector: StripeConnector) -> None:
    lines = connector.register_webhooks("https://hooks.example.com/")
    assert len(lines) == 2 and all("created" in line for line in lines)
    assert all("whsec_" not in line for line in lines)  # the secret is never printed
    endpoints = sorted(fake.endpoints.values(), key=lambda e: e["url"])
    assert [e["url"] for e in endpoints] == [
        "https://hooks.example.com/webhooks/stripe",
        "https://hooks.example.com/webhooks/stripe?endpoint=connect",
    ]
    assert [e["connect"] for e in endpoints] == [False, True]
    assert all(e["api_version"] == API_VERSION for e in endpoints)
    assert endpoints[1]["enabled_events"] == ["account.updated"]
    assert set(endpoints[0]["enabled_events"]) == set(PLATFORM_EVENTS)
    again = connector.register_webhooks("https://hooks.example.com")
    assert all("found" in line for line in again) and len(fake.endpoints) == 2


def test_every_call_pins_the_api_version(fake: FakeStripe, connector: StripeConnector) -> None:
    account = fake.add_account(transfers="active")["id"]
    connector.create_transfer(_payload(account), idempotency_key="payout-7")
    connector.register_webhooks("https://hooks.example.com")
    list(connector.fetch_changes("event", None))
    assert fake.requests and {r["headers"].get("stripe-version") for r in fake.requests} == {API_VERSION}
    assert connector.account_ready(account) is True
    assert connector.account_ready("acct_404") is None
