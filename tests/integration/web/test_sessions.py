"""Page sessions (``hub.program.access``) on SQLite and PostgreSQL: idle and absolute expiry,
revocation, a new id at every sign-in, one use per sign-in link even when two race."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from hub.pipeline.store import make_engine, make_sessionmaker, upgrade, utcnow
from hub.program import access
from hub.program.models import Partner, WebSession

SECRET = b"s" * 32


def test_sessions_expire_revoke_and_links_work_once(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    try:
        now = utcnow()
        with sessions() as s, s.begin():
            s.add(Partner(name="Northwind", email="owner@northwind.example", status="active", created_at=now))
            s.flush()
            person = access.find_by_email(s, "owner@northwind.example")
            assert person is not None and person.partner_id is not None
            first = access.open_session(s, person, now=now, max_age=timedelta(hours=8))
            second = access.open_session(s, person, now=now, max_age=timedelta(hours=8))
        assert first != second  # a new id at every sign-in
        idle = timedelta(hours=1)
        with sessions() as s, s.begin():
            assert access.session_for(s, first, now=now + timedelta(minutes=59), idle=idle) is not None
            # seen at 0:59, so still alive at 1:30 (idle counts from the last use) ...
            assert access.session_for(s, first, now=now + timedelta(minutes=90), idle=idle) is not None
        with sessions() as s, s.begin():
            # ... but not after an hour without use, nor past the absolute expiry however busy
            assert access.session_for(s, first, now=now + timedelta(minutes=151), idle=idle) is None
            assert (
                access.session_for(s, second, now=now + timedelta(hours=8, minutes=1), idle=timedelta(days=1)) is None
            )
            assert access.session_for(s, "not-a-session", now=now, idle=idle) is None
            access.revoke_session(s, second, now=now)
        with sessions() as s:
            assert access.session_for(s, second, now=now, idle=idle) is None
            assert s.scalar(select(func.count()).select_from(WebSession).where(WebSession.revoked_at.is_not(None))) == 1

        # one link, two browsers pressing "Sign in" at the same moment: one session
        with sessions() as s, s.begin():
            _, token = access.issue_link(s, SECRET, person, now=now)
        winners: list[object] = []

        def use() -> None:
            with sessions() as s, s.begin():
                winners.append(access.consume_link(s, token, now=now + timedelta(minutes=1)))

        threads = [threading.Thread(target=use) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(w is not None for w in winners) == [False, True]
        with sessions() as s, s.begin():
            _, late = access.issue_link(s, SECRET, person, now=now)
            assert access.consume_link(s, late, now=now + access.LINK_TTL) is None  # 15 minutes: gone
    finally:
        engine.dispose()
