"""Routing by territory and vertical through the running hub, for each CRM: a deal registration
for a German manufacturing company goes to the owner the program file's owner rules name — on the
CRM deal (HubSpot ``hubspot_owner_id``, Salesforce ``OwnerId``, Pipedrive ``owner_id``) and by the
``owner_assigned`` mail — whether the partner's form says so or only the hub's record of the
company in the CRM (its mapped country and industry) does; a company elsewhere goes to the rule
below it, one nobody knows to the default owner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.program import parties
from hub.program.models import DealRegistration, Referral
from tests.support.flows import add_partner, api, idle, mails_to, start_flow
from tests.support.servers import REPO, wait_until

#: per CRM: owner ids as the CRM spells its users (a Salesforce User id, a Pipedrive user number)
OWNERS = {
    "hubspot": ("301", "302", "399"),
    "salesforce": ("0055g00000MFGDEAAA", "0055g00000DACHXAAA", "0055g00000DEFLTAAA"),
    "pipedrive": ("301", "302", "399"),
}
MFG_MAIL = "mfg-dach@vendor.example"


def program_with_owners(crm: str, mappings: Path) -> None:
    mfg, dach, default = OWNERS[crm]
    text = (mappings / "program.yaml").read_text()
    start, end = text.index("owners:\n"), text.index("  emails: {}\n") + len("  emails: {}\n")
    owners = f"""owners:
  rules:
    - {{country: [DE, AT, CH], industry: [Manufacturing, Machinery], owner_id: "{mfg}", owner_email: {MFG_MAIL}}}
    - {{country: [DE, AT, CH], owner_id: "{dach}"}}
  default_owner_id: "{default}"
  emails: {{"{dach}": dach@vendor.example}}
"""
    (mappings / "program.yaml").write_text(text[:start] + owners + text[end:])


#: the company as each CRM's API returns it: country and industry in the provider's own fields
def crm_company_record(crm: str, domain: str) -> dict[str, Any]:
    if crm == "hubspot":
        return {
            "id": "777001",
            "archived": False,
            "properties": {"name": "Werkzeugbau Nord", "domain": domain, "country": "Germany", "industry": "MACHINERY"},
        }
    if crm == "salesforce":
        return {
            "Id": "0015g00000WERKZAAA",
            "Name": "Werkzeugbau Nord",
            "Website": f"https://www.{domain}",
            "BillingCountry": "Germany",
            "Industry": "Manufacturing",
        }
    return {
        "id": 777001,
        "name": "Werkzeugbau Nord",
        "industry": "Manufacturing",
        "address": {"country": "Germany"},
        "custom_fields": {"partnerhub_company_domain": domain},
    }


def deal_owner(h: Any, crm: str, tracking_id: str) -> str:
    if crm == "hubspot":
        [deal] = [p for p in h.fake_hubspot.deals.values() if p.get("partnerhub_tracking_id") == tracking_id]
        return str(deal["hubspot_owner_id"])
    if crm == "salesforce":
        [opp] = h.fake_salesforce.find("Opportunity", Partnerhub_Tracking_Id__c=tracking_id)
        return str(opp["OwnerId"])
    key = h.fake.field_key("deal", "partnerhub_tracking_id")
    [deal] = [d for d in h.fake.records["deal"].values() if d["custom_fields"].get(key) == tracking_id]
    return str(deal["owner_id"])


def registered(h: Any, key: str, **body: str) -> Referral:
    answer = api(h, key, "POST", "/api/v1/deal-registrations", json=body)
    assert answer.status_code == 202, answer.text
    reg_id = answer.json()["id"]

    def done() -> Referral | None:
        with h.hub.sessions() as s:
            reg = s.get(DealRegistration, reg_id)
            ref = s.get(Referral, reg.referral_id) if reg.referral_id else None
        return ref if ref is not None and ref.crm_deal_id is not None and idle(h) else None

    try:
        return wait_until(done, 90, what=f"the CRM deal of {body['company_name']}")
    except AssertionError as exc:  # say where it stopped
        from hub.pipeline.models import OutboxItem

        with h.hub.sessions() as s:
            reg = s.get(DealRegistration, reg_id)
            items = [(o.action, o.state, o.last_error) for o in s.scalars(select(OutboxItem))]
        raise AssertionError(f"{exc}; registration {reg.status} ({reg.reason}); outbox {items}") from None


@pytest.fixture(params=["hubspot", "salesforce", "pipedrive"])
def routed_flow(request, make_harness, database_url, fake_sendgrid, tmp_path):  # type: ignore[no-untyped-def]
    crm = request.param
    fake = request.getfixturevalue({"hubspot": "fake_hubspot", "salesforce": "fake_salesforce"}.get(crm, crm))
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    program_with_owners(crm, mappings)
    return crm, start_flow(make_harness, crm, database_url, fake, fake_sendgrid, mappings=mappings)


def test_german_manufacturing_registration_goes_to_the_routed_owner(routed_flow):
    crm, h = routed_flow
    mfg, dach, default = OWNERS[crm]
    partner = add_partner(h, "Alpha Partners", "alpha@partners.example")

    # the form says: a German manufacturer
    ref = registered(
        h,
        partner,
        company_name="Maschinenbau Süd GmbH",
        company_domain="maschinenbau-sued.de",
        contact_email="anna@maschinenbau-sued.de",
        company_country="de",
        company_industry="manufacturing",
    )
    assert ref.owner_id == mfg and deal_owner(h, crm, ref.tracking_id) == mfg
    [mail] = wait_until(lambda: mails_to(h, MFG_MAIL), 60, what="the owner_assigned mail")
    text = " ".join(part["value"] for part in mail["content"])
    assert "Maschinenbau Süd GmbH" in text and "owner rule 1 (country DE/AT/CH" in text
    assert ref.history[-1]["routing"].startswith("owner rule 1")

    # the form says nothing; the hub's record of the company in the CRM does (its mapped fields)
    plan = h.hub.mappings.current.for_target(crm, "company")
    change = plan.inbound(crm_company_record(crm, "werkzeugbau-nord.de"))
    with h.hub.sessions() as session, session.begin():
        assert parties.apply_change(session, "company", crm, change, 1) == "applied"
    from_crm = registered(h, partner, company_name="Werkzeugbau Nord", company_domain="werkzeugbau-nord.de")
    assert from_crm.company_country is None and deal_owner(h, crm, from_crm.tracking_id) == mfg

    # German, another industry: the next rule; a company nobody knows: the default owner
    other = registered(
        h, partner, company_name="Bäckerei Kurz", company_domain="baeckerei-kurz.de", company_country="DE",
        company_industry="Food",
    )  # fmt: skip
    assert deal_owner(h, crm, other.tracking_id) == dach
    assert wait_until(lambda: mails_to(h, "dach@vendor.example"), 60, what="the dach owner's mail")
    unknown = registered(h, partner, company_name="Nowhere Ltd", company_domain="nowhere-ltd.example")
    assert deal_owner(h, crm, unknown.tracking_id) == default
    with h.hub.sessions() as s:
        owners = dict(s.execute(select(Referral.tracking_id, Referral.owner_id)).all())
    assert owners == {
        ref.tracking_id: mfg,
        from_crm.tracking_id: mfg,
        other.tracking_id: dach,
        unknown.tracking_id: default,
    }
    assert len(mails_to(h, MFG_MAIL)) == 2  # one per deal, each once
