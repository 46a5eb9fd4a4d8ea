"""The safety net: ``GET /v1/events`` from a ``created`` cursor, for events missed while the hub
was down or its endpoint failing (Stripe lists events of the last 30 days).

Stripe lists events newest first, so a walk goes backwards from the newest event to the cursor's
``created``. Every page carries the cursor to resume after it: mid-walk that is the walk's own
position (``{"created": since, "top": newest, "after": last event id}``), so a walk stopped after
some pages (a killed process, the scheduler's page budget) carries on where it stopped; the last
page's cursor is ``{"created": newest}``, where the next walk stops. Events created during a walk
are newer than ``top`` and are found by the next one. ``created[gte]`` (not ``gt``) because
several events share one second; the repeats collapse on their event ids in the inbox.
Connected accounts' events (``account.updated``) are not listed here: they belong to each
account (``Stripe-Account``) and reach the Connect endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.errors import ConfigurationError
from connectors.stripe.client import PAGE_LIMIT, StripeApi
from connectors.stripe.objects import PLATFORM_EVENTS
from connectors.values import Cursor, Page, Record


def event_record(event: dict[str, Any]) -> Record:
    return Record(
        object_type="event",
        id=str(event["id"]),
        properties={},
        version_ms=int(event.get("created") or 0) * 1000,
        raw=event,
    )


def fetch_events(api: StripeApi, obj: str, cursor: Cursor | None) -> Iterator[Page]:
    if obj != "event":
        raise ConfigurationError(f"stripe polls only 'event', not {obj!r}")
    state = dict(cursor.value) if cursor else {}
    since = int(state.get("created") or 0)
    top = int(state.get("top") or 0)
    after = state.get("after")
    query: dict[str, Any] = {"limit": PAGE_LIMIT, "types": list(PLATFORM_EVENTS)}
    if since:
        query["created"] = {"gte": since}
    while True:
        if after:
            query["starting_after"] = after
        page = api.get("/v1/events", query)
        events = list(page.get("data") or [])
        top = max([top, since, *(int(e.get("created") or 0) for e in events)])
        more = bool(page.get("has_more")) and bool(events)
        if more:
            after = str(events[-1]["id"])
            resume = Cursor({"created": since, "top": top, "after": after})
        else:
            resume = Cursor({"created": top})
        yield Page(records=tuple(event_record(e) for e in events), cursor=resume)
        if not more:
            return
