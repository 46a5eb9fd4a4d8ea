"""HubSpot contacts and companies as hub records (``hub.program.parties``): arriving by webhook
and by polling, with the deal associations the hub read; deleted, merged and forgotten; and the
conflict check of a referral, which asks the CRM whenever the hub's own records find nothing."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.values import Change
from hub.pipeline.store import transaction, utcnow
from hub.pipeline.sync import poll
from hub.program import referrals
from hub.program.merges import MERGED_INTO
from hub.program.models import CrmCompany, CrmContact, CrmDealParty, Deal, Partner, Referral
from hub.program.privacy import FORGOTTEN
from hub.program.states import ReferralStatus
from tests.support.crm_events import apply, receive, store
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.hubspot_hub import SECRET, hubspot_env
from tests.support.program_hub import open_program_hub

_event_ids = itertools.count(500_000)


def event(kind: str, object_id: str, action: str, **extra: Any) -> dict[str, Any]:
    """A HubSpot webhook event as HubSpot sends it (``contact.creation``, ``company.deletion``...)."""
    return {
        "objectId": int(object_id),
        "eventId": next(_event_ids),
        "subscriptionId": 21,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(time.time() * 1000),
        "eventType": f"{kind}.{action}",
        "attemptNumber": 0,
        "changeSource": "CRM_UI",
        **extra,
    }


def deliver(hub: Any, *events: dict[str, Any]) -> list[str]:
    ids = receive(hub, "hubspot", json.dumps(list(events)).encode(), url="https://hub.example/webhooks/hubspot")
    return apply(hub, ids)


@pytest.fixture
def hub(
    database_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, fake_hubspot: FakeHubSpot
) -> Iterator[Any]:
    env = {
        **hubspot_env(fake_hubspot),
        "PARTNERHUB_HUBSPOT__CLIENT_SECRET": SECRET,
        "PARTNERHUB_HUBSPOT__POLL_LAG_S": "0",
        "PARTNERHUB_SYNC__INTERVAL_S": "0",
    }
    opened = open_program_hub(
        database_url, redis_url, tmp_path, monkeypatch, program=None, admin_token="t" * 32, env=env
    )
    try:
        yield opened
    finally:
        opened.close()


def partner_with_referral(hub: Any, *, email: str | None, domain: str | None) -> tuple[int, int]:
    """A referral of one partner (made once), a day ago (inside the attribution window)."""
    with transaction(hub.sessions) as s:
        partner = s.scalars(select(Partner).where(Partner.email == "alpha@partners.example")).first()
        if partner is None:
            partner = Partner(
                name="Alpha Partners", email="alpha@partners.example", status="active", created_at=utcnow()
            )
            s.add(partner)
            s.flush()
        ref = Referral(
            tracking_id=referrals.new_tracking_id(),
            partner_id=partner.id,
            company_name="Acme",
            company_domain=domain,
            contact_name="Jane Doe",
            contact_email=email,
            status=ReferralStatus.RECEIVED,
            history=[],
            created_at=utcnow() - timedelta(days=1),
            updated_at=utcnow(),
        )
        s.add(ref)
        s.flush()
        return partner.id, ref.id


def one(hub: Any, model: Any, external_id: str) -> Any:
    with hub.sessions() as s:
        return s.scalars(select(model).where(model.source == "hubspot", model.external_id == external_id)).one()


def links(hub: Any, deal_id: str) -> list[tuple[str, str]]:
    with hub.sessions() as s:
        rows = s.scalars(select(CrmDealParty).where(CrmDealParty.deal_id == deal_id))
        return sorted((r.party_type, r.party_id) for r in rows)


def test_contacts_and_companies_by_webhook_become_records_with_the_deal_associations(
    hub: Any, fake_hubspot: FakeHubSpot
) -> None:
    company = fake_hubspot.add(
        "companies",
        {"name": " Acme GmbH ", "domain": "Acme.example", "country": "Germany", "state": "Bavaria",
         "industry": "COMPUTER_SOFTWARE", "lifecyclestage": "lead"},
    )  # fmt: skip
    contact = fake_hubspot.add(
        "contacts",
        {"email": "Jane@Acme.example", "firstname": "Jane", "lastname": "Doe", "country": "Germany",
         "associatedcompanyid": company},
    )  # fmt: skip
    assert deliver(hub, event("company", company, "creation"), event("contact", contact, "creation")) == [
        "applied",
        "applied",
    ]
    acme = one(hub, CrmCompany, company)
    assert (acme.name, acme.domain, acme.country, acme.region, acme.industry, acme.deleted) == (
        "Acme GmbH",
        "acme.example",
        "Germany",
        "Bavaria",
        "COMPUTER_SOFTWARE",
        False,
    )
    jane = one(hub, CrmContact, contact)
    assert (jane.email, jane.first_name, jane.company_ids, jane.version_ms > 0) == (
        "jane@acme.example",
        "Jane",
        [company],
        True,
    )
    # the same change again (a redelivery at the same version) changes nothing
    assert deliver(hub, event("contact", contact, "propertyChange", propertyName="firstname", propertyValue="J"))[
        0
    ] in ("applied", "stale")

    # a new deal: its parties are read from HubSpot once and kept as its associations
    _, referral_id = partner_with_referral(hub, email="jane@acme.example", domain=None)
    deal = fake_hubspot.add("deals", {"dealname": "Acme rollout", "dealstage": "appointmentscheduled",
                                      "pipeline": "default"})  # fmt: skip
    fake_hubspot.associate("deals", deal, "contacts", contact)
    fake_hubspot.associate("deals", deal, "companies", company)
    [outcome] = deliver(hub, event("deal", deal, "creation"))
    assert "attributed:email" in outcome
    assert links(hub, deal) == [("company", company), ("contact", contact)]
    with hub.sessions() as s:
        record = s.scalars(select(Deal).where(Deal.external_id == deal)).one()
        assert record.referral_id == referral_id


def test_polling_brings_contacts_and_companies_like_deals(hub: Any, fake_hubspot: FakeHubSpot) -> None:
    company = fake_hubspot.add("companies", {"name": "Polled Inc", "domain": "polled.example", "country": "France"})
    contact = fake_hubspot.add("contacts", {"email": "paul@polled.example", "firstname": "Paul"})
    fake_hubspot.stamps["companies"][company] -= timedelta(seconds=5)  # settled in HubSpot's search index
    fake_hubspot.stamps["contacts"][contact] -= timedelta(seconds=5)
    assert set(hub.connectors["hubspot"].poll_objects) == {"deal", "contact", "company"}
    for obj in ("company", "contact"):
        before = set(_inbox_ids(hub))
        assert poll(hub, "hubspot", obj).records == 1
        assert apply(hub, sorted(set(_inbox_ids(hub)) - before)) == ["applied"]
    assert (one(hub, CrmCompany, company).domain, one(hub, CrmCompany, company).country) == (
        "polled.example",
        "France",
    )
    assert one(hub, CrmContact, contact).email == "paul@polled.example"


def _inbox_ids(hub: Any) -> list[int]:
    from hub.pipeline.models import InboxEvent

    with hub.sessions() as s:
        return list(s.scalars(select(InboxEvent.id)))


def test_a_deletion_a_merge_and_a_privacy_deletion(hub: Any, fake_hubspot: FakeHubSpot) -> None:
    company = fake_hubspot.add("companies", {"name": "Gone Ltd", "domain": "gone.example"})
    keep = fake_hubspot.add("contacts", {"email": "keep@merge.example", "firstname": "Kim", "lastname": "Keep"})
    dup = fake_hubspot.add("contacts", {"email": "dup@merge.example", "firstname": "Kim", "lastname": "Dupe"})
    deal = fake_hubspot.add("deals", {"dealname": "Merge deal", "dealstage": "appointmentscheduled",
                                      "pipeline": "default"})  # fmt: skip
    fake_hubspot.associate("deals", deal, "contacts", dup)
    deliver(hub, *(event(k, i, "creation") for k, i in (("company", company), ("contact", keep), ("contact", dup))))
    deliver(hub, event("deal", deal, "creation"))
    assert links(hub, deal) == [("contact", dup)]

    # a company deleted in HubSpot: the record stays, marked deleted
    assert deliver(hub, event("company", company, "deletion")) == ["deleted"]
    assert one(hub, CrmCompany, company).deleted is True

    # two contacts merged: the merged-away one points to the survivor, and so does the deal
    merge_event = fake_hubspot.merge("contacts", keep, dup)
    assert deliver(hub, merge_event) == ["applied"]
    survivor_id = str(merge_event["newObjectId"])
    gone = one(hub, CrmContact, dup)
    assert gone.deleted and gone.properties[MERGED_INTO] == survivor_id
    assert links(hub, deal) == [("contact", survivor_id)]
    assert deliver(hub, merge_event | {"eventId": next(_event_ids)}) == ["stale"]  # twice: nothing more
    assert links(hub, deal) == [("contact", survivor_id)]

    # a privacy deletion names only the id: the hub's record gives the address, so the referral
    # with that address is forgotten too
    partner_with_referral(hub, email="keep@merge.example", domain=None)
    [outcome] = deliver(hub, event("contact", survivor_id, "privacyDeletion"))
    assert outcome.startswith("forgotten:")
    person = one(hub, CrmContact, survivor_id)
    assert (person.email, person.first_name, person.last_name, person.deleted) == (None, FORGOTTEN, FORGOTTEN, True)
    assert "keep@merge.example" not in json.dumps(person.properties)
    with hub.sessions() as s:
        assert [r.contact_email for r in s.scalars(select(Referral))] == [None]


def test_a_referral_for_a_customer_known_only_to_the_crm_is_held(hub: Any, fake_hubspot: FakeHubSpot) -> None:
    """The hub's copy says nothing (no record yet, or a stale one): the CRM is asked and wins."""
    fake_hubspot.add("companies", {"name": "Known Corp", "domain": "known.example", "lifecyclestage": "customer"})
    _, not_local = partner_with_referral(hub, email="buyer@known.example", domain="known.example")
    with transaction(hub.sessions) as s:
        assert referrals.process_submitted(s, hub, not_local) == "held_for_review"
        assert "customer in the CRM" in (s.get(Referral, not_local).status_reason or "")  # type: ignore[union-attr]

    # a stale local copy: the record still says "lead", HubSpot says customer
    stale = fake_hubspot.add("companies", {"name": "Stale Corp", "domain": "stale.example", "lifecyclestage": "lead"})
    deliver(hub, event("company", stale, "creation"))
    fake_hubspot.companies[stale]["lifecyclestage"] = "customer"  # changed, no webhook yet
    _, stale_ref = partner_with_referral(hub, email=None, domain="stale.example")
    with transaction(hub.sessions) as s:
        assert referrals.process_submitted(s, hub, stale_ref) == "held_for_review"

    # a customer the hub's records know: held on their word, without a CRM search
    fake_hubspot.stamps["companies"][stale] += timedelta(seconds=1)  # HubSpot's modification stamp moves
    deliver(hub, event("company", stale, "propertyChange", propertyName="lifecyclestage", propertyValue="customer"))
    assert one(hub, CrmCompany, stale).lifecycle_stage == "customer"
    _, local_ref = partner_with_referral(hub, email=None, domain="stale.example")
    searches = len(fake_hubspot.requests_to("/search"))
    with transaction(hub.sessions) as s:
        assert referrals.process_submitted(s, hub, local_ref) == "held_for_review"
    assert len(fake_hubspot.requests_to("/search")) == searches


