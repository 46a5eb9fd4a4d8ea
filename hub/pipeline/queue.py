"""RQ queues: pointers to durable rows, never the work itself.

Jobs carry only a row id. Losing a job (flushed Redis, killed worker) loses nothing: the
reconciler re-enqueues every row that is due and not done. Enqueueing a row twice is harmless:
the second job finds the row claimed or finished and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rq import Queue

INBOX = "inbox"
OUTBOX = "outbox"

#: the function each queue's jobs run (resolved by the RQ worker by dotted path); a job carries a
#: short list of row ids, so a webhook batch costs one job, not one per event
JOB_FUNCTIONS = {
    INBOX: "hub.runtime.jobs.process_inbox_events",
    OUTBOX: "hub.runtime.jobs.dispatch_outbox_items",
}
#: row ids per job: small enough that several workers share a burst
IDS_PER_JOB = 20


def queue_name(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def queues(connection: Any, prefix: str) -> list[Queue]:
    """The hub's queues, inbox first (workers drain them in this order)."""
    return [Queue(queue_name(prefix, kind), connection=connection) for kind in (INBOX, OUTBOX)]


def enqueue(
    connection: Any,
    prefix: str,
    kind: str,
    ids: Iterable[int],
    *,
    pipeline: Any = None,
    job_timeout: int = 600,
    at_front: bool = False,
) -> int:
    """Enqueue jobs for these row ids, ``IDS_PER_JOB`` per job. With ``pipeline`` the caller
    executes it (one round trip). ``at_front``: ahead of the jobs already waiting."""
    ids = list(ids)
    if not ids:
        return 0
    q = Queue(queue_name(prefix, kind), connection=connection)
    func = JOB_FUNCTIONS[kind]
    jobs = [
        Queue.prepare_data(
            func,
            args=(ids[i : i + IDS_PER_JOB],),
            timeout=job_timeout,
            result_ttl=0,
            failure_ttl=86400,
            at_front=at_front,
        )
        for i in range(0, len(ids), IDS_PER_JOB)
    ]
    q.enqueue_many(jobs, pipeline=pipeline)
    return len(ids)


def depths(connection: Any, prefix: str) -> dict[str, int]:
    return {kind: len(q) for kind, q in zip((INBOX, OUTBOX), queues(connection, prefix), strict=True)}
