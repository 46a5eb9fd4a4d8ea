"""Pipedrive records as the hub sees them: an API answer becomes a ``Record`` (custom fields by
name, the derived fields, the version from ``update_time``); batch reads (v2 ``ids``, up to 100 a
call; leads one by one through v1); polling pages (v2 ``updated_since`` + cursor, 500 a page;
leads through v1 ``updated_since`` + offset) streamed one page at a time; record writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.errors import ConfigurationError, FatalError
from connectors.pipedrive.client import PipedriveApi
from connectors.pipedrive.fields import HASH_KEY, FieldKeys
from connectors.pipedrive.objects import api_object
from connectors.values import Cursor, Page, Record, WriteResult, epoch_ms

#: "ids: comma separated string array of up to 100 entity ids"
MAX_IDS = 100
#: the earliest ``updated_since`` of a first poll
EPOCH = "1970-01-01T00:00:00Z"


def parse_time(value: Any) -> int | None:
    """Epoch ms of Pipedrive's stamps: ISO 8601 (v2, webhooks v2) or ``YYYY-MM-DD HH:MM:SS`` UTC
    (v1)."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            return None
        # seconds below 1e11, else already milliseconds (out of range: refused by ``Change``)
        return int(value * 1000) if abs(value) < 1e11 else int(value)
    text = str(value).strip().replace(" ", "T", 1).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return epoch_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def present(fields: FieldKeys | None, obj: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The record mapping files read: custom fields by name, plus the derived fields."""
    record = dict(raw)
    custom = dict(record.get("custom_fields") or {})
    if obj == "lead":  # v1 puts custom field values beside the standard ones
        for key in [k for k in record if HASH_KEY.match(k)]:
            custom[key] = record.pop(key)
    if fields is not None and custom:
        custom = fields.to_names(obj, custom)
    record["custom_fields"] = custom
    if obj == "contact":
        emails = record.get("emails") or []
        primary = next((e for e in emails if isinstance(e, dict) and e.get("primary")), None) or next(
            (e for e in emails if isinstance(e, dict)), None
        )
        record["primary_email"] = (primary or {}).get("value")
    # amounts are JSON numbers at Pipedrive; the money transform takes exact text, so a float is
    # handed over as its shortest decimal form (1500.5 -> "1500.5"), which is what was typed
    if isinstance(record.get("value"), float):
        record["value"] = repr(record["value"])
    if isinstance(record.get("value"), dict) and isinstance(record["value"].get("amount"), float):
        record["value"] = {**record["value"], "amount": repr(record["value"]["amount"])}
    if obj == "deal":
        status = record.get("status")
        stage = record.get("stage_id")
        record["stage_or_outcome"] = (
            status if status in ("won", "lost") else (str(stage) if stage is not None else None)
        )
    return record


def to_record(fields: FieldKeys | None, obj: str, raw: Mapping[str, Any]) -> Record:
    record = present(fields, obj, raw)
    return Record(
        object_type=obj,
        id=str(record["id"]),
        properties=record,
        version_ms=parse_time(record.get("update_time")),
        archived=bool(record.get("is_deleted") or record.get("is_archived")),
        raw=record,
    )


def read_many(api: PipedriveApi, fields: FieldKeys, obj: str, ids: Sequence[str]) -> list[Record]:
    spec = api_object(obj)
    records: list[Record] = []
    if spec.api == "v1":
        for lead_id in ids:
            response = api.send("GET", "v1", "/leads/{id}", path_params={"id": lead_id}, allow=(404, 410))
            if response.status_code in (404, 410):
                continue
            data = api.json(response).get("data")
            if isinstance(data, dict):
                records.append(to_record(fields, obj, data))
        return records
    unique = list(dict.fromkeys(str(i) for i in ids))
    if len(unique) == 1:  # one record: GET /{objects}/{id} costs 1 token, a list call 10
        response = api.send("GET", "v2", spec.path + "/{id}", path_params={"id": unique[0]}, allow=(404, 410))
        data = api.json(response).get("data") if response.status_code == 200 else None
        return [to_record(fields, obj, data)] if isinstance(data, dict) else []
    for start in range(0, len(unique), MAX_IDS):
        chunk = unique[start : start + MAX_IDS]
        response = api.send("GET", "v2", spec.path, params={"ids": ",".join(chunk), "limit": MAX_IDS})
        for item in api.json(response).get("data") or []:
            records.append(to_record(fields, obj, item))
    return records


def fetch_changes(api: PipedriveApi, fields: FieldKeys, obj: str, cursor: Cursor | None) -> Iterator[Page]:
    """Pages of records changed since the cursor, one request each, streamed.

    Cursor: ``{"since": RFC3339, "cursor": v2 page marker | None}`` (v2) or ``{"since": …,
    "start": offset}`` (leads). At the end of a run the cursor becomes ``{"since": the newest
    update_time seen}``: ``updated_since`` is inclusive, so the records on that boundary are read
    once more next time (never lost; the inbox drops what it already holds).
    """
    state = dict(cursor.value) if cursor is not None else {}
    since = str(state.get("since") or EPOCH)
    newest = parse_time(since) or 0
    spec = api_object(obj)
    size = api.settings.page_size
    if spec.api == "v1":
        start = int(state.get("start") or 0)
        while True:
            response = api.send(
                "GET",
                "v1",
                spec.path,
                params={"updated_since": since, "sort": "update_time", "start": start, "limit": size},
            )
            data = api.json(response)
            records = tuple(to_record(fields, obj, r) for r in data.get("data") or [])
            newest = max([newest, *(r.version_ms or 0 for r in records)])
            more = bool((data.get("additional_data") or {}).get("more_items_in_collection")) and records
            start += len(records)
            if more:
                yield Page(records, Cursor({"since": since, "start": start}))
                continue
            yield Page(records, Cursor({"since": iso(newest) if newest else since}))
            return
    marker = state.get("cursor")
    while True:
        response = api.send(
            "GET",
            "v2",
            spec.path,
            params={
                "updated_since": since,
                "sort_by": "update_time",
                "sort_direction": "asc",
                "limit": size,
                "cursor": marker,
            },
        )
        data = api.json(response)
        records = tuple(to_record(fields, obj, r) for r in data.get("data") or [])
        newest = max([newest, *(r.version_ms or 0 for r in records)])
        marker = (data.get("additional_data") or {}).get("next_cursor")
        if marker:
            yield Page(records, Cursor({"since": since, "cursor": marker}))
            continue
        yield Page(records, Cursor({"since": iso(newest) if newest else since}))
        return


#: fields Pipedrive takes as integers (the hub keeps ids as text)
_INTEGER_IDS = {"owner_id", "person_id", "org_id", "organization_id", "pipeline_id", "stage_id", "user_id", "deal_id"}


def write_body(fields: FieldKeys, obj: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping's outbound output as the API takes it: custom fields by key, derived fields
    turned back into theirs (``primary_email`` -> ``emails``), ids as integers, read-only fields
    left out."""
    body = {k: v for k, v in values.items() if k not in ("id", "stage_or_outcome", "update_time", "add_time")}
    for name in _INTEGER_IDS & set(body):
        if isinstance(body[name], str) and body[name].strip().isdigit():
            body[name] = int(body[name])
    if obj == "deal" and isinstance(body.get("value"), str) and body["value"].strip():
        body["value"] = _number(body["value"])
    custom = body.pop("custom_fields", None) or {}
    email = body.pop("primary_email", None)
    if obj == "contact" and email:
        body["emails"] = [{"value": str(email), "primary": True, "label": "work"}]
    if obj == "contact":  # v2 writes a person's name whole; first/last are read-only parts of it
        first, last = body.pop("first_name", None), body.pop("last_name", None)
        full = " ".join(str(p) for p in (first, last) if p not in (None, ""))
        if full and not body.get("name"):
            body["name"] = full
        if not body.get("name") and email:
            body["name"] = str(email)
    if custom:
        keys = fields.to_keys(obj, custom)
        if obj == "lead":
            body.update(keys)
        else:
            body["custom_fields"] = keys
    return body


def _number(text: str) -> int | float:
    """Decimal text (the money transform's output) as the JSON number Pipedrive's ``value`` takes:
    an integer when whole, else the float whose shortest form is that same text."""
    amount = Decimal(text.strip())
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def upsert_many(
    api: PipedriveApi, fields: FieldKeys, obj: str, records: Sequence[Mapping[str, Any]], *, key: str
) -> list[WriteResult]:
    """Pipedrive has no batch create or update: one request per record (``PATCH`` by ``id``, or
    ``POST`` when the record has none). ``key``: ``id`` (the only key Pipedrive looks records up
    by consistently)."""
    if key != "id":
        raise FatalError(f"pipedrive upsert_many: only key 'id' is supported, not {key!r}")
    spec = api_object(obj)
    results = []
    for values in records:
        record_id = values.get("id")
        label = str(record_id or values.get("title") or values.get("name") or "")
        try:
            body = write_body(fields, obj, values)
            if record_id not in (None, ""):
                response = api.send("PATCH", spec.api, spec.path + "/{id}", path_params={"id": record_id}, body=body)
                created = False
            else:
                response = api.send("POST", spec.api, spec.path, body=body)
                created = True
            data = api.json(response).get("data") or {}
            results.append(
                WriteResult(key=label, id=str(data.get("id") or record_id), created=created, written=as_changes(body))
            )
        except (FatalError, ConfigurationError) as exc:  # this record: refused or unmappable
            results.append(WriteResult(key=label, id=None, created=False, error=str(exc)[:300]))
    return results


def as_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """A request body as webhooks report changes: custom fields as ``custom_fields.<key>``."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name == "custom_fields" and isinstance(value, dict):
            out.update({f"custom_fields.{k}": v for k, v in value.items()})
        else:
            out[name] = value if not isinstance(value, (dict, list)) else json.loads(json.dumps(value))
    return out
