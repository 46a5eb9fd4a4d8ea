"""Deal registration through the running web app and worker against the fake HubSpot: clear
registrations are approved and become CRM deals with the partner's attribution (the referral
path); a duplicate of an open CRM deal or of another partner's protected registration is declined
at once with the reason; a match on the normalized company name only goes to review, where an
admin decides."""

from __future__ import annotations

from sqlalchemy import select

from hub.program.models import AuditEntry, DealRegistration, Referral
from tests.support.flows import ADMIN_TOKEN, add_partner, api, idle
from tests.support.servers import wait_until

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def crm_deal_id(h, referral_id: int) -> str | None:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return s.get(Referral, referral_id).crm_deal_id


def registration(h, reg_id: int) -> DealRegistration:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return s.get(DealRegistration, reg_id)


def register(h, key: str, **body: str) -> int:  # type: ignore[no-untyped-def]
    answer = api(h, key, "POST", "/api/v1/deal-registrations", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "received"
    return answer.json()["id"]


def settled(h, reg_id: int, status: str) -> bool:  # type: ignore[no-untyped-def]
    return registration(h, reg_id).status == status and idle(h)


def test_registration_matches_and_non_matches(flow):
    h = flow
    alpha = add_partner(h, "Alpha Partners", "alpha@partners.example")
    beta = add_partner(h, "Beta Resellers", "beta@partners.example", tier="silver")
    company = h.fake_hubspot.add("companies", {"name": "Globex", "domain": "globex.com"})
    deal = h.fake_hubspot.add(
        "deals",
        {"dealname": "Globex renewal", "dealstage": "qualifiedtobuy", "pipeline": "default", "hs_is_closed": "false"},
    )
    h.fake_hubspot.associate("deals", deal, "companies", company)

    # no match anywhere: approved, a CRM deal with alpha's attribution, protected
    clear = register(
        h,
        alpha,
        company_name="Initech, Inc.",
        company_domain="initech.com",
        contact_email="bill@initech.com",
        contact_name="Bill Lumbergh",
    )
    wait_until(lambda: settled(h, clear, "approved"), 60, what="approved")
    reg = registration(h, clear)
    assert reg.protected_until is not None and reg.reason is None
    with h.hub.sessions() as s:
        ref = s.get(Referral, reg.referral_id)
    wait_until(lambda: crm_deal_id(h, ref.id) is not None and idle(h), 60, what="deal")
    crm = [p for p in h.fake_hubspot.deals.values() if p.get("partnerhub_tracking_id") == ref.tracking_id]
    assert len(crm) == 1 and crm[0]["partnerhub_partner_id"] == str(ref.partner_id)
    mine = api(h, alpha, "GET", f"/api/v1/deal-registrations/{clear}").json()
    assert mine["tracking_id"] == ref.tracking_id and mine["status"] == "approved"
    assert api(h, beta, "GET", f"/api/v1/deal-registrations/{clear}").status_code == 404  # not beta's

    # another partner, same domain under another spelling: declined at once, with the reason
    deals_before = len(h.fake_hubspot.deals)
    taken = register(h, beta, company_name="INITECH GmbH", company_domain="initech.com")
    wait_until(lambda: settled(h, taken, "declined"), 60, what="declined (protected)")
    assert "registered by another partner" in registration(h, taken).reason
    assert "protected until" in registration(h, taken).reason

    # an open deal in the CRM: a duplicate of an existing opportunity
    dup = register(h, beta, company_name="Globex Corporation", company_domain="globex.com")
    wait_until(lambda: settled(h, dup, "declined"), 60, what="declined (CRM)")
    assert registration(h, dup).reason.startswith("duplicate of an existing opportunity: open deal in the CRM")
    assert len(h.fake_hubspot.deals) == deals_before  # nothing written for either

    # same company name only (another domain, another contact): ambiguous -> review -> admin
    first = register(h, beta, company_name="Umbrella Corp.", company_domain="umbrella.com")
    wait_until(lambda: settled(h, first, "approved"), 60, what="umbrella approved")
    second = register(h, alpha, company_name="Umbrella Corporation", company_domain="umbrella-group.example")
    wait_until(lambda: settled(h, second, "held_for_review"), 60, what="held")
    assert "same company name" in registration(h, second).reason
    queue = api(h, None, "GET", "/api/v1/admin/deal-registrations", headers=ADMIN).json()
    assert [r["id"] for r in queue] == [second]
    decided = api(
        h,
        None,
        "POST",
        f"/api/v1/admin/deal-registrations/{second}/approve",
        headers=ADMIN,
        json={"reason": "different legal entity, checked"},
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert (
        api(
            h,
            None,
            "POST",
            f"/api/v1/admin/deal-registrations/{second}/decline",
            headers=ADMIN,
            json={"reason": "too late"},
        ).status_code
        == 409
    )
    wait_until(lambda: idle(h), 60, what="approved registration's deal")

    # an unrelated company from the same partner: approved
    other = register(h, beta, company_name="Hooli", company_domain="hooli.example")
    wait_until(lambda: settled(h, other, "approved"), 60, what="hooli approved")

    with h.hub.sessions() as s:
        audit = [(a.action, a.subject) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("registration.approve", f"registration:{second}") in audit
