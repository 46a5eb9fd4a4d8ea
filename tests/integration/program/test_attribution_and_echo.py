"""Attribution is found in a fixed order and is sticky; our own writes are recognised as echoes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.pipeline import echo
from hub.pipeline.store import utcnow
from hub.program.attribution import attribute, find_attribution, override
from hub.program.models import AuditEntry, Deal, Partner, Referral
from hub.program.program_file import Attribution


@pytest.fixture
def session(db_session):
    return db_session


def partner(session, n):  # type: ignore[no-untyped-def]
    p = Partner(name=f"P{n}", email=f"p{n}@partners.example", status="active", created_at=utcnow())
    session.add(p)
    session.flush()
    return p


def referral(session, p, *, tracking, email=None, domain=None, days_ago=10):  # type: ignore[no-untyped-def]
    at = utcnow() - timedelta(days=days_ago)
    r = Referral(
        tracking_id=tracking,
        partner_id=p.id,
        company_name="Acme",
        company_domain=domain,
        contact_email=email,
        status="submitted",
        history=[],
        created_at=at,
        updated_at=at,
    )
    session.add(r)
    session.flush()
    return r


def deal(session):  # type: ignore[no-untyped-def]
    now = utcnow()
    d = Deal(
        source="hubspot",
        external_id=str(now.timestamp()),
        properties={},
        property_versions={},
        version_ms=0,
        deleted=False,
        created_at=now,
        updated_at=now,
    )
    session.add(d)
    session.flush()
    return d


RULES = Attribution()


def test_order_tracking_id_then_partner_id_then_email_then_domain(session):
    a, b, c = partner(session, 1), partner(session, 2), partner(session, 3)
    ra = referral(session, a, tracking="R-AAAA", email="jane@acme.com", domain="acme.com")
    referral(session, c, tracking="R-CCCC", domain="acme.com", days_ago=5)
    now = utcnow()
    found = find_attribution(session, RULES, tracking_id="R-AAAA", partner_id=str(b.id), deal_created_at=now)
    assert (found.partner_id, found.referral_id, found.source) == (a.id, ra.id, "tracking_id")
    found = find_attribution(
        session, RULES, tracking_id=None, partner_id=str(b.id), deal_created_at=now, contact_emails=["jane@acme.com"]
    )
    assert (found.partner_id, found.source) == (b.id, "partner_id")
    found = find_attribution(
        session, RULES, tracking_id=None, partner_id=None, deal_created_at=now, contact_emails=["JANE@acme.com"]
    )
    assert (found.partner_id, found.source) == (a.id, "email")  # first touch: the older referral
    last = find_attribution(
        session,
        Attribution(model="last_touch"),
        tracking_id=None,
        partner_id=None,
        deal_created_at=now,
        company_domains=["acme.com"],
    )
    assert last.partner_id == c.id


def test_free_mail_and_window_exclusions(session):
    a = partner(session, 1)
    referral(session, a, tracking="R-GMAIL", email="someone@gmail.com", domain="gmail.com", days_ago=1)
    referral(session, a, tracking="R-OLD", domain="initech.com", days_ago=120)
    now = utcnow()
    assert (
        find_attribution(
            session,
            RULES,
            tracking_id=None,
            partner_id=None,
            deal_created_at=now,
            company_domains=["gmail.com"],
            contact_emails=["other@gmail.com"],
        )
        is None
    )
    assert (
        find_attribution(
            session, RULES, tracking_id=None, partner_id=None, deal_created_at=now, company_domains=["initech.com"]
        )
        is None
    )  # outside the 90-day window
    assert (
        find_attribution(
            session,
            Attribution(window_days=150),
            tracking_id=None,
            partner_id=None,
            deal_created_at=now,
            company_domains=["initech.com"],
        )
        is not None
    )


def test_a_chunks_candidates_give_the_answer_its_query_gives(session):
    """``find_attribution`` picking among a chunk's preloaded referral candidates answers as its
    own query does (first and last touch, the window, declined referrals, email before domain),
    and selects nothing when they cover what it is asked; asked about more, it queries."""
    from sqlalchemy import event as sa_event

    from hub.pipeline.engine import READ_AHEAD
    from hub.program.attribution import CANDIDATES_AHEAD, preload_candidates

    p1, p2, p3 = partner(session, 31), partner(session, 32), partner(session, 33)
    referral(session, p1, tracking="c-old", email="buyer@chunk.example", days_ago=40)
    referral(session, p2, tracking="c-new", domain="chunk.example", days_ago=5)
    referral(session, p3, tracking="c-out", email="buyer@chunk.example", days_ago=400)  # out of window
    declined = referral(session, p3, tracking="c-dec", email="other@chunk.example", days_ago=1)
    declined.status = "declined"
    referral(session, p3, tracking="c-far", domain="elsewhere.example", days_ago=3)
    session.flush()
    now = utcnow()
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    bind = session.get_bind()
    asks = [
        (["buyer@chunk.example"], []),
        (["other@chunk.example"], []),
        ([], ["chunk.example"]),
        (["nobody@gmail.com"], ["elsewhere.example"]),
        (["nobody@gmail.com"], []),
        ([], []),
    ]
    for rules in (RULES, Attribution(model="last_touch"), Attribution(window_days=30)):
        for created in (now, now - timedelta(days=20)):
            queried = [
                find_attribution(
                    session,
                    rules,
                    tracking_id=None,
                    partner_id=None,
                    deal_created_at=created,
                    contact_emails=e,
                    company_domains=d,
                )
                for e, d in asks
            ]
            everything = [x for e, _ in asks for x in e], [x for _, d in asks for x in d]
            session.info[READ_AHEAD] = {CANDIDATES_AHEAD: preload_candidates(session, rules, *everything)}
            statements.clear()
            sa_event.listen(bind, "before_cursor_execute", seen)
            try:
                from_memory = [
                    find_attribution(
                        session,
                        rules,
                        tracking_id=None,
                        partner_id=None,
                        deal_created_at=created,
                        contact_emails=e,
                        company_domains=d,
                    )
                    for e, d in asks
                ]
                assert statements == []
                find_attribution(  # an email the chunk did not read: its own query
                    session,
                    rules,
                    tracking_id=None,
                    partner_id=None,
                    deal_created_at=created,
                    contact_emails=["x@y.example"],
                )
                assert len(statements) == 1
            finally:
                sa_event.remove(bind, "before_cursor_execute", seen)
                session.info.pop(READ_AHEAD)
            assert from_memory == queried
    assert queried[0] is not None  # the cases above found something


def test_attribution_is_sticky_and_replays_agree(session):
    a, b = partner(session, 1), partner(session, 2)
    referral(session, a, tracking="R-A", domain="acme.com")
    referral(session, b, tracking="R-B", domain="globex.com")
    d = deal(session)
    results = [
        find_attribution(
            session, RULES, tracking_id=None, partner_id=None, deal_created_at=utcnow(), company_domains=["acme.com"]
        )
        for _ in range(5)
    ]
    assert len(set(results)) == 1  # same inputs, same answer
    assert attribute(session, d, results[0]) is True
    later = find_attribution(session, RULES, tracking_id="R-B", partner_id=None, deal_created_at=utcnow())
    assert attribute(session, d, later) is False
    assert d.partner_id == a.id
    override(session, d, partner_id=b.id, referral_id=None, actor="admin", reason="partner B sourced it")
    assert d.partner_id == b.id and d.attribution_source == "admin"
    [audit] = session.scalars(select(AuditEntry)).all()
    assert audit.before["partner_id"] == a.id and audit.after["partner_id"] == b.id
    assert audit.after["reason"] == "partner B sourced it"


def test_echo_of_own_write_is_recognised_and_a_person_edit_is_not(session):
    echo.remember_writes(
        session,
        "hubspot",
        {"deal": {"501": {"dealstage": "appointmentscheduled", "partnerhub_tracking_id": "R-X"}}},
        created={"deal": ["501"]},
    )
    assert echo.is_echo(session, "hubspot", "deal", "501", {}) is True  # deal.creation of our deal
    assert echo.is_echo(session, "hubspot", "deal", "501", {"dealstage": "appointmentscheduled"}) is True
    assert echo.is_echo(session, "hubspot", "deal", "501", {"dealstage": "closedwon"}) is False
    assert echo.is_echo(session, "hubspot", "deal", "502", {}) is False
    assert echo.is_echo(session, "pipedrive", "deal", "501", {"dealstage": "appointmentscheduled"}) is False
