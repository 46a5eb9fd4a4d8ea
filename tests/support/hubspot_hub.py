"""Helpers for tests of the hub with HubSpot as its CRM: the made-up app credentials, the
settings pointing at the fake HubSpot, and signed webhook batches posted to the running web app."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.hubspot import sign_v3

SECRET = "test-client-secret-0000"  # made up for tests
TOKEN = "pat-test-0000-made-up"  # made up for tests


def hubspot_env(fake: Any) -> dict[str, str]:
    """The hub's HubSpot connector with its API: the private-app token and the fake's URL."""
    return {"PARTNERHUB_HUBSPOT__ACCESS_TOKEN": TOKEN, "PARTNERHUB_HUBSPOT__API_BASE_URL": fake.url}


def post_webhook(
    web_url: str,
    events: list[dict[str, Any]],
    *,
    timestamp_ms: int | None = None,
    secret: str = SECRET,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A HubSpot webhook batch signed with signature v3 (``body`` replaces the JSON of ``events``)."""
    url = f"{web_url}/webhooks/hubspot"
    raw = body if body is not None else json.dumps(events).encode()
    ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    sent = {
        "content-type": "application/json",
        "X-HubSpot-Request-Timestamp": ts,
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, raw, ts),
        **(headers or {}),
    }
    return httpx.post(url, content=raw, headers=sent, timeout=30)


def deal_event(
    object_id: int,
    *,
    event_id: int,
    occurred_at: int | None = None,
    stage: str = "appointmentscheduled",
    subscription_id: int = 7,
) -> dict[str, Any]:
    """A ``deal.propertyChange`` of ``dealstage`` as HubSpot sends it."""
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


_event_ids = iter(range(10_000, 1_000_000))


def deal_webhook(deal_id: str, *, event_type: str, prop: str | None = None, value: str | None = None) -> dict[str, Any]:
    """A deal event of any type (``deal.creation``, ``deal.propertyChange`` of ``prop``...) with
    a fresh event id, as HubSpot sends it for a change a salesperson made."""
    event = {
        "objectId": int(deal_id),
        "eventId": next(_event_ids),
        "subscriptionId": 11,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(time.time() * 1000),
        "eventType": event_type,
        "attemptNumber": 0,
        "changeSource": "CRM_UI",
    }
    if prop:
        event.update(propertyName=prop, propertyValue=value)
    return event


def move_deal(h, deal_id: str, **props: str) -> None:  # type: ignore[no-untyped-def]
    """A salesperson edits the deal in HubSpot; HubSpot sends a webhook per changed property."""
    h.fake_hubspot.set_deal(deal_id, datetime.now(UTC), **props)
    time.sleep(0.01)
