"""``partnerhub webhooks register sendgrid`` against a fake SendGrid settings API whose requests
Prism checks against ``tsg_webhooks_v3.json``: the signed Event Webhook and the Parse route are
created once, the public key is handed to the admin, the parse secret is never printed, and a
second run changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_sendgrid import API_KEY
from tests.support.fake_sendgrid_settings import (
    PUBLIC_KEY,
    SENDGRID_WEBHOOKS_SPEC,
    FakeSendGridSettings,
)
from tests.support.prism import PrismMock
from tests.support.sendgrid_signing import PARSE_SECRET


@pytest.fixture
def settings_api() -> Iterator[FakeSendGridSettings]:
    prism = PrismMock(SENDGRID_WEBHOOKS_SPEC).start()
    fake = FakeSendGridSettings(prism).start()
    try:
        yield fake
    finally:
        fake.stop()
        prism.stop()


def test_register_is_idempotent_and_checked_against_the_spec(make_harness, sqlite_url, settings_api) -> None:  # type: ignore[no-untyped-def]
    h = make_harness(
        sqlite_url,
        PARTNERHUB_SENDGRID__API_KEY=API_KEY,
        PARTNERHUB_SENDGRID__API_BASE_URL=settings_api.url,
        PARTNERHUB_PUBLIC_BASE_URL="https://hooks.example.com",
        PARTNERHUB_SENDGRID__PARSE_SECRET=PARSE_SECRET,
        PARTNERHUB_SENDGRID__PARSE_HOSTNAME="parse.example.com",
    )
    first = h.cli("webhooks", "register", "sendgrid").stdout
    assert settings_api.violations == []
    [webhook] = settings_api.webhooks.values()
    assert webhook["url"] == "https://hooks.example.com/webhooks/sendgrid" and webhook["enabled"] is True
    assert webhook["bounce"] and webhook["group_unsubscribe"] and not webhook["open"]
    assert webhook["public_key"] == PUBLIC_KEY  # signing switched on
    assert f"PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY={PUBLIC_KEY}" in first
    assert (
        settings_api.parse["parse.example.com"]["url"]
        == f"https://hooks.example.com/webhooks/sendgrid/{PARSE_SECRET}/parse"
    )
    assert PARSE_SECRET not in first and "created" in first
    calls = len(settings_api.calls)
    second = h.cli("webhooks", "register", "sendgrid").stdout
    assert len(settings_api.webhooks) == 1 and len(settings_api.parse) == 1
    new_calls = [c for c in settings_api.calls[calls:] if c[0] != "GET"]
    assert new_calls == [("PATCH", "/v3/user/webhooks/event/settings/signed/{id}")]  # enabling signing again is a no-op
    assert "found" in second and "created" not in second
    assert settings_api.violations == []
