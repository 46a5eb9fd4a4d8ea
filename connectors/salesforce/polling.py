"""Polling: SOQL on ``SystemModstamp`` (read-only, moved by every change including system ones;
``shared/PROVIDERS.md`` §5.4), through ``queryAll`` so deletions (``IsDeleted = true``, in the
recycle bin) come with the rest.

The cursor is ``(SystemModstamp, Id)`` of the last record of a page, saved by the hub after every
page. Resuming re-reads from ``poll_overlap_s`` before the cursor: Salesforce stamps a row when
its transaction starts, so a long transaction can commit a row stamped just before a cursor taken
meanwhile; re-read rows collapse on their event key (Id + stamp). With no overlap the query
continues strictly after ``(stamp, Id)``, so rows sharing the boundary stamp are never skipped.
Pages are Salesforce's own (up to 2,000 rows, ``nextRecordsUrl``) and are streamed, never held.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.salesforce import soql
from connectors.salesforce.client import SalesforceApi
from connectors.salesforce.objects import select_fields, sobject
from connectors.salesforce.records import parse_time, to_record
from connectors.values import Change, Cursor, Page, Record

ORDER = "SystemModstamp ASC, Id ASC"


def where(cursor: Cursor | None, overlap_s: float) -> str | None:
    if cursor is None or not cursor.value.get("stamp"):
        return None
    stamp = datetime.fromisoformat(str(cursor.value["stamp"]))
    if overlap_s > 0:
        return f"SystemModstamp >= {soql.datetime_literal(stamp - timedelta(seconds=overlap_s))}"
    at = soql.datetime_literal(stamp)
    last_id = str(cursor.value.get("id") or "")
    return f"(SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > {soql.quote(last_id)}))"


def fetch_changes(api: SalesforceApi, obj: str, cursor: Cursor | None, *, overlap_s: float) -> Iterator[Page]:
    text = soql.select(select_fields(obj), sobject(obj), where(cursor, overlap_s), order_by=ORDER)
    last = dict(cursor.value) if cursor is not None else {}
    for answer in api.query(text, all_rows=True, essential=False):
        rows = answer.get("records") or []
        records = tuple(to_record(obj, row) for row in rows)
        if rows:
            tail = rows[-1]
            last = {"stamp": _iso(tail.get("SystemModstamp")), "id": str(tail.get("Id"))}
        yield Page(records=records, cursor=Cursor(dict(last)) if last else None)


def _iso(value: Any) -> str:
    ms = parse_time(value)
    if ms is None:
        return str(value)
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def polled_change(object_type: str, record: Record) -> Change:
    """The inbox change a polled record stands for: a deleted contact is ``contact.deletion``
    (its row carries ``Email``, for ``hub.privacy``), other deletions ``<object>.deletion``, the
    rest ``<object>.polled``; keyed on object, Id and SystemModstamp, so overlapping polls
    collapse."""
    raw = dict(record.raw)
    action = "deletion" if record.archived else "polled"
    return Change(
        event_key=f"poll:{object_type}:{record.id}:{raw.get('SystemModstamp') or ''}",
        event_type=f"{object_type}.{action}",
        object_type=object_type,
        object_id=record.id,
        version_ms=record.version_ms,
        payload=raw,
    )
