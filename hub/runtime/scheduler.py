"""The scheduler: one loop, active in one process at a time across all processes (elected by a
Redis lock; any process may run the loop). Every ``reconcile_interval_s`` it runs the reconciler
(``hub.pipeline.reconciler``: SQL, not Redis, is the source of truth for due work), the program's
timed rules (``hub.program.tick``), the connectors' webhook checks and the admin's alert e-mails,
and starts the polling rounds (``hub.pipeline.sync.Poller``).
"""

from __future__ import annotations

import os
import threading
import uuid

import redis
import structlog

from connectors.capabilities import ChecksWebhooks
from hub.pipeline.reconciler import reconcile_once
from hub.pipeline.sync import Poller
from hub.program.email.alerts import deliver_alerts
from hub.runtime.context import Hub

log = structlog.get_logger(__name__)

LOCK_KEY = "partnerhub:scheduler:lock"


#: per connector, a Redis key held for its check interval so one process checks, once per interval
WEBHOOK_CHECK_KEY = "partnerhub:scheduler:webhook-check:{}"


def check_webhooks(hub: Hub) -> dict[str, list[str]]:
    """Connectors that watch their provider-side webhooks (``check_webhooks(base_url)``, every
    ``webhook_check_interval_s``) report problems, which become one open alert per connector
    (``webhooks:<name>``), resolved once a check finds nothing wrong. Needs
    ``PARTNERHUB_PUBLIC_BASE_URL``."""
    base_url = hub.settings.public_base_url
    done: dict[str, list[str]] = {}
    if not base_url:
        return done
    from hub.pipeline.alerts import raise_alert, resolve_alert

    for name, connector in hub.connectors.items():
        if not isinstance(connector, ChecksWebhooks):
            continue
        check = connector.check_webhooks
        interval_ms = int(float(connector.webhook_check_interval_s) * 1000)
        if not hub.redis.set(WEBHOOK_CHECK_KEY.format(name), "1", nx=True, px=interval_ms):
            continue
        try:
            problems = list(check(base_url.rstrip("/")))
        except Exception as exc:
            problems = [f"{name}: webhook check failed: {type(exc).__name__}: {exc}"[:500]]
        with hub.sessions() as session, session.begin():
            if problems:
                raise_alert(session, key=f"webhooks:{name}", kind="webhook_health", message="; ".join(problems))
            else:
                resolve_alert(session, f"webhooks:{name}")
        done[name] = problems
    return done


class Scheduler:
    """Runs ``reconcile_once`` in a background thread while it holds the scheduler lock."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.interval = hub.settings.worker.reconcile_interval_s
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._program_due = 0.0  # monotonic time of the next program pass
        self.poller = Poller(hub)

    def _hold_lock(self) -> bool:
        ttl_ms = int(max(self.interval * 3, 5) * 1000)
        r = self.hub.redis
        if r.set(LOCK_KEY, self.token, nx=True, px=ttl_ms):
            log.info("scheduler lead taken", pid=os.getpid())  # once per lead, not per renewal
            return True
        # still ours? extend it (compare-and-extend without a script: WATCH/MULTI)
        with r.pipeline() as pipe:
            try:
                pipe.watch(LOCK_KEY)  # type: ignore[no-untyped-call]
                if pipe.get(LOCK_KEY) != self.token.encode():
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.pexpire(LOCK_KEY, ttl_ms)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def tick(self) -> dict[str, int] | None:
        try:
            if not self._hold_lock():
                return None
            counts = reconcile_once(self.hub)
        except Exception as exc:
            log.warning("reconcile pass failed", error=f"{type(exc).__name__}: {exc}")
            return None
        self._program_tick()
        try:
            for name, problems in check_webhooks(self.hub).items():
                if problems:
                    log.warning("webhook problems", connector=name, problems=problems)
        except Exception as exc:
            log.warning("webhook check failed", error=f"{type(exc).__name__}: {exc}")
        try:
            deliver_alerts(self.hub)  # open alerts to the admin's inbox, once each
        except Exception as exc:
            log.warning("alert delivery failed", error=f"{type(exc).__name__}: {exc}")
        self.poller.maybe_start()  # in its own thread; each object under its own lock
        return counts

    def _program_tick(self) -> None:
        """The program engine's timed rules (``hub.program_tick``), every
        ``program.tick_interval_s`` while this scheduler holds the lock."""
        import time

        from hub.program import tick as program_tick

        if time.monotonic() < self._program_due:
            return
        self._program_due = time.monotonic() + self.hub.settings.program.tick_interval_s
        try:
            done = program_tick.tick(self.hub)
            busy = {k: v for k, v in done.items() if k != "now" and v and (not isinstance(v, dict) or any(v.values()))}
            if busy:
                log.info("program pass", now=done["now"], **busy)
        except Exception as exc:
            log.warning("program pass failed", error=f"{type(exc).__name__}: {exc}")

    def run(self) -> None:
        while not self._stop.is_set():
            counts = self.tick()
            if counts and any(counts.values()):
                log.info("reconciled", **counts)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="partnerhub-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.poller.join()
        try:
            r = self.hub.redis
            if r.get(LOCK_KEY) == self.token.encode():
                r.delete(LOCK_KEY)
        except redis.RedisError:
            pass
