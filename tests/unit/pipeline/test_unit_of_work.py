"""``unit_of_work``: what a change owes is enqueued only after it commits, never after a rollback,
and an unreachable Redis costs nothing committed (the reconciler enqueues the rows)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest
import redis
from rq import Queue
from sqlalchemy import func, select

import hub.pipeline.models  # noqa: F401 - the tables
from hub.pipeline import queue
from hub.pipeline.models import OutboxItem
from hub.pipeline.outbox import owe
from hub.pipeline.store import Base, make_engine, make_sessionmaker
from hub.pipeline.unit_of_work import OWED, OWED_INBOX, owe_inbox, unit_of_work

PREFIX = "uow-test"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.sqlite3'}")
    Base.metadata.create_all(engine)
    server = fakeredis.FakeServer()
    yield SimpleNamespace(
        sessions=make_sessionmaker(engine),
        redis=fakeredis.FakeRedis(server=server),
        settings=SimpleNamespace(queue_prefix=PREFIX),
        server=server,
    )
    engine.dispose()


def queued(ctx: Any, kind: str) -> list[int]:
    """The row ids waiting on one of the hub's queues, in order."""
    q = Queue(queue.queue_name(PREFIX, kind), connection=ctx.redis)
    return [row_id for job in q.jobs for row_id in job.args[0]]


def owe_email(session: Any, n: int) -> int | None:
    return owe(session, natural_key=f"email:test:{n}", connector="sendgrid", action="send_email", payload={"n": n})


def outbox_rows(ctx: Any) -> int:
    with ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxItem)) or 0


def test_owed_rows_are_enqueued_after_commit_not_before(ctx: Any) -> None:
    with unit_of_work(ctx) as session:
        first, second = owe_email(session, 1), owe_email(session, 2)
        owe_inbox(session, [41, 42])
        assert queued(ctx, queue.OUTBOX) == [] and queued(ctx, queue.INBOX) == []  # not committed yet
    assert queued(ctx, queue.OUTBOX) == [first, second]
    assert queued(ctx, queue.INBOX) == [41, 42]
    assert OWED not in session.info and OWED_INBOX not in session.info
    assert outbox_rows(ctx) == 2


def test_an_exception_rolls_back_and_enqueues_nothing(ctx: Any) -> None:
    with pytest.raises(RuntimeError, match="boom"), unit_of_work(ctx) as session:
        owe_email(session, 1)
        owe_inbox(session, [7])
        raise RuntimeError("boom")
    assert queued(ctx, queue.OUTBOX) == [] and queued(ctx, queue.INBOX) == []
    assert outbox_rows(ctx) == 0


def test_a_rollback_inside_the_block_enqueues_nothing(ctx: Any) -> None:
    """A job whose lease was lost rolls its work back and leaves the block normally."""
    with unit_of_work(ctx) as session:
        owe_email(session, 1)
        session.rollback()
    assert queued(ctx, queue.OUTBOX) == []
    assert outbox_rows(ctx) == 0


def test_nothing_owed_touches_no_queue(ctx: Any) -> None:
    with unit_of_work(ctx) as session:
        session.execute(select(1))
    assert ctx.redis.keys("*") == []


def test_unreachable_redis_keeps_the_commit_and_reports(ctx: Any) -> None:
    ctx.server.connected = False  # Redis down: the rows wait for the reconciler
    errors: list[Exception] = []
    with unit_of_work(ctx, on_enqueue_error=errors.append) as session:
        owe_email(session, 1)
    assert outbox_rows(ctx) == 1
    assert len(errors) == 1 and isinstance(errors[0], redis.ConnectionError)
    ctx.server.connected = True
    assert queued(ctx, queue.OUTBOX) == []


def test_the_return_value_of_the_block_is_the_callers(ctx: Any) -> None:
    def work() -> int | None:
        with unit_of_work(ctx) as session:
            return owe_email(session, 9)

    item_id = work()
    assert item_id is not None and queued(ctx, queue.OUTBOX) == [item_id]
