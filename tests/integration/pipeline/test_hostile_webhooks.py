"""Hostile or odd webhook deliveries through the running app: each is a 4xx that stores nothing,
never a 5xx — a 400-digit signature timestamp (HubSpot, SendGrid, Salesforce callouts), a
signed body nested 1,000 deep, an integer past Python's 4,300-digit limit, ``NaN`` or
``Infinity`` anywhere in a body (not JSON; PostgreSQL's JSON columns refuse them)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from connectors.salesforce import sign_callout
from tests.support.hubspot_hub import deal_event
from tests.support.salesforce_hub import APEX_SECRET, salesforce_env
from tests.support.sendgrid_signing import PUBLIC_KEY, sign

STAMP_400_DIGITS = "9" * 400


@pytest.fixture
def hub_all(make_harness, sqlite_url, fake_salesforce, salesforce_mappings):  # type: ignore[no-untyped-def]
    """HubSpot (signed webhooks), SendGrid's signed Event Webhook and Salesforce callouts."""
    h = make_harness(
        sqlite_url,
        **salesforce_env(fake_salesforce, salesforce_mappings),
        PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY=PUBLIC_KEY,
    )
    h.start_web()
    return h


def test_a_400_digit_signature_timestamp_is_refused_before_authentication(hub_all):
    h = hub_all
    hubspot = h.deliver([deal_event(1, event_id=1)], timestamp_ms=int(STAMP_400_DIGITS))
    assert hubspot.status_code == 401, hubspot.text

    events = json.dumps([{"sg_event_id": "e1", "event": "delivered", "timestamp": 1}]).encode()
    sendgrid = httpx.post(f"{h.web_url}/webhooks/sendgrid", content=events, headers=sign(events, STAMP_400_DIGITS))  # type: ignore[arg-type]
    assert sendgrid.status_code == 401, sendgrid.text

    callout = json.dumps(
        {"events": [{"id": "c1", "sobject": "Opportunity", "change": "updated", "record": {"Id": "006x"}}]}
    ).encode()
    headers = {
        "content-type": "application/json",
        "X-Partnerhub-Timestamp": STAMP_400_DIGITS,
        "X-Partnerhub-Signature": sign_callout(APEX_SECRET, STAMP_400_DIGITS, callout),
    }
    salesforce = httpx.post(f"{h.web_url}/webhooks/salesforce/callout", content=callout, headers=headers)
    assert salesforce.status_code == 401, salesforce.text
    assert h.inbox() == []


def _signed_hubspot(h, value: bytes) -> httpx.Response:  # type: ignore[no-untyped-def]
    """A signed HubSpot batch of one deal event whose ``propertyValue`` is the raw JSON ``value``."""
    event = json.dumps([deal_event(7, event_id=70)]).encode()
    body = event.replace(b'"propertyValue": "appointmentscheduled"', b'"propertyValue": ' + value)
    assert body != event
    return h.deliver([], body=body)


def test_a_signed_body_nested_1000_deep_is_400(hub_all):
    h = hub_all
    for depth in (1000, 100):
        answer = _signed_hubspot(h, b"[" * depth + b"]" * depth)
        assert answer.status_code == 400, (depth, answer.status_code, answer.text)
        assert "nests deeper" in answer.json()["error"]
    assert h.inbox() == []


def test_an_integer_past_4300_digits_is_400(hub_all):
    h = hub_all
    answer = _signed_hubspot(h, b"1" * 5000)
    assert answer.status_code == 400, answer.text
    assert "digits" in answer.json()["error"]
    assert h.inbox() == []


def test_nan_and_infinity_anywhere_in_a_body_are_not_json_and_never_stored(make_harness, database_url):
    h = make_harness(database_url)
    h.start_web()
    for value in (b"NaN", b"Infinity", b"-Infinity", b'{"deep": [1, NaN]}', b"1e400"):
        answer = _signed_hubspot(h, value)
        assert answer.status_code == 400, (value, answer.status_code, answer.text)
    assert h.inbox() == []
    assert _signed_hubspot(h, b'"ok"').status_code == 200  # the same delivery, sane, is stored
    assert len(h.inbox()) == 1


def test_out_of_range_versions_and_keys_are_400_for_every_connector(hub_all):
    h = hub_all
    now = int(time.time())
    # HubSpot: occurredAt past 64 bits; an event key longer than the inbox's column
    assert h.deliver([deal_event(8, event_id=80, occurred_at=10**30)]).status_code == 400
    long_id = {**deal_event(9, event_id=90), "eventId": "x" * 300}
    assert h.deliver([long_id]).status_code == 400
    # SendGrid: a timestamp that overflows milliseconds, and one past 64 bits
    for stamp in (1e300, 10**20):
        events = json.dumps([{"sg_event_id": f"e{stamp}", "event": "delivered", "timestamp": stamp}]).encode()
        answer = httpx.post(f"{h.web_url}/webhooks/sendgrid", content=events, headers=sign(events, now))
        assert answer.status_code == 400, (stamp, answer.text)
    assert h.inbox() == []
