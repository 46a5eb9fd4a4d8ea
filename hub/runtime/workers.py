"""RQ workers over the hub's queues (``partnerhub worker`` and ``worker.py``)."""

from __future__ import annotations

import signal
import threading

import redis
import structlog
from rq import SimpleWorker
from rq.worker import DequeueStrategy

from hub.pipeline import queue
from hub.runtime.context import Hub, set_current
from hub.runtime.jobs import leases
from hub.runtime.scheduler import Scheduler

log = structlog.get_logger(__name__)


def run_worker(hub: Hub, *, with_scheduler: bool = True, burst: bool = False, name: str | None = None) -> None:
    """Work the inbox and outbox queues until stopped (SIGTERM/SIGINT finish the current job).

    Jobs run in this process (``SimpleWorker``): a job is a few short database transactions plus
    batched provider calls, so a fork per job would cost more than it protects. A crash mid-job
    leaves its rows ``processing`` until their lease ends (``lease_s``: no heartbeat renews it
    any more); then any live worker's heartbeat, or the reconciler, re-enqueues them.
    """
    set_current(hub)
    # the lease heartbeat runs from the start: besides renewing this worker's leases it looks
    # for other workers' expired ones (a killed worker's chunk is re-run a lease later)
    heartbeat = leases(hub)
    heartbeat.start()
    watcher = MappingWatcher(hub)
    watcher.start()
    scheduler = Scheduler(hub) if with_scheduler else None
    if scheduler is not None:
        scheduler.tick()  # reconcile at start: pick up whatever the last run left behind
        scheduler.start()
    try:
        # RQ blocks on BLPOP for minutes between jobs: its connection has no read timeout (the
        # hub's shared client has one, which would cut those waits short and make RQ back off)
        connection = redis.Redis.from_url(hub.redis_url, socket_keepalive=True, health_check_interval=30)
        queues = queue.queues(connection, hub.settings.queue_prefix)
        worker = SimpleWorker(queues, connection=connection, name=name)
        log.info("worker started", queues=[q.name for q in queues], mapping_files=len(hub.mappings.current.files))
        _check_crm_setup(hub)
        # round robin: under a sustained inbound burst the outbox (emails, CRM writes, payouts)
        # keeps moving instead of waiting for the inbox to drain (measured in bench/)
        worker.work(
            burst=burst, with_scheduler=False, logging_level="WARNING", dequeue_strategy=DequeueStrategy.ROUND_ROBIN
        )
    finally:
        heartbeat.stop()
        watcher.stop()
        if scheduler is not None:
            scheduler.stop()


def _check_crm_setup(hub: Hub) -> None:
    """Name, at start-up, the CRM fields the partner flow needs and does not find
    (``partnerhub crm setup`` creates them)."""
    try:
        crm = hub.crm
        if not crm.api_ready:
            return
        missing = crm.missing_setup()
    except Exception as exc:
        log.warning("could not check the CRM setup", error=f"{type(exc).__name__}: {exc}")
        return
    if missing:
        log.error("the CRM lacks fields the partner flow needs; run `partnerhub crm setup`", missing=missing)


class MappingWatcher:
    """Reloads the mapping files when they change (polled) or on SIGHUP. A reload swaps the whole
    set only when every file is clean; a broken edit is logged with its ``file:line`` messages
    and the set in force stays. Events in flight keep the plan they started with."""

    def __init__(self, hub: Hub, interval: float = 2.0):
        self.hub = hub
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="partnerhub-mappings", daemon=True)

    def start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, lambda *_: self.report(self.hub.mappings.reload()))
        self._thread.start()

    def report(self, errors: list[str] | None) -> None:
        if errors is None:
            return
        if errors:
            log.error("mapping files not reloaded; the previous ones stay in force", errors=errors)
        else:
            log.info("mapping files reloaded", files=len(self.hub.mappings.current.files))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.report(self.hub.mappings.reload_if_changed())
            except Exception as exc:
                log.warning("mapping reload failed", error=str(exc))

    def stop(self) -> None:
        self._stop.set()
