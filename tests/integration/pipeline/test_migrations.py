"""The migrations, on SQLite and PostgreSQL: applied from nothing, they make exactly the tables
the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from hub.pipeline.store import Base, upgrade


def test_migrations_match_the_models(database_url):
    upgrade(database_url)
    engine = create_engine(database_url, hide_parameters=True)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert {
        "inbox_events",
        "outbox_items",
        "sync_cursors",
        "alerts",
        "partners",
        "referrals",
        "deals",
        "ledger_entries",
        "notifications",
        "audit_log",
    } <= tables
