"""The first partner flow end to end with Pipedrive as the company's CRM (``PARTNERHUB_CRM=
pipedrive``), through the running web app and worker processes, against the fake Pipedrive
behind Prism (v2 and v1 specs: every request the hub sends is validated) and the fake SendGrid:
referral in, CRM deal out, echoes dropped, status emails, closed-won commission; a conflicting
referral held; a salesperson's deal attributed by the referred person's email; the webhooks
registered and re-registered when Pipedrive drops them."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from hub.pipeline.models import InboxEvent, OutboxItem
from hub.program.models import Deal, LedgerEntry
from tests.support.flows import (
    add_partner,
    api,
    idle,
    referral,
    start_flow,
    subjects,
)
from tests.support.pipedrive_hub import deliver, pipedrive_mappings
from tests.support.servers import wait_until


@pytest.fixture
def flow(make_harness, database_url, pipedrive, fake_sendgrid, tmp_path):  # type: ignore[no-untyped-def]
    return start_flow(
        make_harness, "pipedrive", database_url, pipedrive, fake_sendgrid, mappings=pipedrive_mappings(tmp_path)
    )


def outcomes(h) -> list[str]:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return [
            e.outcome
            for e in s.scalars(select(InboxEvent).where(InboxEvent.connector == "pipedrive").order_by(InboxEvent.id))
        ]


def test_referral_to_pipedrive_deal_to_status_emails_to_commission(flow):
    h = flow
    alpha = add_partner(h, "Alpha Partners", "alpha@partners.example", tier="gold")
    body = {
        "company_name": "Acme Corp",
        "company_domain": "acme-corp.com",
        "contact_name": "Jane Doe",
        "contact_email": "jane@acme-corp.com",
    }
    first = api(h, alpha, "POST", "/api/v1/referrals", json=body, headers={"Idempotency-Key": "ref-1"})
    second = api(h, alpha, "POST", "/api/v1/referrals", json=body, headers={"Idempotency-Key": "ref-1"})
    assert first.status_code == 202 and second.status_code == 200
    tracking_id = first.json()["tracking_id"]

    wait_until(lambda: referral(h, tracking_id).crm_deal_id is not None and idle(h), 90, what="deal in Pipedrive")
    ref = referral(h, tracking_id)
    assert ref.status == "submitted" and ref.crm == "pipedrive"
    key = h.fake.field_key("deal", "partnerhub_tracking_id")
    deals = [(i, d) for i, d in h.fake.records["deal"].items() if d["custom_fields"].get(key) == tracking_id]
    assert len(deals) == 1
    deal_id, deal = deals[0]
    assert str(deal_id) == ref.crm_deal_id and deal["title"] == "Acme Corp" and deal["stage_id"] == 1
    assert deal["custom_fields"][h.fake.field_key("deal", "partnerhub_source")] == "partner_referral"
    person = h.fake.records["person"][deal["person_id"]]
    assert person["emails"][0]["value"] == "jane@acme-corp.com" and person["name"] == "Jane Doe"
    assert subjects(h, "alpha@partners.example") == ["Got it! Your referral for Acme Corp is in"]

    # the echoes of the hub's own writes (organization, person, deal created) send nothing
    echoes = list(h.fake.events)
    assert [(e["meta"]["entity"], e["meta"]["action"]) for e in echoes] == [
        ("organization", "create"),
        ("person", "create"),
        ("deal", "create"),
    ]
    for event in echoes:
        assert deliver(h, event).status_code == 200
    wait_until(lambda: idle(h), 30, what="echoes processed")
    assert outcomes(h) == ["echo", "echo", "echo"]
    assert len(subjects(h, "alpha@partners.example")) == 1

    # a genuine stage change, delivered three times (Pipedrive retries with the same meta.id)
    # and shuffled with an older event
    change = h.fake.change("deal", deal_id, stage_id=3)
    batch = [change, change, change, echoes[2]]
    random.shuffle(batch)
    for event in batch:
        assert deliver(h, event).status_code == 200
    wait_until(lambda: referral(h, tracking_id).status == "demo_scheduled" and idle(h), 30, what="demo scheduled")
    assert subjects(h, "alpha@partners.example")[1:] == ["Your referral for Acme Corp moved to Demo Scheduled"]
    assert len(outcomes(h)) == 4  # the three deliveries of one meta.id are one inbox row

    # won: one ledger entry, one email, whatever the replays
    won = h.fake.change("deal", deal_id, status="won", value=10000)
    for _ in range(3):
        deliver(h, won)
    wait_until(lambda: referral(h, tracking_id).status == "closed_won" and idle(h), 30, what="closed won")
    with h.hub.sessions() as s:
        entries = [(e.kind, e.amount_minor, e.currency, e.status) for e in s.scalars(select(LedgerEntry))]
    assert entries == [("commission", 150_000, "USD", "pending")]  # gold: 15 % of 10,000.00
    assert [s for s in subjects(h, "alpha@partners.example") if s.startswith("Deal closed!")] == [
        "Deal closed! Commission: $1,500.00"
    ]

    # the hub wrote the partner data back to the deal (``write_record`` outbox rows): partner
    # name and attribution once it saw the deal, the commission once it was won
    writes = h.fake.events[3:]
    name, commission = (
        h.fake.field_key("deal", f) for f in ("partnerhub_partner_name", "partnerhub_commission_amount")
    )
    assert [(e["meta"]["entity"], e["meta"]["action"], e["meta"]["change_source"]) for e in writes] == [
        ("deal", "change", "api"),
        ("deal", "change", "api"),
    ]
    assert writes[0]["data"]["custom_fields"][name]["value"] == "Alpha Partners"
    assert writes[1]["data"]["custom_fields"][commission]["value"] == "1500.00"
    with h.hub.sessions() as s:
        assert [o.action for o in s.scalars(select(OutboxItem).where(OutboxItem.connector == "pipedrive"))].count(
            "write_record"
        ) == 2
    for event in writes:
        assert deliver(h, event).status_code == 200
    wait_until(lambda: idle(h), 30, what="write-back echoes processed")
    assert outcomes(h)[-2:] == ["echo", "echo"]  # their echoes change nothing
    events_before = len(h.fake.events)
    assert events_before == 5

    # a field mapped both ways (the partner id) written by the hub comes back as a webhook: no loop
    from hub.pipeline.outbox import owe

    with h.hub.sessions() as s, s.begin():
        owe(
            s,
            natural_key="test:partner-id",
            connector="pipedrive",
            action="update_deal",
            payload={"deal_id": str(deal_id), "custom_fields": {"partnerhub_partner_id": "99"}},
        )
    wait_until(lambda: idle(h) and len(h.fake.events) == events_before + 1, 30, what="update carried out")
    with h.hub.sessions() as s:
        outbox_before = len(list(s.scalars(select(OutboxItem))))
    echo_of_update = h.fake.events[-1]
    assert echo_of_update["meta"]["change_source"] == "api"
    assert deliver(h, echo_of_update).status_code == 200
    wait_until(lambda: idle(h), 30, what="update echo processed")
    assert outcomes(h)[-1] == "echo"
    with h.hub.sessions() as s:
        assert len(list(s.scalars(select(OutboxItem)))) == outbox_before  # nothing written back
    assert len(h.fake.events) == events_before + 1


def test_conflicting_referral_is_held_and_creates_nothing_in_pipedrive(flow):
    h = flow
    org = h.fake.add("organization", {"name": "Globex"}, custom={"partnerhub_company_domain": "globex.com"})
    h.fake.add("deal", {"title": "Globex renewal", "org_id": org, "status": "open"})
    beta = add_partner(h, "Beta Resellers", "beta@partners.example", tier="silver")
    deals_before = len(h.fake.records["deal"])
    answer = api(
        h,
        beta,
        "POST",
        "/api/v1/referrals",
        json={"company_name": "Globex", "company_domain": "globex.com", "contact_email": "hank@globex.com"},
    )
    tracking_id = answer.json()["tracking_id"]
    wait_until(lambda: referral(h, tracking_id).status == "held_for_review" and idle(h), 60, what="held")
    assert "open deal" in (referral(h, tracking_id).status_reason or "")
    assert len(h.fake.records["deal"]) == deals_before
    assert not [p for p in h.fake.paths("POST") if not p.endswith("Fields")]  # setup only
    assert subjects(h, "beta@partners.example") == ["Your referral for Globex is being reviewed"]


def test_deal_a_salesperson_opens_for_a_referred_person_is_attributed_by_email(flow):
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
    person_id = int(referral(h, tracking_id).crm_contact_id)
    upsell = h.fake.add("deal", {"title": "Wayne upsell", "person_id": person_id, "stage_id": 2})
    created = h.fake.event("deal", "create", h.fake.records["deal"][upsell], None)
    assert deliver(h, created).status_code == 200
    wait_until(lambda: idle(h), 30, what="processed")
    with h.hub.sessions() as s:
        deal = s.scalars(select(Deal).where(Deal.source == "pipedrive", Deal.external_id == str(upsell))).one()
        ref = referral(h, tracking_id)
        assert (deal.partner_id, deal.referral_id, deal.attribution_source) == (ref.partner_id, ref.id, "email")
