"""PostgreSQL connections are pinged before use only after sitting idle in the pool
(``hub.pipeline.store.PING_AFTER_IDLE_S``), and one that fails its ping is replaced."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from hub.pipeline import store
from tests.support.servers import PostgresServer


def test_a_connection_is_pinged_only_after_idling_and_replaced_when_dead(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = store.make_engine(postgres.create_database(f"t_{uuid.uuid4().hex[:12]}"))
    pings: list[Any] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert len(pings) == 1  # a new connection: pinged once
        with engine.connect() as conn:  # back from the pool at once: no ping, the same backend
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == first
        assert len(pings) == 1

        other = store.make_engine(engine.url.render_as_string(hide_password=False))
        with other.connect() as conn:  # the server ends the pooled connection's backend
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar() is True
        other.dispose()
        monkeypatch.setattr(store, "PING_AFTER_IDLE_S", 0.0)  # it has now been idle long enough
        with engine.connect() as conn:
            again = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert again != first  # the dead connection failed its ping and was replaced
        assert len(pings) >= 2
    finally:
        engine.dispose()
