"""Polling HubSpot: records changed since a cursor, through CRM search on the last-modified
stamp, a page at a time, with the cursor to resume after each page.

Facts this module relies on (``shared/PROVIDERS.md`` §2.4, §2.5): search takes up to 200
records a page and one sort rule, refuses to page past 10,000 results for one query, has its own
rate limit (the ``hubspot:search`` budget), and newly changed records "may take a few moments"
to be searchable.

How it keeps every record exactly once without the 10,000 cap ever mattering: it pages by key,
not by ``after``. The cursor is ``{"ts": <ms>, "id": <id or null>}``: every record whose
(stamp, id) is at or before it has been delivered (``id`` null: all records at ``ts``). Each
request asks for the first page of records modified *after* ``ts`` (sorted by the stamp,
ascending), so no query ever pages at all. HubSpot sorts by one property only, so records sharing
a stamp come in no particular order; a full page therefore delivers only the records *before*
its last stamp, and the next request starts there again. When one stamp holds a whole page (a
bulk import), the records at that stamp are drained in id order (``stamp = ts`` and
``hs_object_id > id``, sorted by id) before moving on. The window ends ``poll_lag_s`` before
now, so records not yet indexed are picked up by the next poll rather than skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

from connectors.errors import FatalError
from connectors.hubspot.client import MAX_SEARCH_PAGE, HubSpotApi
from connectors.hubspot.objects import OBJECTS, READ_PROPERTIES, api_object
from connectors.hubspot.records import record_of
from connectors.hubspot.sdk import OBJECTS_SDK
from connectors.values import Cursor, Page, Record

#: the object id as a searchable property
_ID = "hs_object_id"


@dataclass(frozen=True, slots=True)
class _Position:
    """Everything at or before (ts, id) is delivered; ``id`` None: everything at ``ts``."""

    ts: int | None
    id: str | None = None

    @classmethod
    def of(cls, cursor: Cursor | None) -> _Position:
        if cursor is None:
            return cls(None)
        value = cursor.value
        try:
            ts = value.get("ts")
            ident = value.get("id")
            return cls(int(ts) if ts is not None else None, str(ident) if ident is not None else None)
        except (AttributeError, TypeError, ValueError):
            raise FatalError(f"hubspot: not a HubSpot polling cursor: {dict(cursor.value)!r}"[:300]) from None

    def cursor(self) -> Cursor:
        return Cursor({"ts": self.ts, "id": self.id})


def stamp_property(obj: str) -> str:
    """The last-modified property search filters and sorts on (contacts: ``lastmodifieddate``)."""
    return READ_PROPERTIES[obj][0]


def fetch_changes(
    api: HubSpotApi, obj: str, cursor: Cursor | None, *, now_ms: Callable[[], int], lag_ms: int
) -> Iterator[Page]:
    """Pages of ``obj`` records changed since ``cursor``, oldest first, each with the cursor to
    resume after it. Holds one page at a time."""
    path_obj = api_object(obj)
    stamp = stamp_property(obj)
    properties = sorted(
        {f.split(".", 1)[1] for f in OBJECTS[obj].fields if f.startswith("properties.")} | set(READ_PROPERTIES[obj])
    )
    upper = now_ms() - lag_ms
    at = _Position.of(cursor)
    while at.ts is None or at.ts <= upper:
        if at.id is not None:  # drain one stamp in id order
            filters = [
                Filter(property_name=stamp, operator="EQ", value=str(at.ts)),
                Filter(property_name=_ID, operator="GT", value=at.id),
            ]
            records = _search(api, path_obj, obj, filters, _ID, properties)
            records.sort(key=_id_key)
            if len(records) < MAX_SEARCH_PAGE:
                at = _Position(at.ts)
            elif records:
                at = _Position(at.ts, records[-1].id)
            if records:
                yield Page(records=tuple(records), cursor=at.cursor())
            continue
        filters = [Filter(property_name=stamp, operator="LTE", value=str(upper))]
        if at.ts is not None:
            filters.insert(0, Filter(property_name=stamp, operator="GT", value=str(at.ts)))
        records = _search(api, path_obj, obj, filters, stamp, properties)
        records.sort(key=lambda r: (_version(r), _id_key(r)))
        if len(records) < MAX_SEARCH_PAGE:  # the last page of this window
            if records:
                yield Page(records=tuple(records), cursor=_Position(_version(records[-1])).cursor())
            return
        last = _version(records[-1])
        before = [r for r in records if _version(r) < last]
        if not before:  # one stamp fills the page: drain it by id
            at = _Position(last, "0")
            continue
        at = _Position(_version(before[-1]))
        yield Page(records=tuple(before), cursor=at.cursor())


def _search(
    api: HubSpotApi, path_obj: str, obj: str, filters: list[Filter], sort_by: str, properties: list[str]
) -> list[Record]:
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=filters)],
        # the SDK types sorts as strings; the API documents objects, and takes them
        sorts=[{"propertyName": sort_by, "direction": "ASCENDING"}],
        properties=properties,
        limit=MAX_SEARCH_PAGE,
    )
    response = api.search_page(path_obj, OBJECTS_SDK.sanitize_for_serialization(request))
    # the raw JSON, not the SDK models: mapping files address the API's own field names (and
    # parsing every timestamp into a model would cost more than the call)
    try:
        raw = response.json()
        results: list[Any] = raw["results"]
        records = [record_of(obj, r) for r in results]
    except (ValueError, KeyError, TypeError) as exc:
        raise FatalError(f"hubspot: unexpected search answer for {obj} ({type(exc).__name__}: {exc})"[:300]) from None
    for record in records:
        if record.version_ms is None:
            raise FatalError(f"hubspot: {obj} {record.id} came back from search without a modified stamp")
    return records


def _version(record: Record) -> int:
    assert record.version_ms is not None
    return record.version_ms


def _id_key(record: Record) -> tuple[int, str]:
    return (int(record.id), record.id) if record.id.isdigit() else (1 << 62, record.id)
