"""Pipedrive persons and organizations as hub records (``hub.program.parties``): webhooks v2
(re-read whole through the API, behind Prism), a deal's person and organization kept as its
associations and answering attribution completely, so the deal's parties are not read from
Pipedrive; a deletion; a referral for an organization with a won deal in Pipedrive but not yet
in the hub is held."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hub.pipeline.store import transaction, utcnow
from hub.program import referrals
from hub.program.models import CrmCompany, CrmContact, CrmDealParty, Partner, Referral
from hub.program.states import ReferralStatus
from tests.support.crm_events import apply, receive
from tests.support.pipedrive_fixtures import WEBHOOK_PASSWORD, WEBHOOK_USER, PipedriveStack
from tests.support.program_hub import open_program_hub


def deliver(hub: Any, body: dict[str, Any]) -> list[str]:
    ids = receive(hub, "pipedrive", json.dumps(body).encode(), url="https://hub.example/webhooks/pipedrive")
    return apply(hub, ids)


@pytest.fixture
def hub(
    sqlite_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, pipedrive: PipedriveStack
) -> Iterator[Any]:
    env = {
        **pipedrive.env(),
        "PARTNERHUB_CRM": "pipedrive",
        "PARTNERHUB_PIPEDRIVE__WEBHOOK_USER": WEBHOOK_USER,
        "PARTNERHUB_PIPEDRIVE__WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
        "PARTNERHUB_SYNC__INTERVAL_S": "0",
    }
    opened = open_program_hub(sqlite_url, redis_url, tmp_path, monkeypatch, program=None, admin_token="t" * 32, env=env)
    opened.crm.ensure_setup()  # the custom fields (the organization's domain among them)
    try:
        yield opened
    finally:
        opened.close()


def referral(hub: Any, *, email: str | None, domain: str | None) -> int:
    with transaction(hub.sessions) as s:
        partner = s.scalars(select(Partner)).first()
        if partner is None:
            partner = Partner(
                name="Gamma Partners", email="gamma@partners.example", status="active", created_at=utcnow()
            )
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


def one(hub: Any, model: Any, external_id: int) -> Any:
    with hub.sessions() as s:
        return s.scalars(select(model).where(model.source == "pipedrive", model.external_id == str(external_id))).one()


def test_persons_and_organizations_become_records_and_answer_attribution(hub: Any, pipedrive: PipedriveStack) -> None:
    fake = pipedrive.fake
    org = fake.add(
        "organization",
        {"name": "Acme PD", "industry": 2, "address": {"value": "Main St 1, Munich", "country": "Germany",
                                                                "admin_area_level_1": "Bavaria"}},
        custom={"partnerhub_company_domain": "acme-pd.example"},
    )  # fmt: skip
    person = fake.add(
        "person",
        {"name": "Jane Doe", "first_name": "Jane", "last_name": "Doe", "org_id": org,
         "emails": [{"value": "Jane@acme-pd.example", "primary": True, "label": "work"}]},
    )  # fmt: skip
    assert deliver(hub, fake.event("organization", "create", fake.records["organization"][org], None)) == ["applied"]
    assert deliver(hub, fake.event("person", "create", fake.records["person"][person], None)) == ["applied"]
    acme = one(hub, CrmCompany, org)
    assert (acme.domain, acme.country, acme.region, acme.industry) == ("acme-pd.example", "Germany", "Bavaria", "2")
    jane = one(hub, CrmContact, person)
    assert (jane.email, jane.first_name, jane.company_ids) == ("jane@acme-pd.example", "Jane", [str(org)])

    # a deal with the person and the organization: both are hub records, so attribution needs
    # no read of the deal's parties from Pipedrive
    referral(hub, email="jane@acme-pd.example", domain=None)
    deal = fake.add("deal", {"title": "Acme PD rollout", "person_id": person, "org_id": org})
    before = len(fake.paths())
    [outcome] = deliver(hub, fake.event("deal", "create", fake.records["deal"][deal], None))
    assert "attributed:email" in outcome
    party_reads = [p for p in fake.paths()[before:] if "/persons" in p or "/organizations" in p]
    assert party_reads == []
    with hub.sessions() as s:
        rows = s.scalars(select(CrmDealParty).where(CrmDealParty.deal_id == str(deal)))
        assert sorted((r.party_type, r.party_id) for r in rows) == [("company", str(org)), ("contact", str(person))]

    # a deletion
    assert deliver(hub, fake.delete("organization", org)) == ["deleted"]
    assert one(hub, CrmCompany, org).deleted is True


def test_a_referral_for_an_organization_with_a_won_deal_only_in_pipedrive_is_held(
    hub: Any, pipedrive: PipedriveStack
) -> None:
    fake = pipedrive.fake
    org = fake.add("organization", {"name": "Won Org"}, custom={"partnerhub_company_domain": "won.example"})
    fake.add("deal", {"title": "Won deal", "org_id": org, "status": "won"})
    ref_id = referral(hub, email=None, domain="won.example")
    with transaction(hub.sessions) as s:
        assert referrals.process_submitted(s, hub, ref_id) == "held_for_review"
        assert "customer in the CRM" in (s.get(Referral, ref_id).status_reason or "")  # type: ignore[union-attr]
