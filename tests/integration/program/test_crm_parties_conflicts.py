"""The conflict checks against the hub's records of the CRM (``hub.program.parties``), any CRM:
what the records find, when the CRM is asked as well, and a deal registration's decision."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from connectors.values import CrmMatch
from hub.mapping import Canonical
from hub.pipeline.store import utcnow
from hub.program import parties, registrations
from hub.program.models import Deal, DealRegistration, Partner
from hub.program.program_file import Program


class CountingCrm:
    """A CRM that answers ``find_conflicts`` with ``answer`` and counts the calls."""

    name = "crm"
    api_ready = True

    def __init__(self, answer: list[CrmMatch] | None = None) -> None:
        self.answer = answer or []
        self.calls = 0

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        self.calls += 1
        return list(self.answer)


def company(session: Any, external_id: str, **fields: Any) -> None:
    change = Canonical(target="company", key=external_id, fields=fields, version_ms=None)
    assert parties.apply_change(session, "company", "crm", change, 1_000) != "stale"


def contact(session: Any, external_id: str, **fields: Any) -> None:
    change = Canonical(target="contact", key=external_id, fields=fields, version_ms=None)
    assert parties.apply_change(session, "contact", "crm", change, 1_000) == "applied"


def deal(session: Any, external_id: str, status: str) -> None:
    now = utcnow()
    session.add(Deal(source="crm", external_id=external_id, name=f"Deal {external_id}", status=status,
                     properties={}, property_versions={}, version_ms=1, deleted=False, created_at=now,
                     updated_at=now))  # fmt: skip
    session.flush()


def kinds(matches: list[CrmMatch]) -> list[tuple[str, str, str]]:
    return sorted((m.kind, m.object_type, m.object_id) for m in matches)


def test_local_records_find_open_deals_customers_and_known_contacts(db_session: Any) -> None:
    s = db_session
    company(s, "c1", name="Acme", domain="https://www.acme.example/", lifecycle_stage="Customer - Direct")
    contact(s, "p1", email="Jane@Acme.example", first_name="Jane", company_ids="c2")
    contact(s, "p2", email="solo@else.example")
    company(s, "c2", name="Acme Labs", domain="labs.example")
    deal(s, "d1", "contacted")  # open
    deal(s, "d2", "closed_won")
    deal(s, "d3", "closed_lost")
    parties.record_deal_parties(s, "crm", "d1", company_ids=["c2"])
    parties.record_deal_parties(s, "crm", "d2", contact_ids=["p1"])
    parties.record_deal_parties(s, "crm", "d3", contact_ids=["p2"])

    assert kinds(parties.local_conflicts(s, "crm", email=None, domain="acme.example")) == [
        ("customer", "company", "c1")
    ]
    # the person's won deal, and the open deal of the person's company
    assert kinds(parties.local_conflicts(s, "crm", email="jane@acme.example", domain=None)) == [
        ("customer", "deal", "d2"),
        ("open_deal", "deal", "d1"),
    ]
    # a lost deal is no conflict: the person is a known contact
    assert kinds(parties.local_conflicts(s, "crm", email="solo@else.example", domain=None)) == [
        ("contact", "contact", "p2")
    ]
    assert parties.local_conflicts(s, "crm", email="nobody@new.example", domain="new.example") == []


def test_the_crm_confirms_every_local_no_match_and_is_spared_a_local_conflict(db_session: Any) -> None:
    s = db_session
    company(s, "c1", name="Acme", domain="acme.example", lifecycle_stage="customer")
    crm = CountingCrm([CrmMatch("customer", "company", "c9", "Fresh", "domain")])
    assert kinds(parties.find_conflicts(s, crm, email=None, domain="acme.example")) == [("customer", "company", "c1")]
    assert crm.calls == 0
    # nothing locally (a company the hub has not seen yet): the CRM's answer counts
    assert kinds(parties.find_conflicts(s, crm, email=None, domain="fresh.example")) == [("customer", "company", "c9")]
    assert crm.calls == 1
    # a deleted local record finds nothing, so the CRM is asked
    company(s, "c1", deleted=True)
    parties.find_conflicts(s, crm, email=None, domain="acme.example")
    assert crm.calls == 2


def test_a_registration_is_declined_on_the_local_records_and_a_mere_contact_asks_the_crm(db_session: Any) -> None:
    s = db_session
    partner = Partner(name="Delta", email="delta@partners.example", status="active", created_at=utcnow())
    s.add(partner)
    s.flush()
    contact(s, "p1", email="known@acme.example")
    deal(s, "d1", "proposal_sent")
    parties.record_deal_parties(s, "crm", "d1", contact_ids=["p1"])
    contact(s, "p2", email="lead@other.example")

    def registration(email: str) -> DealRegistration:
        now = utcnow()
        row = DealRegistration(partner_id=partner.id, company_name="Acme", company_key="acme",
                               contact_email=email, status="received", created_at=now, updated_at=now)  # fmt: skip
        s.add(row)
        s.flush()
        return row

    crm = CountingCrm()
    hub = SimpleNamespace(program=Program(version=1), crm=crm)
    decision, reasons = registrations.check(s, hub, registration("known@acme.example"), utcnow())  # type: ignore[arg-type]
    assert decision == "declined" and "open deal in the CRM" in reasons[0] and crm.calls == 0
    # only a known contact locally: not decisive, so the CRM is asked — and it knows a won deal
    crm.answer = [CrmMatch("customer", "deal", "d7", "Other won", "email")]
    decision, reasons = registrations.check(s, hub, registration("lead@other.example"), utcnow() + timedelta(0))  # type: ignore[arg-type]
    assert decision == "declined" and crm.calls == 1
    assert any("customer in the CRM" in r for r in reasons)
