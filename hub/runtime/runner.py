"""``partnerhub run``: the whole hub on one machine — web app, workers and scheduler together.

Starts the embedded Redis when no ``REDIS_URL`` is set, upgrades the database, starts the worker
processes (restarting any that die), runs the scheduler in this process and serves the ASGI app
until SIGINT/SIGTERM, then stops everything in reverse order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import structlog
import uvicorn

from hub.pipeline.store import upgrade
from hub.runtime.context import Hub, set_current
from hub.runtime.scheduler import Scheduler

log = structlog.get_logger(__name__)

#: the ASGI app, named for uvicorn (the runtime sits below the entry layers and does not import
#: them): a factory building the app over this process's hub, which ``run_all`` sets as current
APP_FACTORY = "hub.asgi:current_hub_app"


class WorkerPool:
    """Worker subprocesses, restarted if they exit while the pool is running."""

    def __init__(self, count: int, env: dict[str, str]):
        self.count = count
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "hub.cli", "worker", "--no-scheduler"]
        return subprocess.Popen(cmd, env=self.env)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        self._watcher = threading.Thread(target=self._watch, name="partnerhub-workers", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stopping.is_set():
                    log.warning("worker exited; starting another", pid=proc.pid, code=proc.returncode)
                    self.procs[i] = self._spawn()

    def signal(self, sig: int) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _announce_when_ready(host: str, port: int, stop: threading.Event, lines: list[str]) -> None:
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/readyz", timeout=2)
            if answer.status_code == 200:
                print(
                    f"partnerhub is up: {url}  (readyz: {answer.text}; "
                    f"webhooks: {url}/webhooks/<connector>; metrics: {url}/metrics)\n"
                    f"console: {url}/console   partner portal: {url}/portal",
                    flush=True,
                )
                for line in lines:  # printed, never logged (a sign-in link is a credential)
                    print(line, flush=True)
                return
        except httpx.HTTPError:
            pass
        stop.wait(0.3)


def run_all(hub: Hub, *, host: str, port: int, workers: int, announce: list[str] | None = None) -> None:
    """``announce``: lines printed once the app answers (the CLI's sign-in hint)."""
    upgrade(hub.settings.sqlalchemy_url)
    env = dict(os.environ)
    env["REDIS_URL"] = hub.redis_url
    env.pop("PARTNERHUB_REDIS_URL", None)
    pool = WorkerPool(workers, env)
    scheduler = Scheduler(hub)
    stop = threading.Event()
    pool.start()
    scheduler.start()
    threading.Thread(target=_announce_when_ready, args=(host, port, stop, announce or []), daemon=True).start()
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was installed before it; make that a no-op so the clean-up below always runs.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    signal.signal(signal.SIGHUP, lambda *_: pool.signal(signal.SIGHUP))  # workers reload mappings
    try:
        set_current(hub)
        # proxy_headers off: the hub decides whom to believe about X-Forwarded-For
        # (PARTNERHUB_TRUSTED_PROXIES, hub.runtime.throttle), not uvicorn's own default list
        config = uvicorn.Config(
            APP_FACTORY, factory=True, host=host, port=port, log_level="warning", proxy_headers=False
        )
        uvicorn.Server(config).run()
    finally:
        stop.set()
        pool.stop()
        scheduler.stop()
        hub.close()
