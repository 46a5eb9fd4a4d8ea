"""An upgrade while jobs are queued loses nothing: RQ jobs already in Redis name their function by
the dotted path of the release that enqueued them (``hub.jobs.*`` before the layered layout);
a worker of this release still runs them, and the rows they point to finish."""

from __future__ import annotations

import time
from datetime import timedelta

import redis as redis_lib
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.utils import import_attribute
from sqlalchemy import select

from connectors.values import Change
from hub.pipeline import outbox, queue
from hub.pipeline.inbox import event_rows, insert_events
from hub.pipeline.models import OutboxItem
from hub.pipeline.store import utcnow
from hub.program.models import Deal
from tests.support.servers import wait_until

OLD_JOB_PATHS = {
    queue.INBOX: "hub.jobs.process_inbox_events",
    queue.OUTBOX: "hub.jobs.dispatch_outbox_items",
}


def test_job_paths_resolve_old_and_new() -> None:
    import hub.jobs
    import hub.runtime.jobs

    for kind, path in queue.JOB_FUNCTIONS.items():
        assert import_attribute(path) is import_attribute(OLD_JOB_PATHS[kind])
    assert hub.jobs.process_inbox_events is hub.runtime.jobs.process_inbox_events
    assert hub.jobs.dispatch_outbox_items is hub.runtime.jobs.dispatch_outbox_items


def _deal_change(deal_id: int) -> Change:
    """A HubSpot deal webhook event, as the receiver stores it."""
    occurred = int(time.time() * 1000)
    payload = {
        "objectId": deal_id,
        "propertyName": "dealstage",
        "propertyValue": "closedwon",
        "changeSource": "CRM_UI",
        "eventId": 901,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": occurred,
        "eventType": "deal.propertyChange",
        "attemptNumber": 0,
    }
    return Change(
        event_key="901",
        event_type="deal.propertyChange",
        object_type="deal",
        object_id=str(deal_id),
        version_ms=occurred,
        payload=payload,
    )


def test_jobs_queued_under_the_old_paths_are_run_after_an_upgrade(make_harness, sqlite_url, redis_url) -> None:
    h = make_harness(sqlite_url)
    later = utcnow() + timedelta(hours=1)  # nothing but the old job can bring these rows round
    with h.hub.sessions() as session, session.begin():
        now = utcnow()
        [event_id] = insert_events(
            session.connection(), event_rows("hubspot", [_deal_change(77)], now=now, look_again=later)
        ).values()
        item_id = outbox.owe(
            session,
            natural_key="upgrade-test:1",
            connector="retired-connector",
            action="update_deal",
            payload={"id": "77"},
        )
        assert item_id is not None
        session.get(OutboxItem, item_id).next_attempt_at = later

    # the jobs a worker of the previous release enqueued, still waiting in Redis
    connection = redis_lib.Redis.from_url(redis_url)
    prefix = h.hub.settings.queue_prefix
    for kind, row_id in ((queue.INBOX, event_id), (queue.OUTBOX, item_id)):
        Queue(queue.queue_name(prefix, kind), connection=connection).enqueue(
            OLD_JOB_PATHS[kind], [row_id], result_ttl=0, failure_ttl=86400
        )

    h.start_worker("--no-scheduler")  # no reconciler: only the queued jobs can run the rows
    wait_until(lambda: h.states() == ["done"], 60, what="the inbox row done by its old-path job")
    row = h.inbox()[0]
    assert row.attempts == 1
    with h.hub.sessions() as session:
        deal = session.scalars(select(Deal)).one()
        assert (deal.external_id, deal.stage) == ("77", "closedwon")

        def dispatched() -> OutboxItem | None:
            session.expire_all()
            item = session.get(OutboxItem, item_id)
            return item if item is not None and item.state != "pending" and item.state != "processing" else None

        # the old-path dispatcher ran the row and classified its failure (no such connector now)
        item = wait_until(dispatched, 60, what="the outbox row run by its old-path job")
        assert item.attempts == 1 and item.state == "dead" and "retired-connector" in (item.last_error or "")
    for kind in (queue.INBOX, queue.OUTBOX):
        failed = FailedJobRegistry(queue.queue_name(prefix, kind), connection=connection)
        assert failed.count == 0, f"{kind}: a job failed to run: {failed.get_job_ids()}"
    connection.close()


def test_db_upgrade_command_brings_a_new_database_to_the_head(tmp_path, redis_url, postgres) -> None:
    """`partnerhub db upgrade` as an operator runs it (the harness migrates in its own process),
    on SQLite and PostgreSQL: every table of the models exists afterwards, at Alembic's head."""
    import os
    import subprocess
    import sys

    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, inspect, text

    from hub.pipeline.store import Base, alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    for url in (f"sqlite:///{tmp_path / 'fresh.sqlite3'}", postgres.create_database("t_db_upgrade_cli")):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERHUB_")}
        env.update({"DATABASE_URL": url, "REDIS_URL": redis_url, "PARTNERHUB_DATA_DIR": str(tmp_path / "data")})
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "database at revision head" in done.stdout
        engine = create_engine(url, hide_parameters=True)
        try:
            assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head
        finally:
            engine.dispose()
