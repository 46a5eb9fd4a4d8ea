"""The safety net: ``GET /v1/events`` from a ``created`` cursor, for events missed while the hub
was down or its endpoint failing (Stripe lists events of the last 30 days).

Stripe lists events newest first, so the walk goes backwards from now to the cursor. Only the
last page carries the new cursor (the newest ``created`` seen when the walk began): a walk killed
halfway resumes from the old cursor and repeats pages whose events collapse on their ids in the
inbox. ``created[gte]`` (not ``gt``) because several events share one second; the repeats cost a
duplicate key, never a lost event. Connected accounts' events (``account.updated``) are not
listed here: they belong to each account (``Stripe-Account``) and reach the Connect endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.base import ConfigurationError, Cursor, Page, Record
from connectors.stripe.client import PAGE_LIMIT, StripeApi
from connectors.stripe.objects import PLATFORM_EVENTS


def event_record(event: dict[str, Any]) -> Record:
    return Record(object_type="event", id=str(event["id"]), properties={},
                  version_ms=int(event.get("created") or 0) * 1000, raw=event)


def fetch_events(api: StripeApi, obj: str, cursor: Cursor | None) -> Iterator[Page]:
    if obj != "event":
        raise ConfigurationError(f"stripe polls only 'event', not {obj!r}")
    since = int((cursor.value if cursor else {}).get("created") or 0)
    query: dict[str, Any] = {"limit": PAGE_LIMIT, "types": list(PLATFORM_EVENTS)}
    if since:
        query["created"] = {"gte": since}
    newest = since
    while True:
        page = api.get("/v1/events", query)
        events = list(page.get("data") or [])
        for event in events:
            newest = max(newest, int(event.get("created") or 0))
        more = bool(page.get("has_more")) and bool(events)
        yield Page(records=tuple(event_record(e) for e in events),
                   cursor=None if more else Cursor({"created": newest}))
        if not more:
            return
        query["starting_after"] = events[-1]["id"]
