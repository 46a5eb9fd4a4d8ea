"""The portal's read models on SQLite and PostgreSQL: a partner's balances are the grouped sums of
its own ledger (cancelled and reversed entries left out), its next payment date the earliest
open one, its lists come a page at a time over its own rows only, and its statement names each
entry's rule and neutralises every text cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from hub.pipeline.store import upgrade
from hub.program import portal
from hub.program.commissions import balances
from hub.program.models import LedgerEntry, Partner, Payout

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STATUSES = ("pending", "approved", "in_payout", "paid", "cancelled", "reversed")


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    upgrade(database_url)
    engine = create_engine(database_url, hide_parameters=True)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _partner(session: Session, name: str) -> Partner:
    p = Partner(name=name, email=f"{name.lower()}@partners.example", status="active", created_at=NOW)
    session.add(p)
    session.flush()
    return p


def test_balances_paging_and_statement_read_only_the_partners_own_rows(session: Session) -> None:
    mine, other = _partner(session, "Mine"), _partner(session, "Other")
    expected: dict[str, dict[str, int]] = {}
    for i in range(120):
        status = STATUSES[i % len(STATUSES)]
        currency = ("EUR", "USD", "JPY")[i % 3]
        amount = (1_000 + i) * (-1 if status == "reversed" else 1)
        for who in (mine, other):
            session.add(
                LedgerEntry(
                    natural_key=f"t:{who.id}:{i}",
                    partner_id=who.id,
                    kind="commission",
                    amount_minor=amount if who is mine else 7,
                    currency=currency,
                    status=status,
                    rule_snapshot={"rule_name": "=cmd|' /C calc'!A0" if i == 0 else f"rule {i % 4}", "rate": "0.1"},
                    expected_payment_date=date(2026, 12, 1) + timedelta(days=i),
                    created_at=NOW,
                    updated_at=NOW,
                    source_key=f"src:{i}",
                )
            )
        if status not in ("cancelled", "reversed"):
            bucket = {"paid": "paid", "approved": "approved", "in_payout": "approved"}.get(status, "pending")
            expected.setdefault(currency, {"pending": 0, "approved": 0, "paid": 0})[bucket] += amount
    for i in range(60):
        session.add(
            Payout(
                partner_id=mine.id,
                currency="EUR",
                amount_minor=i,
                period=f"p{i}",
                status="paid",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    session.commit()

    assert balances(session, mine.id) == expected
    home = portal.home(session, mine.id, today=date(2026, 12, 5))
    assert home is not None and home.balances == expected
    # the earliest open (pending, approved, in a payout) entry due on or after today: i = 6 (4 and 5
    # are cancelled and reversed)
    assert home.next_payment == date(2026, 12, 7)

    seen: list[int] = []
    before: int | None = None
    sizes = []
    for _ in range(10):
        page = portal.entries(session, mine.id, before=before)
        sizes.append(len(page.rows))
        assert all(e.partner_id == mine.id for e in page.rows)
        seen += [e.id for e in page.rows]
        if page.older is None:
            break
        before = page.older
    assert sizes == [50, 50, 20] and seen == sorted(seen, reverse=True) and len(set(seen)) == 120
    payouts = portal.payouts(session, mine.id)
    assert len(payouts.rows) == 50 and payouts.older is not None
    assert len(portal.payouts(session, mine.id, before=payouts.older).rows) == 10
    assert portal.payouts(session, other.id).rows == []

    rows = list(csv.reader(io.StringIO(portal.statement_csv(session, mine.id))))
    assert rows[0] == list(portal.STATEMENT_COLUMNS) and len(rows) == 121
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["rule"] == "'=cmd|' /C calc'!A0" and first["amount"] == "10.00" and first["currency"] == "EUR"
    assert {r[3] for r in rows[2:]} == {"rule 0", "rule 1", "rule 2", "rule 3"}
    reversed_row = dict(zip(rows[0], rows[6], strict=True))
    assert reversed_row["status"] == "reversed" and reversed_row["amount"] == "'-1005"  # JPY: no minor digits
