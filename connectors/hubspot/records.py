"""CRM records read through HubSpot's v3 objects API: the batch read, and the ``Record`` an
answer becomes (its version from the last-modified stamp)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.objects import READ_PROPERTIES, api_object
from connectors.values import Record, epoch_ms


def read_many(api: HubSpotApi, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
    """Batch read (100 ids a call). ``fields``: the record paths the hub maps
    (``properties.dealname``…); HubSpot returns only the properties asked for."""
    path_obj = api_object(obj)
    wanted = {f.split(".", 1)[1] for f in fields if f.startswith("properties.")}
    wanted.update(READ_PROPERTIES.get(obj, ()))
    records: list[Record] = []
    for response in api.batch_read(path_obj, ids, sorted(wanted)):
        data = response.json()
        # the raw JSON, not the SDK model: mapping files address the API's own field names
        for result in data.get("results", []) if isinstance(data, dict) else []:
            records.append(record_of(obj, result))
    return records


def record_of(obj: str, result: Mapping[str, Any]) -> Record:
    """The ``Record`` a v3 object answer (batch read, search) becomes; ``raw`` is the JSON."""
    props = dict(result.get("properties") or {})
    version = None
    modified = props.get("hs_lastmodifieddate") or props.get("lastmodifieddate") or result.get("updatedAt")
    if modified:
        version = _parse_hubspot_time(str(modified))
    return Record(
        object_type=obj,
        id=str(result["id"]),
        properties=props,
        version_ms=version,
        archived=bool(result.get("archived", False)),
        raw=dict(result),
    )


def _parse_hubspot_time(value: str) -> int | None:
    """HubSpot returns ISO-8601 timestamps in v3 (and epoch ms strings in places)."""
    if value.isdigit():
        return int(value)
    try:
        return epoch_ms(datetime.fromisoformat(value))
    except ValueError:
        return None
