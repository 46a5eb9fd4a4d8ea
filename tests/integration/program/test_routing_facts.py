"""What the owner rules are given about a referral's company (``hub.program.routing``): each fact
from the form when the partner gave it, else from the hub's record of the company in this CRM
(by domain; another CRM's record, a deleted one or a free-mail referral give nothing), a CRM's
country name read as its ISO code, the record's region only while the form names no other
country."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.program import routing
from hub.program.models import CrmCompany, Partner, Referral
from hub.program.program_file import OwnerRule, Owners

NOW = datetime(2026, 5, 1, tzinfo=UTC)
OWNERS = Owners(
    rules=[
        OwnerRule(country=["DE"], industry=["Manufacturing"], owner_id="mfg-de"),
        OwnerRule(company_region=["Bavaria"], owner_id="bavaria"),
        OwnerRule(country=["US"], owner_id="us"),
    ],
    default_owner_id="default",
)


def company(session, source: str, domain: str, *, deleted: bool = False) -> None:  # type: ignore[no-untyped-def]
    session.add(
        CrmCompany(
            source=source, external_id=f"{source}:{domain}", name=domain, domain=domain, country="Germany",
            region="Bavaria", industry="MANUFACTURING", deleted=deleted, created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip


def referral(session, partner: Partner, n: int, **facts: str) -> Referral:  # type: ignore[no-untyped-def]
    row = Referral(
        tracking_id=f"R-ROUTE{n:05d}", partner_id=partner.id, company_name=f"C{n}", status="received",
        history=[], created_at=NOW, updated_at=NOW, **facts,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def test_form_first_then_the_crm_record_of_this_crm(db_session):
    s = db_session
    partner = Partner(name="P", email="p@partners.example", status="active", created_at=NOW, region="EMEA")
    s.add(partner)
    company(s, "hubspot", "werk.de")
    company(s, "salesforce", "only-in-salesforce.de")
    company(s, "hubspot", "gone.de", deleted=True)
    s.flush()

    def owner(ref: Referral, domain: str | None) -> tuple[str | None, str | None, str | None]:
        route, facts = routing.route(s, OWNERS, ref, partner, source="hubspot", domain=domain)
        return route.owner_id, facts.country, facts.industry

    # nothing on the form: the CRM record ("Germany", "MANUFACTURING") routes it
    assert owner(referral(s, partner, 1), "werk.de") == ("mfg-de", "DE", "MANUFACTURING")
    # the form wins field by field: a US company the CRM thinks German keeps the CRM's industry
    # (the record's region, a German state, no longer counts)
    assert owner(referral(s, partner, 2, company_country="US"), "werk.de") == ("us", "US", "MANUFACTURING")
    # another industry on the form: not rule 1; the CRM's region (Bavaria) takes it
    assert owner(referral(s, partner, 3, company_industry="Food"), "werk.de")[0] == "bavaria"
    assert owner(referral(s, partner, 7, company_country="DE", company_industry="Food"), "werk.de")[0] == "bavaria"
    # no record in this CRM (only in another; a deleted one; a free-mail referral): the default
    assert owner(referral(s, partner, 4), "only-in-salesforce.de") == ("default", None, None)
    assert owner(referral(s, partner, 5), "gone.de") == ("default", None, None)
    assert owner(referral(s, partner, 6), None) == ("default", None, None)
