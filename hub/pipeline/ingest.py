"""Group commit for the webhook path: one writer thread per web process.

Each webhook request hands its parsed changes to the writer and awaits a future. The writer
takes everything that is waiting (up to ``MAX_BATCH`` requests), inserts it in ONE transaction,
COMMITs, pushes the new row ids to RQ (one pipeline), and only then resolves each request's
future with its own new/duplicate counts — so a 2xx still goes out only after its rows are
committed, while a burst of requests shares one fsync, one round trip to Redis and no
thread-pool hop per request.

One request must not fail the others: if the group's transaction fails on what a request
holds (a value the database refuses), the group is split and committed again without it, and
that request alone is refused (``MalformedPayload``, 400); if the database itself is
unavailable, every request of the group is refused with 503 (``WebhookRejected``) so its
provider retries. The receiver answers both like any rejection; nothing refused is stored.
"""

from __future__ import annotations

import asyncio
import queue as stdlib_queue
import sqlite3
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from sqlalchemy import exc as sa_exc

from connectors.errors import MalformedPayload, WebhookRejected
from connectors.values import Change
from hub.pipeline import metrics, queue
from hub.pipeline.inbox import Stored, event_rows, insert_events
from hub.pipeline.store import utcnow

if TYPE_CHECKING:
    from hub.pipeline.context import PipelineContext

log = structlog.get_logger(__name__)

MAX_BATCH = 200  # requests per transaction


@dataclass
class _Pending:
    connector: str
    changes: tuple[Change, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Stored]


def _settle(future: asyncio.Future[Stored], result: Stored | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class InboxWriter:
    def __init__(self, hub: PipelineContext):
        self.hub = hub
        self._queue: stdlib_queue.SimpleQueue[_Pending | None] = stdlib_queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="partnerhub-inbox-writer", daemon=True)
        self._thread.start()

    async def store(self, connector: str, changes: tuple[Change, ...]) -> Stored:
        """Returns once the changes are committed (and, Redis permitting, enqueued)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Stored] = loop.create_future()
        self._queue.put(_Pending(connector, changes, loop, future))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except stdlib_queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        hub = self.hub
        now = utcnow()
        look_again = now + timedelta(seconds=hub.settings.worker.requeue_after_s)
        groups = [(p, event_rows(p.connector, p.changes, now=now, look_again=look_again)) for p in batch]
        self._commit(groups)

    def _commit(self, groups: list[tuple[_Pending, list[dict[str, Any]]]]) -> None:
        """One transaction for ``groups``. If it fails because of what a request holds, that
        request alone is refused: the group is split in halves, each committed on its own, until
        the failing request stands alone (a 400); everyone else is stored and answered. A
        database that is unavailable fails the whole group with 503 (the providers retry)."""
        try:
            with self.hub.engine.begin() as conn:
                # a key repeated across requests of one batch is inserted once: the first wins
                seen: set[tuple[str, str]] = set()
                rows = []
                for _, request_rows in groups:
                    for row in request_rows:
                        key = (row["connector"], row["event_key"])
                        if key not in seen:
                            seen.add(key)
                            rows.append(row)
                new = insert_events(conn, rows)
        except Exception as exc:
            failure = f"{type(exc).__module__}.{type(exc).__name__}"  # never the message: it quotes the data
            if unavailable(exc):
                log.error("inbox insert failed: database unavailable", error=failure, requests=len(groups))
                refusal: WebhookRejected = WebhookRejected(
                    "the hub cannot store deliveries right now; try again later", status=503
                )
                refusal.reason = "store_unavailable"
                for pending, _ in groups:
                    pending.loop.call_soon_threadsafe(_settle, pending.future, refusal)
                return
            if len(groups) > 1:
                log.warning("inbox insert failed; isolating the request", error=failure, requests=len(groups))
                middle = len(groups) // 2
                self._commit(groups[:middle])
                self._commit(groups[middle:])
                return
            pending = groups[0][0]
            log.error("inbox insert refused one delivery", error=failure, connector=pending.connector)
            bad = MalformedPayload("the delivery holds a value the hub cannot store")
            bad.reason = "unstorable"
            pending.loop.call_soon_threadsafe(_settle, pending.future, bad)
            return
        self._acknowledge(groups, new)

    def _acknowledge(
        self, groups: list[tuple[_Pending, list[dict[str, Any]]]], new: dict[tuple[str, str], int]
    ) -> None:
        """After the commit: enqueue the new rows, count, and answer each request."""
        hub = self.hub
        results: list[Stored] = []
        claimed: set[tuple[str, str]] = set()
        counts: dict[str, list[int]] = {}
        for pending, request_rows in groups:
            ids = []
            for row in request_rows:
                key = (row["connector"], row["event_key"])
                if key in new and key not in claimed:
                    claimed.add(key)
                    ids.append(new[key])
            stored = Stored(new_ids=ids, duplicates=len(pending.changes) - len(ids))
            results.append(stored)
            tally = counts.setdefault(pending.connector, [0, 0])
            tally[0] += len(ids)
            tally[1] += stored.duplicates
        try:
            pipe = hub.redis.pipeline(transaction=False)
            queue.enqueue(hub.redis, hub.settings.queue_prefix, queue.INBOX, sorted(new.values()), pipeline=pipe)
            for connector, (received, duplicates) in counts.items():
                if received:
                    metrics.incr(pipe, "webhooks_received", {"connector": connector}, received)
                if duplicates:
                    metrics.incr(pipe, "webhooks_duplicate", {"connector": connector}, duplicates)
            pipe.execute()
        except Exception as exc:
            log.warning(
                "enqueue failed after commit; the reconciler will pick the rows up",
                rows=len(new),
                error=type(exc).__name__,
            )
        for (pending, _), stored in zip(groups, results, strict=True):
            pending.loop.call_soon_threadsafe(_settle, pending.future, stored)


def unavailable(exc: BaseException) -> bool:
    """Whether a failed insert says the database cannot be used right now (connection lost,
    locked, out of disk, a deadlock or serialization failure), as opposed to refusing the data
    (a value out of range, text it cannot hold): the first is a 503 for everyone waiting, the
    second is found and refused on its own."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if isinstance(exc, psycopg.errors.ProgramLimitExceeded):  # a value too large: the data's fault
        return False
    return isinstance(
        exc, (psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError, sqlite3.InterfaceError)
    )
