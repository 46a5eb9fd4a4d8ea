"""Salesforce Contacts and Accounts as hub records (``hub.program.parties``): pushed by Outbound
Messages (re-read whole through the API), an Opportunity's Account kept as its association and
used for attribution without asking Salesforce for the deal's parties; a deletion; a merge
(Salesforce deletes the merged-away record); a referral for an Account that is a customer in
Salesforce but not yet a hub record is held."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hub.pipeline.store import transaction, utcnow
from hub.program import parties, referrals
from hub.program.merges import MERGED_INTO
from hub.program.models import CrmCompany, CrmContact, CrmDealParty, Partner, Referral
from hub.program.privacy import FORGOTTEN, forget
from hub.program.states import ReferralStatus
from tests.support.crm_events import apply, receive
from tests.support.fake_salesforce import FakeSalesforce, outbound_message
from tests.support.program_hub import open_program_hub
from tests.support.salesforce_hub import PATH_SECRET

_notification_ids = itertools.count(1)


def deliver(hub: Any, *records: tuple[str, str]) -> list[str]:
    """An Outbound Message naming ``records`` (sObject, Id), as a workflow rule sends it."""
    body = outbound_message(
        [(f"04l5g{next(_notification_ids):013d}", sobject, {"Id": rid}) for sobject, rid in records]
    )
    ids = receive(
        hub,
        "salesforce",
        body,
        url=f"https://hub.example/webhooks/salesforce/{PATH_SECRET}",
        headers={"content-type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )
    return apply(hub, ids)


@pytest.fixture
def hub(
    database_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, fake_salesforce: FakeSalesforce
) -> Iterator[Any]:
    env = {
        **fake_salesforce.settings_env(),
        "PARTNERHUB_CRM": "salesforce",
        "PARTNERHUB_SALESFORCE__OUTBOUND_PATH_SECRET": PATH_SECRET,
        "PARTNERHUB_SYNC__INTERVAL_S": "0",
    }
    opened = open_program_hub(
        database_url, redis_url, tmp_path, monkeypatch, program=None, admin_token="t" * 32, env=env
    )
    try:
        yield opened
    finally:
        opened.close()


def referral(hub: Any, *, email: str | None, domain: str | None) -> int:
    with transaction(hub.sessions) as s:
        partner = s.scalars(select(Partner)).first()
        if partner is None:
            partner = Partner(name="Beta Partners", email="beta@partners.example", status="active", created_at=utcnow())
            s.add(partner)
            s.flush()
        ref = Referral(
            tracking_id=referrals.new_tracking_id(),
            partner_id=partner.id,
            company_name="Acme",
            company_domain=domain,
            contact_email=email,
            status=ReferralStatus.RECEIVED,
            history=[],
            created_at=utcnow() - timedelta(days=1),
            updated_at=utcnow(),
        )
        s.add(ref)
        s.flush()
        return ref.id


def one(hub: Any, model: Any, external_id: str) -> Any:
    with hub.sessions() as s:
        return s.scalars(select(model).where(model.source == "salesforce", model.external_id == external_id)).one()


def test_contacts_and_accounts_become_records_and_attribute_their_opportunities(
    hub: Any, fake_salesforce: FakeSalesforce
) -> None:
    account = fake_salesforce.add(
        "Account",
        {"Name": "Acme SF", "Website": "https://www.Acme-SF.example/about", "BillingCountry": "Germany",
         "BillingState": "Bavaria", "Industry": "Technology", "Type": "Prospect"},
    )  # fmt: skip
    contact = fake_salesforce.add(
        "Contact", {"Email": "Jane@acme-sf.example", "FirstName": "Jane", "LastName": "Doe", "AccountId": account}
    )
    assert deliver(hub, ("Account", account), ("Contact", contact)) == ["applied", "applied"]
    acme = one(hub, CrmCompany, account)
    assert (acme.domain, acme.country, acme.region, acme.industry, acme.lifecycle_stage) == (
        "acme-sf.example",
        "Germany",
        "Bavaria",
        "Technology",
        "Prospect",
    )
    jane = one(hub, CrmContact, contact)
    assert (jane.email, jane.company_ids) == ("jane@acme-sf.example", [account])

    # an Opportunity of the Account: the Account is its association, and the hub's record of the
    # Account matches the partner's referral by domain, with no read of the deal's parties
    ref_id = referral(hub, email=None, domain="acme-sf.example")
    opportunity = fake_salesforce.add(
        "Opportunity", {"Name": "Acme SF rollout", "StageName": "Prospecting", "CloseDate": "2027-01-15",
                        "AccountId": account},
    )  # fmt: skip
    reads = len(fake_salesforce.requests)
    [outcome] = deliver(hub, ("Opportunity", opportunity))
    assert "attributed:domain" in outcome
    after = fake_salesforce.requests[reads:]
    assert not [r for r in after if "OpportunityContactRole" in json.dumps(r["query"])]
    with hub.sessions() as s:
        assert s.scalars(select(CrmDealParty.party_id).where(CrmDealParty.deal_id == opportunity)).all() == [account]
        assert s.get(Referral, ref_id) is not None

    # a deletion: Salesforce's API no longer returns the record; the hub marks it deleted
    fake_salesforce.delete("Contact", contact)
    assert deliver(hub, ("Contact", contact)) == ["deleted"]
    assert one(hub, CrmContact, contact).deleted is True


def test_a_merge_and_forget(hub: Any, fake_salesforce: FakeSalesforce) -> None:
    """Salesforce merges Accounts by deleting the merged-away ones: the CRM-neutral merge points
    their records and associations to the survivor; forget blanks a person's record."""
    keep = fake_salesforce.add("Account", {"Name": "Keep Co", "Website": "keep.example"})
    dup = fake_salesforce.add("Account", {"Name": "Keep Company", "Website": "keep.example"})
    person = fake_salesforce.add("Contact", {"Email": "max@keep.example", "FirstName": "Max", "LastName": "Muster",
                                             "AccountId": dup})  # fmt: skip
    deliver(hub, ("Account", keep), ("Account", dup), ("Contact", person))
    with transaction(hub.sessions) as s:
        parties.record_deal_parties(s, "salesforce", "006X", company_ids=[dup])
        parties.merge(s, "company", "salesforce", [dup], keep)
    gone = one(hub, CrmCompany, dup)
    assert gone.deleted and gone.properties[MERGED_INTO] == keep
    assert one(hub, CrmContact, person).company_ids == [keep]
    with hub.sessions() as s:
        assert s.scalars(select(CrmDealParty.party_id).where(CrmDealParty.deal_id == "006X")).all() == [keep]

    with transaction(hub.sessions) as s:
        report = forget(s, email="MAX@keep.example", actor="test")
    assert report.counts.get("crm_contacts") == 1
    max_ = one(hub, CrmContact, person)
    assert (max_.email, max_.first_name, max_.last_name) == (None, FORGOTTEN, FORGOTTEN)
    assert "max@keep.example" not in json.dumps(max_.properties).lower()


def test_a_referral_for_a_salesforce_customer_not_yet_local_is_held(hub: Any, fake_salesforce: FakeSalesforce) -> None:
    fake_salesforce.add("Account", {"Name": "Big Customer", "Website": "https://bigcustomer.example",
                                    "Type": "Customer - Direct"})  # fmt: skip
    ref_id = referral(hub, email=None, domain="bigcustomer.example")
    with transaction(hub.sessions) as s:
        assert referrals.process_submitted(s, hub, ref_id) == "held_for_review"
        assert "customer in the CRM" in (s.get(Referral, ref_id).status_reason or "")  # type: ignore[union-attr]
