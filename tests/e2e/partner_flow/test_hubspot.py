"""The first partner flow end to end, through the running web app and worker processes, against
the fake HubSpot (requests checked with hubspot-api-client's models) and the fake SendGrid
(requests checked by Prism against SendGrid's spec): referral in, CRM deal out, status emails,
closed-won commission."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from hub.pipeline.models import InboxEvent
from hub.program.models import LedgerEntry
from tests.support.flows import (
    ADMIN_TOKEN,
    add_partner,
    api,
    idle,
    mails_to,
    referral,
    subjects,
)
from tests.support.hubspot_hub import deal_webhook as deal_event
from tests.support.hubspot_hub import move_deal
from tests.support.servers import wait_until


def test_referral_to_crm_deal_to_status_emails_to_commission(flow):
    h = flow
    alpha = add_partner(
        h, "Alpha Partners", "alpha@partners.example", tier="gold", via_cli=True
    )  # the command an operator runs
    body = {
        "company_name": "Acme Corp",
        "company_domain": "acme-corp.com",
        "contact_name": "Jane Doe",
        "contact_email": "jane@acme-corp.com",
        "notes": "met at the trade fair",
    }

    # submitted twice with one Idempotency-Key: one referral, one deal, one email
    first = api(h, alpha, "POST", "/api/v1/referrals", json=body, headers={"Idempotency-Key": "ref-1"})
    second = api(h, alpha, "POST", "/api/v1/referrals", json=body, headers={"Idempotency-Key": "ref-1"})
    assert first.status_code == 202 and second.status_code == 200
    tracking_id = first.json()["tracking_id"]
    assert second.json()["tracking_id"] == tracking_id and re.fullmatch(r"R-[2-9A-HJ-NP-Z]{10}", tracking_id)
    clash = api(
        h, alpha, "POST", "/api/v1/referrals", json={**body, "notes": "other"}, headers={"Idempotency-Key": "ref-1"}
    )
    assert clash.status_code == 409

    wait_until(lambda: referral(h, tracking_id).crm_deal_id is not None and idle(h), 60, what="deal in the CRM")
    ref = referral(h, tracking_id)
    assert ref.status == "submitted"
    deals = [(i, p) for i, p in h.fake_hubspot.deals.items() if p.get("partnerhub_tracking_id") == tracking_id]
    assert len(deals) == 1
    deal_id, props = deals[0]
    assert deal_id == ref.crm_deal_id
    assert props["dealname"] == "Acme Corp" and props["partnerhub_source"] == "partner_referral"
    assert [c for c in h.fake_hubspot.contacts.values() if c.get("email") == "jane@acme-corp.com"]
    assert subjects(h, "alpha@partners.example") == ["Got it! Your referral for Acme Corp is in"]
    confirmation = mails_to(h, "alpha@partners.example")[0]
    assert any("pm@vendor.example" in c["value"] for c in confirmation["content"])  # names the partner manager
    assert {c["type"] for c in confirmation["content"]} == {"text/plain", "text/html"}
    assert h.fake_sendgrid.violations == []

    # the echoes of the hub's own writes send nothing
    stage = props["dealstage"]
    echoes = [
        deal_event(deal_id, event_type="deal.creation"),
        deal_event(deal_id, event_type="deal.propertyChange", prop="dealstage", value=stage),
    ]
    assert h.deliver(echoes).status_code == 200
    wait_until(lambda: idle(h), 30, what="echoes processed")
    with h.hub.sessions() as s:
        outcomes = [e.outcome for e in s.scalars(select(InboxEvent).where(InboxEvent.connector == "hubspot"))]
    assert outcomes == ["echo", "echo"]
    assert len(mails_to(h, "alpha@partners.example")) == 1
    assert 'partnerhub_echoes_dropped_total{connector="hubspot"} 2.0' in httpx.get(h.web_url + "/metrics").text

    # a salesperson renames the deal: the hub reads it whole and meets the stage it created the
    # deal in — recorded on the referral, but no news to the partner, so no email
    move_deal(h, deal_id, dealname="Acme Corp (EMEA)")
    h.deliver([deal_event(deal_id, event_type="deal.propertyChange", prop="dealname", value="Acme Corp (EMEA)")])
    wait_until(lambda: referral(h, tracking_id).status == "contacted" and idle(h), 30, what="rename processed")
    assert len(mails_to(h, "alpha@partners.example")) == 1

    # a genuine stage change, delivered three times and shuffled with a repeat of an older one
    move_deal(h, deal_id, dealstage="presentationscheduled")
    change = deal_event(deal_id, event_type="deal.propertyChange", prop="dealstage", value="presentationscheduled")
    batch = [change, change, change, echoes[1]]
    random.shuffle(batch)
    for chunk in (batch[:2], batch[2:]):
        assert h.deliver(chunk).status_code == 200
    wait_until(lambda: referral(h, tracking_id).status == "demo_scheduled" and idle(h), 30, what="demo scheduled")
    assert subjects(h, "alpha@partners.example")[1:] == ["Your referral for Acme Corp moved to Demo Scheduled"]

    # closed won: one ledger entry, one email, whatever the replays
    move_deal(h, deal_id, dealstage="closedwon", amount="10000.00")
    won = deal_event(deal_id, event_type="deal.propertyChange", prop="dealstage", value="closedwon")
    for _ in range(3):
        h.deliver([won])
    wait_until(lambda: referral(h, tracking_id).status == "closed_won" and idle(h), 30, what="closed won")
    with h.hub.sessions() as s:
        entries = [(e.kind, e.amount_minor, e.currency, e.status) for e in s.scalars(select(LedgerEntry))]
    assert entries == [("commission", 150_000, "USD", "pending")]  # gold: 15 % of 10,000.00
    closed = [s for s in subjects(h, "alpha@partners.example") if s.startswith("Deal closed!")]
    assert closed == ["Deal closed! Commission: $1,500.00"]
    body_text = next(
        c["value"] for c in mails_to(h, "alpha@partners.example")[-1]["content"] if c["type"] == "text/plain"
    )
    approved_on = datetime.now(UTC).date() + timedelta(days=30)  # the gold rule's holding period
    payday = (approved_on.replace(day=1) + timedelta(days=32)).replace(day=15)  # the next run after it
    assert payday.strftime("%B") in body_text and str(payday.year) in body_text

    # reopened, then won again with a new amount: exactly one live commission, for the new amount
    move_deal(h, deal_id, dealstage="contractsent")
    h.deliver([deal_event(deal_id, event_type="deal.propertyChange", prop="dealstage", value="contractsent")])
    wait_until(lambda: referral(h, tracking_id).status == "proposal_sent" and idle(h), 30, what="reopened")
    move_deal(h, deal_id, dealstage="closedwon", amount="20000.00")
    h.deliver([deal_event(deal_id, event_type="deal.propertyChange", prop="amount", value="20000.00")])
    wait_until(lambda: referral(h, tracking_id).status == "closed_won" and idle(h), 30, what="won again")
    with h.hub.sessions() as s:
        live = [(e.amount_minor, e.status) for e in s.scalars(select(LedgerEntry)) if e.status != "cancelled"]
    assert live == [(300_000, "pending")]
    commissions = api(h, alpha, "GET", "/api/v1/commissions").json()
    assert commissions["balances"] == {"USD": {"pending": 300_000, "approved": 0, "paid": 0}}
    history = [step["status"] for step in api(h, alpha, "GET", f"/api/v1/referrals/{tracking_id}").json()["history"]]
    assert history == [
        "received",
        "submitted",
        "contacted",
        "demo_scheduled",
        "closed_won",
        "proposal_sent",
        "closed_won",
    ]


def test_conflicting_referral_is_held_and_creates_nothing_in_the_crm(flow):
    h = flow
    company = h.fake_hubspot.add("companies", {"name": "Globex", "domain": "globex.com"})
    deal = h.fake_hubspot.add(
        "deals",
        {"dealname": "Globex renewal", "dealstage": "qualifiedtobuy", "pipeline": "default", "hs_is_closed": "false"},
    )
    h.fake_hubspot.associate("deals", deal, "companies", company)
    beta = add_partner(h, "Beta Resellers", "beta@partners.example", tier="silver")
    deals_before = len(h.fake_hubspot.deals)
    answer = api(
        h,
        beta,
        "POST",
        "/api/v1/referrals",
        json={"company_name": "Globex", "company_domain": "globex.com", "contact_email": "hank@globex.com"},
    )
    assert answer.status_code == 202
    tracking_id = answer.json()["tracking_id"]
    wait_until(lambda: referral(h, tracking_id).status == "held_for_review" and idle(h), 60, what="held")
    assert "open deal" in (referral(h, tracking_id).status_reason or "")
    assert len(h.fake_hubspot.deals) == deals_before
    assert not h.fake_hubspot.requests_to("/batch/upsert")
    assert subjects(h, "beta@partners.example") == ["Your referral for Globex is being reviewed"]
    held = api(h, None, "GET", "/api/v1/admin/referrals", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert [r["tracking_id"] for r in held] == [tracking_id]
    assert api(h, beta, "GET", "/api/v1/admin/referrals").status_code == 401  # a partner key is no admin token

    # people decide: one held referral declined (the partner is told why), another approved
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    declined = api(
        h,
        None,
        "POST",
        f"/api/v1/admin/referrals/{tracking_id}/decline",
        headers=admin,
        json={"reason": "Globex is already an active customer"},
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    again = api(h, None, "POST", f"/api/v1/admin/referrals/{tracking_id}/decline", headers=admin, json={"reason": "x"})
    assert again.status_code == 409
    second = api(
        h,
        beta,
        "POST",
        "/api/v1/referrals",
        json={"company_name": "Globex Labs", "company_domain": "globex.com", "contact_email": "lab@globex.com"},
    ).json()["tracking_id"]
    wait_until(lambda: referral(h, second).status == "held_for_review" and idle(h), 60, what="second held")
    approved = api(
        h,
        None,
        "POST",
        f"/api/v1/admin/referrals/{second}/approve",
        headers=admin,
        json={"reason": "a new business unit, not the existing account"},
    )
    assert approved.status_code == 200 and approved.json()["status"] == "submitted"
    wait_until(lambda: referral(h, second).crm_deal_id is not None and idle(h), 60, what="approved deal in CRM")
    assert [p.get("partnerhub_tracking_id") for p in h.fake_hubspot.deals.values()].count(second) == 1
    assert subjects(h, "beta@partners.example") == [
        "Your referral for Globex is being reviewed",
        "Your referral for Globex was not accepted",
        "Your referral for Globex Labs is being reviewed",
        "Got it! Your referral for Globex Labs is in",
    ]
    declined_mail = mails_to(h, "beta@partners.example")[1]
    assert any("already an active customer" in c["value"] for c in declined_mail["content"])
    with h.hub.sessions() as s:
        from hub.program.models import AuditEntry

        assert [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
            "referral.decline",
            "referral.approve",
        ]


def test_partners_see_only_their_own_data(flow):
    h = flow
    a = add_partner(h, "A Partners", "a@partners.example")
    b = add_partner(h, "B Partners", "b@partners.example")
    made = api(h, a, "POST", "/api/v1/referrals", json={"company_name": "Initech", "company_domain": "initech.com"})
    tracking_id = made.json()["tracking_id"]
    assert [r["tracking_id"] for r in api(h, a, "GET", "/api/v1/referrals").json()] == [tracking_id]
    assert api(h, b, "GET", "/api/v1/referrals").json() == []
    assert api(h, b, "GET", f"/api/v1/referrals/{tracking_id}").status_code == 404
    assert api(h, b, "GET", "/api/v1/commissions").json() == {"entries": [], "balances": {}}
    assert api(h, None, "GET", "/api/v1/referrals").status_code == 401
    assert api(h, "ph_live_not-a-key", "GET", "/api/v1/referrals").status_code == 401
    bad = api(h, a, "POST", "/api/v1/referrals", json={"company_name": "Nobody"})
    assert bad.status_code == 422 and "contact_email or company_domain" in bad.text
    docs = httpx.get(h.web_url + "/openapi.json").json()
    assert "/api/v1/referrals" in docs["paths"] and "/api/v1/commissions" in docs["paths"]


def test_deal_a_salesperson_opens_for_a_referred_contact_is_attributed_by_email(flow):
    h = flow
    gamma = add_partner(h, "Gamma Consulting", "gamma@partners.example", tier="bronze")
    answer = api(
        h,
        gamma,
        "POST",
        "/api/v1/referrals",
        json={"company_name": "Wayne Enterprises", "contact_email": "bruce@wayne-enterprises.com"},
    )
    tracking_id = answer.json()["tracking_id"]
    wait_until(lambda: referral(h, tracking_id).crm_contact_id is not None and idle(h), 60, what="referral in CRM")
    contact_id = referral(h, tracking_id).crm_contact_id
    # a salesperson opens a second deal in HubSpot for the same person, without any partner field
    upsell = h.fake_hubspot.add(
        "deals", {"dealname": "Wayne upsell", "dealstage": "qualifiedtobuy", "pipeline": "default"}
    )
    h.fake_hubspot.associate("deals", upsell, "contacts", contact_id)
    h.fake_hubspot.set_deal(upsell, datetime.now(UTC))
    assert h.deliver([deal_event(upsell, event_type="deal.creation")]).status_code == 200
    wait_until(lambda: idle(h), 30, what="processed")
    from hub.program.models import Deal

    with h.hub.sessions() as s:
        deal = s.scalars(select(Deal).where(Deal.external_id == upsell)).one()
        ref = referral(h, tracking_id)
        assert (deal.partner_id, deal.referral_id, deal.attribution_source) == (ref.partner_id, ref.id, "email")
