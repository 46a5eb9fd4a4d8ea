"""Salesforce records as the hub sees them: a SOQL row becomes a ``Record`` (version from
``SystemModstamp``, deleted from ``IsDeleted``), batch reads by Id, and batch writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.errors import ConfigurationError
from connectors.salesforce import soql
from connectors.salesforce.client import SalesforceApi, result_error
from connectors.salesforce.objects import SOBJECTS, select_fields, sobject
from connectors.values import Record, WriteResult, epoch_ms

#: ids per read query (keeps the GET URL well under Salesforce's 16,384-character limit)
READ_CHUNK = 200


def parse_time(value: Any) -> int | None:
    """Epoch ms of a Salesforce dateTime (``2024-05-02T10:00:00.000+0000``)."""
    if not value:
        return None
    try:
        return epoch_ms(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def to_record(obj: str, row: Mapping[str, Any]) -> Record:
    raw = dict(row)
    return Record(
        object_type=obj,
        id=str(raw.get("Id") or ""),
        properties=raw,
        version_ms=parse_time(raw.get("SystemModstamp")),
        archived=bool(raw.get("IsDeleted")),
        raw=raw,
    )


def read_many(api: SalesforceApi, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
    """Current state by Id through ``queryAll`` (so a deleted record still in the recycle bin is
    read as deleted rather than missing)."""
    wanted = select_fields(obj, list(fields))
    out: list[Record] = []
    unique = list(dict.fromkeys(str(i) for i in ids if i))
    for start in range(0, len(unique), READ_CHUNK):
        chunk = unique[start : start + READ_CHUNK]
        text = soql.select(wanted, sobject(obj), f"Id IN {soql.quote_list(chunk)}")
        out.extend(to_record(obj, row) for row in api.records(text, all_rows=True))
    return out


def upsert_many(api: SalesforceApi, obj: str, records: Sequence[Mapping[str, Any]], *, key: str) -> list[WriteResult]:
    """Upsert by the External ID field ``key`` through sObject Collections (200 a call,
    ``allOrNone: false``, so each record has its own result). ``key`` ``Id``: update the records
    by their Salesforce id (``PATCH /composite/sobjects``)."""
    if obj not in SOBJECTS:
        raise ConfigurationError(f"salesforce: cannot write {obj!r}")
    soql.name(key)
    if key == "Id":
        results = api.update(sobject(obj), records)
    else:
        results = api.upsert(sobject(obj), key, records)
    out = []
    for record, result in zip(records, results, strict=True):
        error = result_error(result)
        written = {} if error else {k: v for k, v in record.items() if k not in ("attributes", "Id")}
        out.append(
            WriteResult(
                key=str(record.get(key) or ""),
                id=result.get("id"),
                created=bool(result.get("created")),
                error=error,
                written=written,
            )
        )
    return out
