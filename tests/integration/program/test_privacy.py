"""Forgetting a person: the CLI and a CRM's privacy deletion anonymize everywhere the hub copied
them, and the ledger's amounts stay."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from hub.pipeline.models import InboxEvent, OutboxItem
from hub.pipeline.store import upgrade, utcnow
from hub.program.models import (
    AuditEntry,
    Deal,
    LedgerEntry,
    Notification,
    Partner,
    Referral,
)
from hub.program.privacy import FORGOTTEN, email_digest, forget
from tests.support.servers import wait_until

JANE = "Jane.Doe@Acme-Corp.com"


def _seed(session: Session) -> dict[str, int]:
    now = utcnow()
    partner = Partner(name="Alpha Partners", email="alpha@partners.example", status="active", created_at=now)
    session.add(partner)
    session.flush()
    jane = Referral(
        tracking_id="R-JANE000001",
        partner_id=partner.id,
        company_name="Acme Corp",
        company_domain="acme-corp.com",
        contact_name="Jane Doe",
        contact_email="jane.doe@acme-corp.com",
        notes="Jane asked for a demo",
        status="closed_won",
        history=[{"status": "received"}],
        crm="hubspot",
        crm_deal_id="77",
        crm_contact_id="901",
        created_at=now,
        updated_at=now,
    )
    other = Referral(
        tracking_id="R-BOB0000001",
        partner_id=partner.id,
        company_name="Bob Ltd",
        company_domain="bob.example",
        contact_name="Bob Roe",
        contact_email="bob@bob.example",
        status="submitted",
        history=[],
        created_at=now,
        updated_at=now,
    )
    session.add_all([jane, other])
    session.flush()
    deal = Deal(
        source="hubspot",
        external_id="77",
        name="Acme Corp",
        amount_minor=1_000_00,
        currency="USD",
        properties={},
        property_versions={},
        version_ms=1,
        deleted=False,
        partner_id=partner.id,
        referral_id=jane.id,
        created_at=now,
        updated_at=now,
    )
    session.add(deal)
    session.flush()
    session.add(
        LedgerEntry(
            natural_key="commission:deal:1",
            partner_id=partner.id,
            deal_id=deal.id,
            kind="commission",
            amount_minor=100_00,
            currency="USD",
            status="approved",
            created_at=now,
            updated_at=now,
        )
    )
    session.add(
        InboxEvent(
            connector="sendgrid",
            event_key="sg-1",
            event_type="delivered",
            object_type="email_event",
            object_id="m1",
            payload={"email": "jane.doe@acme-corp.com", "event": "delivered"},
            received_at=now,
            state="done",
            attempts=1,
            next_attempt_at=now,
        )
    )
    session.add(
        InboxEvent(
            connector="sendgrid",
            event_key="sg-2",
            event_type="delivered",
            object_type="email_event",
            object_id="m2",
            payload={"email": "bob@bob.example", "event": "delivered"},
            received_at=now,
            state="done",
            attempts=1,
            next_attempt_at=now,
        )
    )
    session.add(
        OutboxItem(
            natural_key="crm:referral:R-JANE000001",
            connector="hubspot",
            action="create_referral_deal",
            payload={
                "contact": {"email": "jane.doe@acme-corp.com", "firstname": "Jane Doe"},
                "deal": {"dealname": "Acme Corp"},
            },
            idempotency_key="k",
            state="done",
            attempts=1,
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.add(
        Notification(
            natural_key="n1",
            partner_id=None,
            kind="owner_assigned",
            to_email="jane.doe@acme-corp.com",
            subject="s",
            status="sent",
            created_at=now,
            updated_at=now,
        )
    )
    session.commit()
    return {"jane": jane.id, "other": other.id, "partner": partner.id}


def test_forget_anonymizes_every_copy_and_keeps_the_money(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url, hide_parameters=True)
    with Session(engine) as session:
        ids = _seed(session)
        report = forget(session, email=JANE, actor="test")
        session.commit()
        assert report.counts == {"referrals": 1, "notifications": 1, "inbox_events": 1, "outbox_items": 1}
        session.expire_all()
        jane = session.get(Referral, ids["jane"])
        assert jane.contact_email is None and jane.contact_name == FORGOTTEN and jane.notes == FORGOTTEN
        assert jane.company_name == "Acme Corp"  # the business, not the person
        other = session.get(Referral, ids["other"])
        assert other.contact_email == "bob@bob.example" and other.contact_name == "Bob Roe"
        payloads = [e.payload for e in session.scalars(select(InboxEvent).order_by(InboxEvent.id))]
        assert payloads == [
            {"email": FORGOTTEN, "event": "delivered"},
            {"email": "bob@bob.example", "event": "delivered"},
        ]
        outbox = session.scalars(select(OutboxItem)).one()
        assert outbox.payload["contact"] == {"email": FORGOTTEN, "firstname": FORGOTTEN}
        assert outbox.payload["deal"] == {"dealname": "Acme Corp"}
        assert session.scalars(select(Notification)).one().to_email == FORGOTTEN
        entry = session.scalars(select(LedgerEntry)).one()
        assert (entry.amount_minor, entry.currency, entry.status) == (100_00, "USD", "approved")
        assert session.scalars(select(Deal)).one().amount_minor == 1_000_00
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.forget")).one()
        assert audit.subject == f"email-sha256:{email_digest(JANE)}"
        assert "acme-corp" not in repr((audit.subject, audit.before, audit.after)).lower()
        assert forget(session, email=JANE, actor="test").total == 0  # nothing left the second time
        session.commit()
    engine.dispose()


def test_forget_a_partner_keeps_their_ledger(db_session: Session) -> None:
    ids = _seed(db_session)
    report = forget(db_session, email="ALPHA@partners.example", actor="test")
    db_session.commit()
    assert report.counts["partners"] == 1
    partner = db_session.get(Partner, ids["partner"])
    assert partner.name == FORGOTTEN and "alpha" not in partner.email and partner.api_key_hash is None
    assert partner.status == "forgotten"
    assert [e.amount_minor for e in db_session.scalars(select(LedgerEntry))] == [100_00]


def _contact_event(object_id: int, event_type: str) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "eventId": int(time.time() * 1000) % 10**9,
        "subscriptionId": 31,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": event_type,
        "attemptNumber": 0,
    }


def test_crm_privacy_deletion_and_cli_forget_through_the_running_hub(make_harness, sqlite_url: str) -> None:
    h = make_harness(sqlite_url)
    with h.hub.sessions() as session:
        ids = _seed(session)
    h.start_web()
    h.start_worker()

    # HubSpot: the contact behind Jane's referral asked to be forgotten
    assert h.deliver([_contact_event(901, "contact.privacyDeletion")]).status_code == 200
    wait_until(lambda: [e.state for e in h.inbox() if e.connector == "hubspot"] == ["done"], 30, what="processed")
    event = next(e for e in h.inbox() if e.connector == "hubspot")
    assert event.outcome.startswith("forgotten:")
    with h.hub.sessions() as session:
        jane = session.get(Referral, ids["jane"])
        assert jane.contact_email is None and jane.contact_name == FORGOTTEN
        assert session.get(Referral, ids["other"]).contact_email == "bob@bob.example"
        assert [e.amount_minor for e in session.scalars(select(LedgerEntry))] == [100_00]

    # an admin forgets Bob on request
    out = h.cli("privacy", "forget", "bob@bob.example", "--actor", "dpo@vendor.example").stdout
    assert "referrals 1" in out and "inbox_events 1" in out
    with h.hub.sessions() as session:
        assert session.get(Referral, ids["other"]).contact_email is None
        audits = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.forget")))
        assert [a.actor for a in audits] == ["hubspot:contact.privacyDeletion", "cli:dpo@vendor.example"]
    assert "nothing held" in h.cli("privacy", "forget", "nobody@nowhere.example").stdout
    bad = h.cli("privacy", "forget", "not-an-address", check=False)
    assert bad.returncode == 2 and "email address" in bad.stderr