def test_an_older_version_never_overwrites_a_newer_one(hub: Any) -> None:
    from hub.mapping import Canonical
    from hub.program import parties

    def change(name: str) -> Canonical:
        return Canonical(target="company", key="77", fields={"name": name, "domain": "v.example"}, version_ms=None)

    with transaction(hub.sessions) as s:
        assert parties.apply_change(s, "company", "hubspot", change("New"), 2_000) == "applied"
        assert parties.apply_change(s, "company", "hubspot", change("Old"), 1_000) == "stale"
    assert one(hub, CrmCompany, "77").name == "New"


def test_a_deal_record_carrying_its_associations_is_attributed_from_the_hub_records(
    hub: Any, fake_hubspot: FakeHubSpot
) -> None:
    """A deal read with its associations (``associations.contacts`` / ``.companies``, as the v3
    API returns them when asked): the hub's records of its contact and company answer, and no
    association or party read goes to HubSpot."""
    company = fake_hubspot.add("companies", {"name": "Assoc Inc", "domain": "assoc.example"})
    contact = fake_hubspot.add("contacts", {"email": "ann@assoc.example", "associatedcompanyid": company})
    deliver(hub, event("company", company, "creation"), event("contact", contact, "creation"))
    partner_with_referral(hub, email=None, domain="assoc.example")
    now_ms = int(time.time() * 1000)
    stamp = utcnow().isoformat().replace("+00:00", "Z")  # created now: after the referral
    record = {
        "id": "9001",
        "archived": False,
        "properties": {"dealname": "Assoc deal", "dealstage": "appointmentscheduled", "pipeline": "default",
                       "hs_lastmodifieddate": stamp, "createdate": stamp},
        "associations": {"contacts": {"results": [{"id": contact, "type": "deal_to_contact"}]},
                         "companies": {"results": [{"id": company, "type": "deal_to_company"}]}},
    }  # fmt: skip
    change = Change(event_key="poll:deal:9001:1", event_type="deal.polled", object_type="deal", object_id="9001",
                    version_ms=now_ms, payload=record)  # fmt: skip
    before = len(fake_hubspot.requests)
    [outcome] = apply(hub, store(hub, "hubspot", (change,)))
    assert "attributed:domain" in outcome
    assert fake_hubspot.requests[before:] == []  # no association read, no contact or company read
    assert links(hub, "9001") == [("company", company), ("contact", contact)]
