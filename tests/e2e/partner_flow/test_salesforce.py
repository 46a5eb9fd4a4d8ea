"""The first partner flow end to end with Salesforce as the company's CRM, through the running web
app and worker processes, against the fake Salesforce (TLS on loopback, requests checked against
Salesforce's Postman collection) and the fake SendGrid (Prism): referral in, Opportunity out,
Outbound Messages in (re-read through the API), status emails, closed-won commission."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from connectors.salesforce import ACK
from hub.pipeline.models import InboxEvent
from hub.program.models import LedgerEntry
from tests.support.fake_salesforce import ORG_ID, outbound_message
from tests.support.flows import (
    add_partner,
    api,
    idle,
    mails_to,
    referral,
    start_flow,
    subjects,
)
from tests.support.salesforce_hub import post_outbound
from tests.support.servers import wait_until

_notification_ids = (f"04l5g00000{n:06d}AAA"[:18] for n in itertools.count(1))


@pytest.fixture
def flow(make_harness, database_url, fake_salesforce, fake_sendgrid, salesforce_mappings):  # type: ignore[no-untyped-def]
    return start_flow(
        make_harness, "salesforce", database_url, fake_salesforce, fake_sendgrid, mappings=salesforce_mappings
    )


def opportunity_message(
    fake,
    deal_id: str,
    *fields: str,
    notification_id: str | None = None,  # type: ignore[no-untyped-def]
    **claimed: object,
) -> bytes:
    """What an Outbound Message on Opportunity sends: the record's current values of ``fields``
    (or values the sender ``claimed``)."""
    [current] = fake.find("Opportunity", Id=deal_id)
    values = {"Id": deal_id, **{f: current[f] for f in fields}, **claimed, "SystemModstamp": current["SystemModstamp"]}
    return outbound_message([(notification_id or next(_notification_ids), "Opportunity", values)])


def outcomes(h) -> list[str]:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return [
            e.outcome
            for e in s.scalars(select(InboxEvent).where(InboxEvent.connector == "salesforce").order_by(InboxEvent.id))
        ]


def test_referral_to_opportunity_to_status_emails_to_commission(flow):
    h = flow
    sf = h.fake_salesforce
    alpha = add_partner(h, "Alpha Partners", "alpha@partners.example", tier="gold")
    body = {
        "company_name": "Acme Corp",
        "company_domain": "acme-corp.com",
        "contact_name": "Jane Doe",
        "contact_email": "jane@acme-corp.com",
    }
    first = api(h, alpha, "POST", "/api/v1/referrals", json=body, headers={"Idempotency-Key": "ref-1"})
    assert first.status_code == 202
    tracking_id = first.json()["tracking_id"]
    wait_until(lambda: referral(h, tracking_id).crm_deal_id is not None and idle(h), 60, what="opportunity")

    [opp] = sf.find("Opportunity", Partnerhub_Tracking_Id__c=tracking_id)
    deal_id = referral(h, tracking_id).crm_deal_id
    assert opp["Id"] == deal_id and opp["Name"] == "Acme Corp" and opp["StageName"] == "Prospecting"
    assert opp["Partnerhub_Source__c"] == "partner_referral" and opp["CloseDate"]
    [contact] = sf.find("Contact", Email="jane@acme-corp.com")
    assert (contact["FirstName"], contact["LastName"]) == ("Jane", "Doe")
    [account] = sf.find("Account", Website="acme-corp.com")
    assert opp["AccountId"] == account["Id"] == contact["AccountId"]
    assert sf.find("OpportunityContactRole", OpportunityId=deal_id, ContactId=contact["Id"])
    assert subjects(h, "alpha@partners.example") == ["Got it! Your referral for Acme Corp is in"]

    # the echo of the hub's own write (an Outbound Message carrying the fields it wrote) is dropped
    echo = post_outbound(h, opportunity_message(sf, deal_id, "Name", "StageName"))
    assert echo.status_code == 200 and echo.content == ACK
    assert echo.headers["content-type"].startswith("text/xml")
    wait_until(lambda: idle(h), 30, what="echo processed")
    assert outcomes(h) == ["echo"]

    # a salesperson moves the stage; Salesforce delivers the message three times: one event, one email
    sf.update("Opportunity", deal_id, StageName="Value Proposition")
    moved = opportunity_message(sf, deal_id, "StageName")
    for _ in range(3):
        assert post_outbound(h, moved).content == ACK
    wait_until(lambda: referral(h, tracking_id).status == "demo_scheduled" and idle(h), 30, what="demo scheduled")
    assert len(outcomes(h)) == 2
    assert subjects(h, "alpha@partners.example")[1:] == ["Your referral for Acme Corp moved to Demo Scheduled"]

    # Outbound Messages are unsigned: a forged "Closed Won" is re-read through the API, which says otherwise
    forged = opportunity_message(sf, deal_id, StageName="Closed Won", Amount="1000000.00")
    assert post_outbound(h, forged).content == ACK
    wait_until(lambda: len(outcomes(h)) == 3 and idle(h), 30, what="forged message processed")
    assert referral(h, tracking_id).status == "demo_scheduled"
    with h.hub.sessions() as s:
        assert list(s.scalars(select(LedgerEntry))) == []

    # closed won in Salesforce: one ledger entry and one email, whatever the replays
    sf.update("Opportunity", deal_id, StageName="Closed Won", Amount=10000.0)
    won = opportunity_message(sf, deal_id, "StageName", "Amount")
    for _ in range(2):
        post_outbound(h, won)
    wait_until(lambda: referral(h, tracking_id).status == "closed_won" and idle(h), 30, what="closed won")
    with h.hub.sessions() as s:
        entries = [(e.kind, e.amount_minor, e.currency, e.status) for e in s.scalars(select(LedgerEntry))]
    assert entries == [("commission", 150_000, "USD", "pending")]  # gold: 15 % of 10,000.00
    assert [x for x in subjects(h, "alpha@partners.example") if x.startswith("Deal closed!")] == [
        "Deal closed! Commission: $1,500.00"
    ]
    assert mails_to(h, "alpha@partners.example")
    assert sf.violations == [] and h.fake_sendgrid.violations == []


def test_conflicting_referral_is_held_and_creates_nothing_in_salesforce(flow):
    h = flow
    sf = h.fake_salesforce
    account = sf.add("Account", {"Name": "Globex", "Website": "https://www.globex.com/"})
    sf.add(
        "Opportunity",
        {"Name": "Globex renewal", "StageName": "Qualification", "CloseDate": "2030-01-01", "AccountId": account},
    )
    beta = add_partner(h, "Beta Resellers", "beta@partners.example", tier="silver")
    before = len(sf.find("Opportunity"))
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
    assert len(sf.find("Opportunity")) == before and not sf.find("Contact")
    assert not [r for r in sf.requests if "/composite/sobjects" in r["path"]]
    assert subjects(h, "beta@partners.example") == ["Your referral for Globex is being reviewed"]


def test_outbound_message_from_another_org_gets_a_soap_fault_and_stores_nothing(flow):
    h = flow
    sf = h.fake_salesforce
    deal = sf.add("Opportunity", {"Name": "X", "StageName": "Prospecting", "CloseDate": "2030-01-01"})
    body = outbound_message(
        [("04l5g0000000999AAA", "Opportunity", {"Id": deal, "StageName": "Closed Won"})], org_id="00D5g000009ZZZZEAZ"
    )
    answer = post_outbound(h, body)
    assert answer.status_code == 401 and answer.headers["content-type"].startswith("text/xml")
    assert b"<soapenv:Fault>" in answer.content and b"OrganizationId" in answer.content
    wrong_path = post_outbound(
        h,
        outbound_message([("04l5g0000000998AAA", "Opportunity", {"Id": deal})]),
        secret="not-the-secret-path-segment-000000",
    )
    assert wrong_path.status_code == 401 and b"<soapenv:Fault>" in wrong_path.content
    malformed = post_outbound(h, b"<soapenv:Envelope")
    assert malformed.status_code == 400 and b"not well-formed" in malformed.content
    assert h.inbox() == []
    # the right org and path are accepted
    assert (
        post_outbound(h, outbound_message([("04l5g0000000997AAA", "Opportunity", {"Id": deal})], org_id=ORG_ID)).content
        == ACK
    )
    assert len(h.inbox()) == 1  # committed before the Ack
