"""HubSpot merges and echoes through the running web app and worker processes, against the fake
HubSpot (requests checked with hubspot-api-client's models) and the fake SendGrid (checked by
Prism): a merge re-points the hub's deal record to the surviving id with its attribution,
referral link and commission, counting nothing twice; the hub's own writes coming back as
webhooks write and email nothing more; a person's edit of a field the hub wrote is taken in, not
written over."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from hub.pipeline.models import InboxEvent, OutboxItem
from hub.program.models import Deal, LedgerEntry, Notification
from tests.support.flows import add_partner, api, idle, mails_to, referral, subjects
from tests.support.hubspot_hub import deal_webhook as deal_event
from tests.support.hubspot_hub import move_deal
from tests.support.servers import wait_until


def _refer(h, key: str, company: str, email: str) -> str:  # type: ignore[no-untyped-def]
    made = api(h, key, "POST", "/api/v1/referrals", json={"company_name": company, "contact_email": email})
    assert made.status_code == 202
    tracking_id = made.json()["tracking_id"]
    wait_until(lambda: referral(h, tracking_id).crm_deal_id is not None and idle(h), 60, what="deal in the CRM")
    return tracking_id


def test_a_merge_re_points_the_deal_and_counts_its_commission_once(flow):
    h = flow
    alpha = add_partner(h, "Alpha Partners", "alpha@partners.example", tier="gold")
    tracking_id = _refer(h, alpha, "Acme Corp", "jane@acme-corp.com")
    ref = referral(h, tracking_id)
    deal_id, contact_id = ref.crm_deal_id, ref.crm_contact_id
    assert deal_id and contact_id

    # the deal is won; a salesperson has also opened a duplicate deal for the same person
    move_deal(h, deal_id, dealstage="closedwon", amount="10000.00")
    duplicate = h.fake_hubspot.add(
        "deals", {"dealname": "Acme Corp (dup)", "dealstage": "closedwon", "amount": "10000.00", "pipeline": "default"}
    )
    h.fake_hubspot.associate("deals", duplicate, "contacts", contact_id)
    h.fake_hubspot.set_deal(duplicate, datetime.now(UTC))
    h.deliver(
        [
            deal_event(deal_id, event_type="deal.propertyChange", prop="dealstage", value="closedwon"),
            deal_event(duplicate, event_type="deal.creation"),
        ]
    )
    wait_until(lambda: idle(h), 30, what="both deals processed")
    with h.hub.sessions() as s:
        live = [e for e in s.scalars(select(LedgerEntry)) if e.status != "cancelled"]
    assert len(live) == 2  # one commission per deal: the duplicate counts the sale twice

    # HubSpot merges the two into a record with a new id; the event comes twice
    merge = h.fake_hubspot.merge("deals", deal_id, duplicate, new_id=True)
    survivor = str(merge["newObjectId"])
    assert survivor not in (deal_id, duplicate)
    emails_before = len(mails_to(h, "alpha@partners.example"))
    assert h.deliver([merge]).status_code == 200
    assert h.deliver([merge]).status_code == 200
    wait_until(lambda: idle(h), 30, what="merge processed")

    with h.hub.sessions() as s:
        deals = {d.external_id: d for d in s.scalars(select(Deal))}
        kept = deals[survivor]
        assert kept.id == deals[survivor].id and not kept.deleted
        assert (kept.partner_id, kept.referral_id) == (ref.partner_id, ref.id)  # attribution followed
        assert deal_id not in deals  # the hub's record for the original deal now carries the new id
        assert deals[duplicate].deleted and deals[duplicate].properties["merged_into"] == survivor
        entries = list(s.scalars(select(LedgerEntry)))
        live = [(e.deal_id, e.amount_minor) for e in entries if e.status != "cancelled"]
        assert live == [(kept.id, 150_000)]  # one commission, on the survivor
        outcomes = [e.outcome for e in s.scalars(select(InboxEvent).where(InboxEvent.event_type == "deal.merge"))]
        assert len(outcomes) == 1  # the repeat collapsed on its event key
    assert referral(h, tracking_id).crm_deal_id == survivor  # the referral follows the deal
    assert len(mails_to(h, "alpha@partners.example")) == emails_before  # nothing to tell the partner

    # later changes to the survivor move the same commission
    move_deal(h, survivor, amount="20000.00")
    h.deliver([deal_event(survivor, event_type="deal.propertyChange", prop="amount", value="20000.00")])
    wait_until(lambda: idle(h), 30, what="amount changed")
    with h.hub.sessions() as s:
        live = [(e.amount_minor, e.status) for e in s.scalars(select(LedgerEntry)) if e.status != "cancelled"]
    assert live == [(300_000, "pending")]
    assert api(h, alpha, "GET", "/api/v1/commissions").json()["balances"] == {
        "USD": {"pending": 300_000, "approved": 0, "paid": 0}
    }


def test_values_the_hub_wrote_coming_back_write_and_email_nothing(flow):
    h = flow
    beta = add_partner(h, "Beta Resellers", "beta@partners.example", tier="silver")
    tracking_id = _refer(h, beta, "Initech", "peter@initech.example")
    ref = referral(h, tracking_id)
    deal_id = ref.crm_deal_id
    assert deal_id is not None
    written = dict(h.fake_hubspot.deals[deal_id])
    assert written["partnerhub_source"] == "partner_referral"  # mapped both ways (owner: hub)
    writes_before = len(
        [
            r
            for r in h.fake_hubspot.requests
            if r["method"] == "POST" and "/search" not in r["path"] and "/batch/read" not in r["path"]
        ]
    )
    with h.hub.sessions() as s:
        outbox_before = len(list(s.scalars(select(OutboxItem))))
        notes_before = len(list(s.scalars(select(Notification))))

    # HubSpot reports each property the hub set, as webhooks do: one event per property
    echoes = [deal_event(deal_id, event_type="deal.creation")] + [
        deal_event(deal_id, event_type="deal.propertyChange", prop=name, value=value)
        for name, value in sorted(written.items())
    ]
    assert h.deliver(echoes).status_code == 200
    wait_until(lambda: idle(h), 30, what="echoes processed")
    with h.hub.sessions() as s:
        events = list(s.scalars(select(InboxEvent).where(InboxEvent.connector == "hubspot")))
        assert [e.outcome for e in events] == ["echo"] * len(echoes)
        assert len(list(s.scalars(select(OutboxItem)))) == outbox_before
        assert len(list(s.scalars(select(Notification)))) == notes_before
    writes_after = len(
        [
            r
            for r in h.fake_hubspot.requests
            if r["method"] == "POST" and "/search" not in r["path"] and "/batch/read" not in r["path"]
        ]
    )
    assert writes_after == writes_before
    assert subjects(h, "beta@partners.example") == ["Got it! Your referral for Initech is in"]

    # a person changes the same field to something else: news, taken in, and still not written back;
    # the deal is applied for the first time, so the partner data the create did not carry (the
    # partner's name, how the deal was attributed) is written back, and only that
    move_deal(h, deal_id, partnerhub_source="event")
    h.deliver([deal_event(deal_id, event_type="deal.propertyChange", prop="partnerhub_source", value="event")])
    wait_until(lambda: idle(h), 30, what="a person's change processed")
    with h.hub.sessions() as s:
        last = s.scalars(select(InboxEvent).order_by(InboxEvent.id.desc()).limit(1)).one()
        assert last.outcome is not None and last.outcome.startswith("applied")
        deal = s.scalars(select(Deal).where(Deal.external_id == deal_id)).one()
        assert deal.properties["source"] == "event"
        crm_writes = [o for o in s.scalars(select(OutboxItem)) if o.connector == "hubspot"]
        assert [o.action for o in crm_writes] == ["create_referral_deal", "write_record"]
        assert sorted(crm_writes[1].payload["sync"]["fields"]) == ["attribution", "partner_name"]
        assert "partnerhub_source" not in crm_writes[1].payload["record"]  # the person's edit stands
    now_in_crm = h.fake_hubspot.deals[deal_id]
    assert now_in_crm["partnerhub_source"] == "event"
    assert now_in_crm["partnerhub_partner_name"] == "Beta Resellers"
    assert (
        len(
            [
                r
                for r in h.fake_hubspot.requests
                if r["method"] == "POST" and "/search" not in r["path"] and "/batch/read" not in r["path"]
            ]
        )
        == writes_before + 1  # the one batched write
    )
