"""CRM records read through HubSpot's v3 objects API: the batch read, and the ``Record`` an
answer becomes (its version from the last-modified stamp)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hubspot.crm.objects import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from connectors.base import Record, epoch_ms
from connectors.hubspot.client import MAX_BATCH, HubSpotApi
from connectors.hubspot.objects import READ_PROPERTIES, api_object
from connectors.hubspot.sdk import OBJECTS_SDK


def read_many(api: HubSpotApi, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
    """Batch read (100 ids a call). ``fields``: the record paths the hub maps
    (``properties.dealname``…); HubSpot returns only the properties asked for."""
    path_obj = api_object(obj)
    wanted = {f.split(".", 1)[1] for f in fields if f.startswith("properties.")}
    wanted.update(READ_PROPERTIES.get(obj, ()))
    records: list[Record] = []
    for start in range(0, len(ids), MAX_BATCH):
        chunk = ids[start : start + MAX_BATCH]
        body = OBJECTS_SDK.sanitize_for_serialization(
            BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=str(i)) for i in chunk],
                properties=sorted(wanted),
                properties_with_history=[],
            )
        )
        data = api.post(f"/crm/v3/objects/{path_obj}/batch/read", body)
        for result in data.get("results", []):
            records.append(_record(obj, result))
    return records


def _record(obj: str, result: Mapping[str, Any]) -> Record:
    props = dict(result.get("properties") or {})
    version = None
    modified = props.get("hs_lastmodifieddate") or props.get("lastmodifieddate") or result.get(
        "updatedAt"
    )
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
        return epoch_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None
