"""Fixtures for SendGrid tests: Prism on the mail-send spec (once per session), the fake SendGrid
in front of it, and a Hub in-process whose SendGrid connector calls the fake.

Loaded for every test by ``tests/conftest.py`` (``pytest_plugins``); a test module
takes the made-up credentials from ``tests.support.fake_sendgrid``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hub.pipeline.store import upgrade, utcnow
from hub.program.models import Partner
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings
from tests.support.fake_sendgrid import ADMIN_EMAIL, API_KEY, FROM_EMAIL, FakeSendGrid
from tests.support.prism import SENDGRID_MAIL_SPEC, PrismMock


@pytest.fixture(scope="session")
def prism_sendgrid() -> Iterator[PrismMock]:
    prism = PrismMock(SENDGRID_MAIL_SPEC).start()
    try:
        yield prism
    finally:
        prism.stop()


@pytest.fixture
def fake_sendgrid(prism_sendgrid: PrismMock) -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid(prism_sendgrid).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def sendgrid_hub(
    sqlite_url: str, redis_url: str, fake_sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Hub]]:
    """``make(**env)``: a Hub on SQLite and the test Redis whose ``sendgrid`` connector talks to
    the fake; extra ``PARTNERHUB_*`` variables override the defaults."""
    hubs: list[Hub] = []

    def make(**env: str) -> Hub:
        values: dict[str, Any] = {
            "DATABASE_URL": sqlite_url,
            "REDIS_URL": redis_url,
            "PARTNERHUB_SENDGRID__API_KEY": API_KEY,
            "PARTNERHUB_SENDGRID__API_BASE_URL": fake_sendgrid.url,
            "PARTNERHUB_SENDGRID__FROM_EMAIL": FROM_EMAIL,
            "PARTNERHUB_SENDGRID__FROM_NAME": "Example Partner Program",
            "PARTNERHUB_SENDGRID__TIMEOUT_S": "1",
            "PARTNERHUB_ADMIN_EMAIL": ADMIN_EMAIL,
            "PARTNERHUB_WORKER__BACKOFF_BASE_S": "0.01",
            "PARTNERHUB_WORKER__BACKOFF_MAX_S": "0.02",
            **env,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        upgrade(sqlite_url)
        hub = Hub.open(load_settings())
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture
def add_partner() -> Callable[..., int]:
    """``add_partner(hub, ...)``: a partner row (notifications reference partners)."""

    def add(
        hub: Hub,
        *,
        name: str = "Northwind Consulting",
        email: str = "partner@example.org",
        partner_manager: str | None = "Grace Hopper <grace@example.com>",
    ) -> int:
        with hub.sessions() as session, session.begin():
            partner = Partner(
                name=name, email=email, partner_manager=partner_manager, status="active", created_at=utcnow()
            )
            session.add(partner)
            session.flush()
            return partner.id

    return add
