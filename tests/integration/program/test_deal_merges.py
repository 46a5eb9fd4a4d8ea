"""``hub.records.merge_deal``: the hub's deal records when the CRM merges deals (any CRM) — the
survivor gets the attribution, the referral link and the ledger, nothing is counted twice, and
a run twice changes nothing more."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from hub.pipeline.models import Alert
from hub.pipeline.store import utcnow
from hub.program.commissions import settle_deal
from hub.program.merges import MERGED_INTO, merge_deal
from hub.program.models import Deal, LedgerEntry, Partner, Referral
from hub.program.program_file import CommissionRule, Program

PROGRAM = Program(version=1, commissions=[CommissionRule(name="all", percent=Decimal("10"))])


def partner(session, name: str) -> Partner:  # type: ignore[no-untyped-def]
    p = Partner(name=name, email=f"{name}@partners.example", tier="gold", status="active", created_at=utcnow())
    session.add(p)
    session.flush()
    return p


def deal(session, external_id: str, owner: Partner | None, *, won: bool = True) -> Deal:  # type: ignore[no-untyped-def]
    now = utcnow()
    d = Deal(
        source="crm",
        external_id=external_id,
        properties={},
        property_versions={},
        version_ms=0,
        deleted=False,
        status="closed_won" if won else "contacted",
        amount_minor=100_000,
        currency="USD",
        partner_id=owner.id if owner else None,
        attribution_source="tracking_id" if owner else None,
        created_at=now,
        updated_at=now,
    )
    session.add(d)
    session.flush()
    settle_deal(session, PROGRAM, d, owner)
    return d


def live(session) -> list[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    return sorted(
        (e.deal_id, e.partner_id, e.amount_minor)
        for e in session.scalars(select(LedgerEntry))
        if e.status != "cancelled"
    )


def test_the_attributed_record_takes_the_new_id_and_keeps_everything(db_session):
    s = db_session
    alpha = partner(s, "alpha")
    ref = Referral(
        tracking_id="R-1",
        partner_id=alpha.id,
        company_name="Acme",
        status="closed_won",
        history=[],
        crm="crm",
        crm_deal_id="10",
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    s.add(ref)
    original, other = deal(s, "10", alpha), deal(s, "11", None)
    merged = merge_deal(s, "crm", ["10", "11"], "99")
    assert merged.survivor is original and original.external_id == "99" and merged.retired == []
    assert other.deleted and other.properties[MERGED_INTO] == "99"
    assert live(s) == [(original.id, alpha.id, 10_000)]
    s.refresh(ref)
    assert ref.crm_deal_id == "99"
    assert merge_deal(s, "crm", ["10", "11"], "99").retired == []  # again: nothing more
    assert live(s) == [(original.id, alpha.id, 10_000)]


def test_a_known_unattributed_survivor_takes_the_attribution_and_the_commission(db_session):
    s = db_session
    alpha = partner(s, "alpha")
    survivor, gone = deal(s, "20", None), deal(s, "21", alpha)
    merged = merge_deal(s, "crm", ["21"], "20")
    assert merged.survivor is survivor and merged.retired == []
    assert (survivor.partner_id, survivor.attribution_source) == (alpha.id, "tracking_id")
    assert live(s) == [(survivor.id, alpha.id, 10_000)]  # the entry moved with the attribution
    assert gone.deleted and survivor.properties["merged_from"] == ["21"]


def test_two_commissions_for_one_sale_become_one_and_a_clash_is_raised(db_session):
    s = db_session
    alpha, beta = partner(s, "alpha"), partner(s, "beta")
    survivor = deal(s, "30", alpha)
    deal(s, "31", alpha), deal(s, "32", beta)
    assert len(live(s)) == 3
    merged = merge_deal(s, "crm", ["31", "32"], "30")
    assert {d.external_id for d in merged.retired} == {"31", "32"}
    for retired in merged.retired:  # what the engine does with them
        settle_deal(s, PROGRAM, retired, s.get(Partner, retired.partner_id))
    assert live(s) == [(survivor.id, alpha.id, 10_000)]  # attribution is sticky: alpha keeps it
    assert survivor.partner_id == alpha.id
    alerts = list(s.scalars(select(Alert)))
    assert [a.kind for a in alerts] == ["merge_attribution"] and "partner #" in alerts[0].message


def test_a_merge_of_records_the_hub_never_saw_changes_nothing(db_session):
    s = db_session
    assert merge_deal(s, "crm", ["40"], "41").survivor is None
    assert list(s.scalars(select(Deal))) == []
