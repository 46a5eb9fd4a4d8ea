"""The console's read models, on SQLite and PostgreSQL: the review queues and their badges, the
partner list (search, filters, pages) and detail, the events browser (filters, masking) and
throughput, the CSV exports' formula neutralising — each a fixed number of queries, never one per
row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from hub.pipeline import event_browser
from hub.pipeline.models import Alert, InboxEvent, OutboxItem
from hub.pipeline.store import upgrade
from hub.program import exports, partner_directory, review_queues
from hub.program.models import (
    Application,
    AtRiskTask,
    AuditEntry,
    DealRegistration,
    LedgerEntry,
    Notification,
    OnboardingTask,
    Partner,
    Payout,
    Referral,
)

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    upgrade(database_url)
    engine = create_engine(database_url, hide_parameters=True)
    with Session(engine) as s:
        yield s
    engine.dispose()


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []

    def seen(conn, cursor, statement, *rest):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def partner(session: Session, n: int, **kw: Any) -> Partner:
    p = Partner(
        name=kw.pop("name", f"Partner {n:03d}"),
        email=f"p{n}@partners.example",
        created_at=NOW - timedelta(days=200),
        status=kw.pop("status", "active"),
        **kw,
    )
    session.add(p)
    session.flush()
    return p


def referral(session: Session, p: Partner, n: int, status: str = "submitted", name: str | None = None) -> Referral:
    r = Referral(
        tracking_id=f"R-T{n:08d}",
        partner_id=p.id,
        company_name=name or f"Company {n}",
        status=status,
        history=[],
        created_at=NOW - timedelta(days=n % 30),
        updated_at=NOW,
    )
    session.add(r)
    return r


def entry(session: Session, p: Partner, n: int, **kw: Any) -> LedgerEntry:
    e = LedgerEntry(
        natural_key=f"t:{n}",
        partner_id=p.id,
        kind="commission",
        amount_minor=kw.pop("amount_minor", 1_000),
        currency=kw.pop("currency", "USD"),
        status=kw.pop("status", "pending"),
        created_at=NOW,
        updated_at=NOW,
        **kw,
    )
    session.add(e)
    return e


def test_review_queues_count_and_list_what_waits_for_a_person(session):
    a = partner(session, 1, name="Acme Partners")
    b = partner(session, 2, flag_reason="address bounced", flagged_at=NOW)
    referral(session, a, 1, "held_for_review")
    referral(session, a, 2, "held_for_review")
    referral(session, b, 3, "submitted")
    session.add(
        DealRegistration(
            partner_id=b.id,
            company_name="Globex",
            company_key="globex",
            status="held_for_review",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.add(
        Payout(
            partner_id=a.id,
            currency="USD",
            amount_minor=5_000,
            period="2026-04",
            status="review",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.add(
        Payout(
            partner_id=b.id,
            currency="USD",
            amount_minor=7_000,
            period="2026-04",
            status="unknown",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    entry(session, a, 1, hold_reason="shared bank account", held_at=NOW)
    entry(session, a, 2, hold_reason="released", held_at=NOW, hold_released_at=NOW, hold_released_by="ops")
    session.add(Alert(key="k1", kind="dead_letter", severity="error", message="m", first_seen_at=NOW, last_seen_at=NOW))
    session.add(
        Alert(key="k2", kind="x", severity="error", message="m", state="resolved", first_seen_at=NOW, last_seen_at=NOW)
    )
    for status, email in (
        ("pending", "jo@newco.example"),
        ("unconfirmed", "al@other.example"),
        ("declined", "x@y.example"),
    ):
        session.add(
            Application(
                email=email,
                contact_name="Jo",
                company_name="Newco",
                status=status,
                confirmed_at=NOW if status != "unconfirmed" else None,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    session.add(AtRiskTask(partner_id=a.id, open_partner_id=a.id, opened_at=NOW, opened_score=20))
    session.add(AtRiskTask(partner_id=b.id, open_partner_id=None, opened_at=NOW, opened_score=20, closed_at=NOW))
    for step, escalated, completed in (("late", NOW, None), ("done", NOW, NOW), ("reminded", None, None)):
        session.add(
            OnboardingTask(
                partner_id=a.id,
                track="standard",
                step=step,
                kind="task",
                position=0,
                due_at=NOW - timedelta(days=9),
                reminded_at=NOW,
                escalated_at=escalated,
                completed_at=completed,
                created_at=NOW,
            )
        )
    session.flush()

    with counted(session) as statements:
        badges = review_queues.counts(session)
    assert len(statements) == 1
    assert badges == {
        "referrals": 2,
        "registrations": 1,
        "payouts": 1,
        "unknown": 1,
        "holds": 1,
        "flagged": 1,
        "alerts": 1,
        "applications": 1,
        "onboarding": 1,
        "at_risk": 1,
        "mdf_requests": 0,
        "mdf_claims": 0,
    }
    rows, more = review_queues.rows(session, "referrals")
    assert not more and [r["partner_name"] for r in rows] == ["Acme Partners", "Acme Partners"]
    rows, more = review_queues.rows(session, "referrals", per_page=1)
    assert more and len(rows) == 1
    assert review_queues.rows(session, "holds")[0][0]["record"].hold_reason == "shared bank account"
    assert review_queues.rows(session, "flagged")[0][0]["record"].id == b.id
    assert review_queues.rows(session, "alerts")[0][0]["record"].key == "k1"
    (pending,), _ = review_queues.rows(session, "applications")
    assert pending["record"].email == "jo@newco.example" and pending["partner_name"] is None
    (late,), _ = review_queues.rows(session, "onboarding")
    assert late["record"].step == "late" and late["partner_name"] == "Acme Partners"


def test_the_partner_list_searches_filters_and_pages_without_a_query_per_row(session):
    ps = [
        partner(
            session,
            n,
            tier="gold" if n % 2 else "silver",
            region="EMEA" if n < 5 else "NA",
            segment="smb",
            last_activity_at=NOW - timedelta(days=10 if n < 8 else 200),
        )
        for n in range(10)
    ]
    partner(session, 10, name="Quiet Ltd", status="paused")
    for n in range(30):
        referral(session, ps[n % 3], n)
    session.flush()
    f = partner_directory.PartnerFilter
    with counted(session) as statements:
        rows, more = partner_directory.list_partners(session, f(), now=NOW, per_page=5)
    assert more and len(rows) == 5 and len(statements) == 2
    assert {r["partner"].name: r["referrals"] for r in rows}["Partner 000"] == 10
    rows, _ = partner_directory.list_partners(session, f(tier="gold", region="EMEA"), now=NOW)
    assert [r["partner"].name for r in rows] == ["Partner 001", "Partner 003"]
    rows, _ = partner_directory.list_partners(session, f(search="P7@PARTNERS"), now=NOW)
    assert [r["partner"].name for r in rows] == ["Partner 007"]
    rows, _ = partner_directory.list_partners(session, f(activity="quiet"), now=NOW)
    assert [r["partner"].name for r in rows] == ["Partner 008", "Partner 009"]
    rows, _ = partner_directory.list_partners(session, f(activity="inactive"), now=NOW)
    assert [r["partner"].name for r in rows] == ["Quiet Ltd"]
    assert partner_directory.facets(session)["tier"] == ["gold", "silver"]


def test_a_partners_detail_is_a_fixed_number_of_queries(session):
    p = partner(session, 1)
    for n in range(20):
        referral(session, p, n)
    payout = Payout(
        partner_id=p.id,
        currency="USD",
        amount_minor=3_000,
        period="2026-04",
        status="paid",
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(payout)
    session.flush()
    for n in range(3):
        entry(session, p, n, status="paid", payout_id=payout.id)
    entry(session, p, 9, status="approved", amount_minor=500)
    session.add(
        Notification(
            natural_key="n1",
            partner_id=p.id,
            kind="welcome",
            to_email=p.email,
            subject="Hi",
            status="bounced",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.add(AuditEntry(actor="ops@x", action="payout.approve", subject=f"payout:{payout.id}", at=NOW))
    session.add(AuditEntry(actor="ops@x", action="other", subject="partner:999", at=NOW))
    session.flush()
    session.expire_all()
    with counted(session) as statements:
        d = partner_directory.partner_detail(session, p.id)
    # partner, count, referrals, balances, entries, payouts, lines, mails, audit, users, sign-in mails
    assert len(statements) == 11
    assert d.referral_count == 20 and len(d.referrals) == 20
    assert d.balances == {"USD": {"paid": 3_000, "approved": 500}}
    assert [(len(v.shown), v.total) for v in d.lines.values()] == [(3, 3)]
    assert [n.status for n in d.notifications] == ["bounced"]
    assert [a.action for a in d.audit] == ["payout.approve"]
    assert [(who["email"], who["mail"]) for who in d.signins] == [(p.email, None)]  # its own address, no mail yet


def test_payout_lines_show_held_lines_first_and_a_few_per_payout_in_one_query(session):
    p = partner(session, 1)
    big, small = (
        Payout(
            partner_id=p.id, currency="USD", amount_minor=0, period=run, status="review", created_at=NOW, updated_at=NOW
        )
        for run in ("2026-03", "2026-04")
    )
    session.add_all([big, small])
    session.flush()
    for n in range(14):
        owner = big if n < 13 else small
        session.add(
            LedgerEntry(
                natural_key=f"lines:{n}",
                partner_id=p.id,
                kind="commission",
                amount_minor=100 + n,
                currency="USD",
                status="in_payout",
                payout_id=owner.id,
                hold_reason="shares a bank account" if n == 12 else None,
                held_at=NOW if n == 12 else None,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    session.flush()
    with counted(session) as statements:
        lines = partner_directory.payout_lines(session, [big.id, small.id, 999_999], limit=5)
    assert len(statements) == 1
    assert (lines[big.id].total, lines[big.id].more, len(lines[big.id].shown)) == (13, 8, 5)
    assert [e.amount_minor for e in lines[big.id].shown] == [112, 100, 101, 102, 103]  # the held one first
    assert lines[big.id].shown[0].hold_reason == "shares a bank account"
    assert [e.amount_minor for e in lines[small.id].shown] == [113] and lines[small.id].more == 0
    assert lines[999_999].total == 0 and lines[999_999].shown == []


def test_the_events_browser_filters_masks_and_counts_throughput(session):
    for n in range(6):
        session.add(
            InboxEvent(
                connector="hubspot" if n < 4 else "stripe",
                event_key=f"e{n}",
                event_type="deal.propertyChange",
                object_type="deal",
                object_id=f"obj-{n % 2}",
                payload={"n": n, "client_secret": "sk_live_abc", "nested": {"api_key": "k", "note": "hi"}},
                received_at=NOW - timedelta(days=n),
                state="dead" if n == 1 else "done",
                attempts=3 if n == 1 else 1,
                next_attempt_at=NOW,
                last_error_kind="mapping" if n == 1 else None,
                last_traceback="Traceback …" if n == 1 else None,
            )
        )
    link = "https://hub.example/signin?token=abcdefghijklmnop1234"
    session.add(
        OutboxItem(
            natural_key="email:signin:1",
            connector="sendgrid",
            action="send_email",
            payload={"to": "a@b.example", "html": f"<a href='{link}'>Sign in</a>", "magic_link": link},
            idempotency_key="i1",
            created_at=NOW,
            state="dead",
            next_attempt_at=NOW,
        )
    )
    session.add(
        OutboxItem(
            natural_key="email:x:2",
            connector="sendgrid",
            action="send_email",
            payload={},
            idempotency_key="i2",
            created_at=NOW,
            state="done",
            next_attempt_at=NOW,
        )
    )
    session.flush()
    F = event_browser.EventFilter
    rows, more = event_browser.browse(session, F(connector="hubspot"))
    assert not more and [r.event_key for r in rows] == ["e3", "e2", "e1", "e0"]
    assert [r.event_key for r in event_browser.browse(session, F(state="dead"))[0]] == ["e1"]
    assert [r.event_key for r in event_browser.browse(session, F(object_id="obj-1"))[0]] == ["e5", "e3", "e1"]
    assert [r.event_key for r in event_browser.browse(session, F(since=NOW - timedelta(days=1, hours=1)))[0]] == [
        "e1",
        "e0",
    ]
    outbox = event_browser.browse(session, F(table="outbox"))[0]
    assert [r.natural_key for r in outbox] == ["email:signin:1"]  # dead and unknown by default
    dead = event_browser.detail(session, "inbox", rows[2].id)
    assert dead is not None and dead["traceback"] == "Traceback …" and dead["attempts"] == 3
    assert dead["payload"]["client_secret"] == "•••" and dead["payload"]["nested"] == {"api_key": "•••", "note": "hi"}
    mail = event_browser.detail(session, "outbox", outbox[0].id)
    assert mail is not None and "abcdefghijklmnop1234" not in str(mail)
    assert mail["payload"]["magic_link"] == "•••" and mail["payload"]["to"] == "a@b.example"
    assert event_browser.detail(session, "inbox", 10_000) is None
    flow = event_browser.throughput(session, until=NOW, days=3)
    assert [(d["events"], d["failed"]) for d in flow["hubspot"]] == [(1, 0), (1, 1), (1, 0)]
    assert "stripe" not in flow  # its events are older than the window
    assert event_browser.connectors(session) == ["hubspot", "sendgrid", "stripe"]


def test_sign_in_paths_and_token_urls_are_masked_in_text():
    text = "open https://hub.example/signin/AbCdEf123456789xyz or https://x.example/a?code=zz99zz99"
    masked = event_browser.mask({"body": text})["body"]
    assert "AbCdEf123456789xyz" not in masked and "zz99zz99" not in masked and "open" in masked


def test_csv_cells_that_would_start_a_formula_are_neutralised():
    text = exports.to_csv(["a", "b", "c"], [["=HYPERLINK(1)", "+1", "-12.50"], ["@SUM(A1)", -5, "plain"]])
    assert text.splitlines() == ["a,b,c", "'=HYPERLINK(1),'+1,-12.50", "'@SUM(A1),-5,plain"]
    assert exports.safe_cell("-cmd") == "'-cmd"
