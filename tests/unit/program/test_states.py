"""Named states are StrEnums whose values are the strings already stored: no migration, and a
row loads its state as the enum member."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hub.mapping.targets import REFERRAL_STATUSES
from hub.pipeline.models import ALL_STATES, OPEN_STATES, WorkState
from hub.pipeline.store import Base, make_engine, make_sessionmaker, utcnow
from hub.program.models import LedgerEntry, Partner
from hub.program.program_file import CommissionRule
from hub.program.states import CommissionEvent, LedgerStatus, PayoutStatus, ReferralStatus


def test_values_are_the_stored_strings() -> None:
    assert [s.value for s in WorkState] == ["received", "pending", "processing", "retrying", "done", "dead", "unknown"]
    assert OPEN_STATES == ("received", "pending", "processing", "retrying") and tuple(WorkState) == ALL_STATES
    assert [s.value for s in LedgerStatus] == ["pending", "approved", "in_payout", "paid", "cancelled", "reversed"]
    assert [s.value for s in PayoutStatus] == ["review", "approved", "sending", "unknown", "paid", "failed", "rejected"]
    assert [s.value for s in CommissionEvent] == ["deal_won", "referral_qualified", "recurring_invoice_paid"]
    assert f"{LedgerStatus.IN_PAYOUT}" == "in_payout" and LedgerStatus.IN_PAYOUT == "in_payout"


def test_every_status_a_crm_mapping_may_produce_is_a_referral_status() -> None:
    assert set(REFERRAL_STATUSES) <= set(ReferralStatus)


def test_the_program_file_reads_the_commission_event_as_the_enum() -> None:
    rule = CommissionRule(name="x", event="referral_qualified", flat={"amount": "10", "currency": "usd"})
    assert rule.event is CommissionEvent.REFERRAL_QUALIFIED
    assert rule.applies("referral_qualified", None)


def test_a_row_stores_the_string_and_loads_the_member(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'states.sqlite3'}")
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    now = utcnow()
    with sessions() as session, session.begin():
        partner = Partner(name="P", email="p@example.com", created_at=now)
        session.add(partner)
        session.flush()
        session.add(
            LedgerEntry(
                natural_key="k",
                partner_id=partner.id,
                kind="commission",
                amount_minor=100,
                currency="USD",
                status=LedgerStatus.APPROVED,
                created_at=now,
                updated_at=now,
            )
        )
    with sessions() as session:
        assert session.execute(text("SELECT status FROM ledger_entries")).scalar_one() == "approved"
        entry = session.query(LedgerEntry).one()
        assert entry.status is LedgerStatus.APPROVED
        session.execute(text("UPDATE ledger_entries SET status = 'legacy'"))
        session.expire_all()
        assert session.query(LedgerEntry).one().status == "legacy"  # an unnamed value still loads
    engine.dispose()
