"""RQ workers over the hub's queues (``partnerhub worker`` and ``worker.py``)."""

from __future__ import annotations

import structlog
from rq import SimpleWorker

from hub import queue
from hub.context import Hub, set_current
from hub.scheduler import Scheduler

log = structlog.get_logger(__name__)


def run_worker(hub: Hub, *, with_scheduler: bool = True, burst: bool = False, name: str | None = None) -> None:
    """Work the inbox and outbox queues until stopped (SIGTERM/SIGINT finish the current job).

    Jobs run in this process (``SimpleWorker``): a job is a short database transaction plus, at
    most, a provider call, so a fork per job would cost more than it protects. A crash mid-job
    leaves its row ``processing`` until the lease ends; then the reconciler re-enqueues it.
    """
    set_current(hub)
    scheduler = Scheduler(hub) if with_scheduler else None
    if scheduler is not None:
        scheduler.tick()  # reconcile at start: pick up whatever the last run left behind
        scheduler.start()
    try:
        worker = SimpleWorker(
            queue.queues(hub.redis, hub.settings.queue_prefix), connection=hub.redis, name=name
        )
        worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
    finally:
        if scheduler is not None:
            scheduler.stop()
