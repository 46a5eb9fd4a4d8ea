"""Payment customers attributed to partners by the CRM deal they are linked to, by domain, and
sticky — the record logic of ``hub.payments`` on SQLite and PostgreSQL, with the Stripe
connector's own reading of events (no API key: the events' objects are used as they are)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.payments import CustomerSeen, PayoutAccount, Refund
from hub.pipeline.store import upgrade, utcnow
from hub.program import payments
from hub.program.models import Deal, Partner, PaymentCustomer, Referral, RevenueFact
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings


@pytest.fixture
def hub(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Hub]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PARTNERHUB_DATA_DIR", str(tmp_path / "data"))
    upgrade(database_url)
    opened = Hub.open(load_settings(), start_redis=False)
    try:
        yield opened
    finally:
        opened.close()


def _partner(session: Any, email: str) -> Partner:
    partner = Partner(name=email, email=email, status="active", created_at=utcnow())
    session.add(partner)
    session.flush()
    return partner


def _deal(session: Any, external_id: str, partner: Partner | None, **properties: Any) -> Deal:
    now = utcnow()
    deal = Deal(
        source="hubspot",
        external_id=external_id,
        properties=properties,
        property_versions={},
        version_ms=0,
        deleted=False,
        partner_id=partner.id if partner else None,
        created_at=now,
        updated_at=now,
    )
    session.add(deal)
    session.flush()
    return deal


def _seen(customer_id: str, version: int, **fields: Any) -> CustomerSeen:
    record = {
        "id": customer_id,
        "object": "customer",
        "created": 1_700_000_000,
        "livemode": False,
        "metadata": {},
        **fields,
    }
    return CustomerSeen(customer_id, record, version)


def _event(kind: str, obj: dict[str, Any], created: int = 1_700_000_100) -> dict[str, Any]:
    return {
        "id": f"evt_{kind}_{obj['id']}",
        "object": "event",
        "type": kind,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
    }


def test_customer_attributed_by_the_crm_deal_it_names_or_that_names_it(hub: Hub) -> None:
    with hub.sessions() as session, session.begin():
        partner = _partner(session, "deal-owner@partners.example")
        named = _deal(session, "9001", partner)
        naming = _deal(session, "9002", partner, payment_customer_id="cus_B")
        unattributed = _deal(session, "9003", None)
        a = payments.upsert_customer(session, hub, "stripe", _seen("cus_A", 1, metadata={"crm_deal_id": "9001"}))
        b = payments.upsert_customer(session, hub, "stripe", _seen("cus_B", 1, email="ceo@gmail.com"))
        c = payments.upsert_customer(session, hub, "stripe", _seen("cus_C", 1, metadata={"crm_deal_id": "9003"}))
        assert (a.partner_id, a.deal_id, a.attribution_source) == (partner.id, named.id, "deal")
        assert (b.partner_id, b.deal_id, b.attribution_source) == (partner.id, naming.id, "deal")
        assert (c.partner_id, c.deal_id) == (None, unattributed.id)  # linked, but nobody to credit
        payments.apply(
            session,
            hub,
            "stripe",
            Refund(
                key="stripe:refund:re_1",
                revenue_key="stripe:invoice:in_1",
                customer_id="cus_A",
                amount_minor=-50,
                currency="eur",
                occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
                status="succeeded",
            ),
        )
        fact = session.scalars(select(RevenueFact)).one()
        assert (fact.partner_id, fact.deal_id, fact.currency, fact.amount_minor) == (partner.id, named.id, "EUR", -50)


def test_domain_match_respects_free_mail_and_the_window(hub: Hub) -> None:
    with hub.sessions() as session, session.begin():
        partner = _partner(session, "p@partners.example")
        session.add(
            Referral(
                tracking_id="TRK-D",
                partner_id=partner.id,
                company_name="Umbrella",
                company_domain="umbrella.io",
                contact_email="someone@umbrella.io",
                status="submitted",
                history=[],
                created_at=datetime(2023, 11, 1, tzinfo=UTC),
                updated_at=utcnow(),
            )
        )
        session.flush()
        same_domain = payments.upsert_customer(session, hub, "stripe", _seen("cus_D", 1, email="cfo@umbrella.io"))
        assert (same_domain.partner_id, same_domain.attribution_source) == (partner.id, "domain")
        before = _seen("cus_E", 1, email="x@umbrella.io")
        before.record["created"] = int((datetime(2023, 11, 1, tzinfo=UTC) - timedelta(days=1)).timestamp())
        older = payments.upsert_customer(session, hub, "stripe", before)
        assert older.partner_id is None  # a customer older than the referral was not referred


def test_connect_account_state_and_meaning_without_api(hub: Hub) -> None:
    connector = hub.connectors["stripe"]
    account = {"id": "acct_1X", "object": "account", "capabilities": {"transfers": "active"}}
    (change,) = connector.payment_changes(_event("account.updated", account))
    assert change == PayoutAccount("acct_1X", True)
    failed = {
        "id": "re_9",
        "object": "refund",
        "amount": 400,
        "currency": "usd",
        "status": "failed",
        "created": 1_700_000_000,
        "charge": "ch_9",
    }
    (refund,) = connector.payment_changes(_event("refund.updated", failed))
    assert isinstance(refund, Refund) and refund.amount_minor == 0 and refund.status == "failed"
    assert connector.payment_changes(_event("payout.paid", {"id": "po_1", "object": "payout"})) == []
    with hub.sessions() as session, session.begin():
        partner = _partner(session, "acct@partners.example")
        partner.stripe_account_id = "acct_1X"
        assert payments.apply(session, hub, "stripe", change) == "account:ready"
        assert partner.payouts_enabled is True
        assert payments.apply(session, hub, "stripe", PayoutAccount("acct_unknown", True)) == "account:no_partner"
        assert session.scalars(select(PaymentCustomer)).all() == []


def test_forgetting_a_person_anonymizes_their_payment_customer(hub: Hub) -> None:
    from hub.program import privacy

    with hub.sessions() as session, session.begin():
        customer = payments.upsert_customer(
            session,
            hub,
            "stripe",
            _seen("cus_F", 1, email="Jane.Doe@corp.io", name="Jane Doe", metadata={"note": "call jane.doe@corp.io"}),
        )
        report = privacy.forget(session, email="jane.doe@corp.io", actor="test")
        assert report.counts.get("payment_customers") == 1
        assert (customer.email, customer.name) == (None, privacy.FORGOTTEN)
        assert "jane" not in str(customer.properties).lower()
        assert customer.external_id == "cus_F"  # the money trail stays
