"""Fixtures for Pipedrive tests: two Prism proxies (v2 and v1 specs) in front of one stateful fake
Pipedrive, so every request the connector sends is checked against Pipedrive's OpenAPI spec and
every answer the fake gives is checked on its way back; a connector wired to them.

Loaded for every test by ``tests/conftest.py`` (``pytest_plugins``); the hub with Pipedrive as its
CRM: ``tests.support.pipedrive_hub``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.pipedrive import PipedriveConnector, PipedriveSettings
from tests.support.fake_pipedrive import API_TOKEN, FakePipedrive
from tests.support.prism import PIPEDRIVE_SPECS, PrismMock
from tests.support.servers import wait_until

WEBHOOK_USER = "pipedrive-hook"
WEBHOOK_PASSWORD = "hook-password-made-up-0000"  # made up for tests


@dataclass
class PipedriveStack:
    fake: FakePipedrive
    v2: PrismMock
    v1: PrismMock

    def env(self) -> dict[str, str]:
        """The hub's settings pointing its Pipedrive connector at the proxies."""
        return {
            "PARTNERHUB_PIPEDRIVE__API_TOKEN": API_TOKEN,
            "PARTNERHUB_PIPEDRIVE__API_V2_URL": self.v2.url,
            "PARTNERHUB_PIPEDRIVE__API_V1_URL": self.v1.url,
            "PARTNERHUB_PIPEDRIVE__WEBHOOK_USER": WEBHOOK_USER,
            "PARTNERHUB_PIPEDRIVE__WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
        }

    def violations(self) -> list[str]:
        """Prism's verdicts on requests (422) and answers (500) so far. Prism writes its log
        asynchronously: a marker request is sent and awaited in each log first, so every
        verdict before it is in."""
        out = []
        for prism in (self.v2, self.v1):
            marker = f"/partnerhub-log-marker-{uuid.uuid4().hex}"
            httpx.get(prism.url + marker, timeout=10)
            wait_until(lambda p=prism, m=marker: m in p.log(), 30, what="Prism log flushed")
            out += [
                line
                for line in prism.log().splitlines()
                if "UNPROCESSABLE_ENTITY" in line or "VIOLATIONS" in line or "Invalid security" in line
            ]
        return out


@pytest.fixture(scope="session")
def _pipedrive_proxies() -> Iterator[tuple[FakePipedrive, PrismMock, PrismMock]]:
    """One fake and its two proxies per session (Prism takes seconds to start); each test gets
    the fake's state reset."""
    fake = FakePipedrive().start()
    v2 = PrismMock(PIPEDRIVE_SPECS / "openapi-v2.yaml", upstream=fake.v2_url)
    v1 = PrismMock(PIPEDRIVE_SPECS / "openapi-v1.yaml", upstream=fake.v1_url)
    try:
        v2.start()
        v1.start()
        yield fake, v2, v1
    finally:
        v2.stop()
        v1.stop()
        fake.stop()


@pytest.fixture
def pipedrive(_pipedrive_proxies: tuple[FakePipedrive, PrismMock, PrismMock]) -> Iterator[PipedriveStack]:
    fake, v2, v1 = _pipedrive_proxies
    fresh = FakePipedrive()  # a clean state behind the same proxies
    fake.reset_from(fresh)
    fresh.server.server_close()
    for prism in (v2, v1):
        prism.log_path.write_text("")
    stack = PipedriveStack(fake, v2, v1)
    yield stack
    assert stack.violations() == []


@pytest.fixture
def pipedrive_connector(pipedrive: PipedriveStack) -> Iterator[Callable[..., PipedriveConnector]]:
    made: list[PipedriveConnector] = []

    def make(**overrides: Any) -> PipedriveConnector:
        settings = PipedriveSettings(
            api_token=API_TOKEN,
            api_v2_url=pipedrive.v2.url,
            api_v1_url=pipedrive.v1.url,
            webhook_user=WEBHOOK_USER,
            webhook_password=WEBHOOK_PASSWORD,
            **overrides,
        )
        connector = PipedriveConnector(settings)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
