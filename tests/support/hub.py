"""The hub as an operator runs it, for tests: ``partnerhub`` processes (web app, workers, CLI)
sharing one environment, on a real Redis-compatible server and SQLite or PostgreSQL, with any of
the three CRMs (HubSpot, Salesforce, Pipedrive) pointed at its fake.

``HubFactory`` builds harnesses (the ``make_harness`` fixture in ``tests/conftest.py`` is one):

    h = make_harness(database_url, **settings)                          # no CRM API (HubSpot webhooks only)
    h = make_harness.with_api(database_url, fake_hubspot, **settings)   # HubSpot with its API
    h = make_harness.for_crm("salesforce", database_url, fake_salesforce, mappings=..., **settings)
    h.start_web(); h.start_worker()
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.pipeline.store import upgrade
from tests.support.hubspot_hub import SECRET, hubspot_env, post_webhook
from tests.support.servers import HubProcess, free_port, wait_http_ok

CRMS = ("hubspot", "salesforce", "pipedrive")


def base_env(tmp_path: Path, database_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    """The process environment of a test hub: this process's, minus any hub settings, plus the
    test's data dir, database, Redis, fast worker timings and the HubSpot webhook secret."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PARTNERHUB_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        {
            # test mode: the program clock may be moved (PARTNERHUB_PROGRAM__CLOCK_*), /docs and
            # /metrics are open; tests of the production defaults set PARTNERHUB_MODE=production
            "PARTNERHUB_MODE": "test",
            "PARTNERHUB_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PARTNERHUB_HUBSPOT__CLIENT_SECRET": SECRET,
            "PARTNERHUB_WORKER__RECONCILE_INTERVAL_S": "0.3",
            "PARTNERHUB_WORKER__REQUEUE_AFTER_S": "2",
            "PARTNERHUB_WORKER__LEASE_S": "3",
            "PARTNERHUB_WORKER__BACKOFF_BASE_S": "0.5",
            "PARTNERHUB_WORKER__BACKOFF_MAX_S": "2",
            "PARTNERHUB_LOG_LEVEL": "INFO",
            # scheduled polling off unless a test turns it on: its reads would interleave with
            # the webhook-driven calls other tests script and count
            "PARTNERHUB_SYNC__INTERVAL_S": "0",
        }
    )
    env.update(settings)
    return env


def crm_env(crm: str, fake: Any, mappings: Path | None = None) -> dict[str, str]:
    """The settings that make ``crm`` the hub's CRM, its connector talking to ``fake`` (for
    Pipedrive, the ``PipedriveStack`` of the fake behind its Prism proxies); ``mappings`` is the
    mapping folder (Salesforce and Pipedrive need a copy whose program starts deals in their
    stages: ``salesforce_mappings`` / ``pipedrive_mappings``; HubSpot: the shipped folder unless given)."""
    if crm == "hubspot":
        return {**hubspot_env(fake), **({"PARTNERHUB_MAPPINGS_DIR": str(mappings)} if mappings else {})}
    if crm == "salesforce":
        from tests.support.salesforce_hub import salesforce_env

        assert mappings is not None, "Salesforce needs its mapping folder (salesforce_mappings)"
        return salesforce_env(fake, mappings)
    if crm == "pipedrive":
        from tests.support.pipedrive_hub import pipedrive_env

        assert mappings is not None, "Pipedrive needs its mapping folder (pipedrive_mappings)"
        return pipedrive_env(fake, mappings)
    raise ValueError(f"unknown CRM {crm!r}: one of {', '.join(CRMS)}")


class HubHarness:
    """The hub as an operator runs it: ``partnerhub`` processes sharing one environment."""

    def __init__(self, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.env = env
        self.tmp_path = tmp_path
        self.procs: list[HubProcess] = []
        self.web_url = ""
        for k, v in env.items():
            if k.startswith("PARTNERHUB_") or k in ("REDIS_URL", "DATABASE_URL"):
                monkeypatch.setenv(k, v)
        self._hub: Any = None

    def cli(self, *args: str, check: bool = True) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "hub.cli", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"partnerhub {' '.join(args)} failed: {result.stdout}\n{result.stderr}")
        return result

    def start_web(self) -> str:
        port = free_port()
        proc = HubProcess(["web", "--port", str(port)], self.env, self.tmp_path / f"web-{port}.log").start()
        self.procs.append(proc)
        self.web_url = f"http://127.0.0.1:{port}"
        wait_http_ok(self.web_url + "/readyz", proc=proc)
        return self.web_url

    def start_worker(self, *extra: str) -> HubProcess:
        proc = HubProcess(["worker", *extra], self.env, self.tmp_path / f"worker-{len(self.procs)}.log").start()
        self.procs.append(proc)
        return proc

    @property
    def hub(self) -> Any:
        """The hub's wiring in this process (same settings), to read its records."""
        if self._hub is None:
            from hub.runtime.context import Hub
            from hub.runtime.settings import load_settings

            self._hub = Hub.open(load_settings())
        return self._hub

    def inbox(self) -> list[Any]:
        from sqlalchemy import select

        from hub.pipeline.models import InboxEvent

        with self.hub.sessions() as s:
            return list(s.scalars(select(InboxEvent).order_by(InboxEvent.id)))

    def states(self) -> list[str]:
        return [row.state for row in self.inbox()]

    def alerts(self) -> list[Any]:
        from sqlalchemy import select

        from hub.pipeline.models import Alert

        with self.hub.sessions() as s:
            return list(s.scalars(select(Alert).order_by(Alert.id)))

    def deliver(
        self,
        events: list[dict[str, Any]],
        *,
        timestamp_ms: int | None = None,
        secret: str = SECRET,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A signed HubSpot webhook batch to the running web app (see ``hubspot_hub.post_webhook``;
        Salesforce and Pipedrive pushes: ``salesforce_hub.post_outbound`` / ``post_callout``,
        ``pipedrive_hub.deliver``)."""
        return post_webhook(self.web_url, events, timestamp_ms=timestamp_ms, secret=secret, body=body, headers=headers)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self._hub is not None:
            self._hub.close()


class HubFactory:
    """Makes harnesses sharing one test's tmp dir and Redis, each on its migrated database, and
    closes them all at the end."""

    def __init__(self, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch):
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.monkeypatch = monkeypatch
        self.harnesses: list[HubHarness] = []

    def __call__(self, database_url: str, **settings: str) -> HubHarness:
        env = base_env(self.tmp_path, database_url, self.redis_url, **settings)
        harness = HubHarness(env, self.tmp_path, self.monkeypatch)
        # what `partnerhub db upgrade` runs, in this process (the CLI's own upgrade is tested in
        # tests/integration/test_upgrade_paths.py; a process per harness costs seconds of CPU)
        upgrade(database_url)
        self.harnesses.append(harness)
        return harness

    def with_api(self, database_url: str, fake: Any, **settings: str) -> HubHarness:
        """HubSpot with its API (the fake HubSpot), webhooks signed with ``SECRET``."""
        return self(database_url, **{**hubspot_env(fake), **settings})

    def for_crm(
        self, crm: str, database_url: str, fake: Any, *, mappings: Path | None = None, **settings: str
    ) -> HubHarness:
        """The hub with ``crm`` as its CRM, talking to ``fake`` (see ``crm_env``)."""
        return self(database_url, **{**crm_env(crm, fake, mappings), **settings})

    def close(self) -> None:
        for h in self.harnesses:
            h.close()
