"""Group commit for the webhook path: one writer thread per web process.

Each webhook request hands its parsed changes to the writer and awaits a future. The writer
takes everything that is waiting (up to ``MAX_BATCH`` requests), inserts it in ONE transaction,
COMMITs, pushes the new row ids to RQ (one pipeline), and only then resolves each request's
future with its own new/duplicate counts — so a 2xx still goes out only after its rows are
committed, while a burst of requests shares one fsync, one round trip to Redis and no
thread-pool hop per request.
"""

from __future__ import annotations

import asyncio
import queue as stdlib_queue
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

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
        per_request = [event_rows(p.connector, p.changes, now=now, look_again=look_again) for p in batch]
        try:
            with hub.engine.begin() as conn:
                # a key repeated across requests of one batch is inserted once: the first wins
                seen: set[tuple[str, str]] = set()
                rows = []
                for request_rows in per_request:
                    for row in request_rows:
                        key = (row["connector"], row["event_key"])
                        if key not in seen:
                            seen.add(key)
                            rows.append(row)
                new = insert_events(conn, rows)
        except Exception as exc:
            log.error("inbox insert failed", error=f"{type(exc).__name__}: {exc}", requests=len(batch))
            for pending in batch:
                pending.loop.call_soon_threadsafe(_settle, pending.future, exc)
            return

        results: list[Stored] = []
        claimed: set[tuple[str, str]] = set()
        counts: dict[str, list[int]] = {}
        for pending, request_rows in zip(batch, per_request, strict=True):
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
        for pending, stored in zip(batch, results, strict=True):
            pending.loop.call_soon_threadsafe(_settle, pending.future, stored)
