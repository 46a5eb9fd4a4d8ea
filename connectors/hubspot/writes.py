"""Batch record writes on HubSpot (``Connector.upsert_many``): 100 records a call, through the
batch upsert endpoint keyed on a unique property, or batch update/create keyed on the object id.

Facts this module relies on (``shared/PROVIDERS.md`` §2.4, §7): "Batch operations are limited to
100 records at a time"; an upsert's ``idProperty`` must be a property with unique values
(``email`` on contacts, ``partnerhub_tracking_id`` on deals, created by ``crm setup``). Each
input carries an ``objectWriteTraceId`` (its position) that HubSpot echoes on the result or
error for that input, so results are matched to inputs whatever order they come back in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObjectWithErrors,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
)

from connectors.errors import FatalError
from connectors.hubspot.client import MAX_BATCH, HubSpotApi
from connectors.hubspot.objects import api_object
from connectors.hubspot.sdk import OBJECTS_SDK, decode
from connectors.hubspot.values import texts
from connectors.values import WriteResult

#: ``key`` naming the HubSpot object id itself
OBJECT_ID = "id"


def upsert_many(api: HubSpotApi, obj: str, records: Sequence[Mapping[str, Any]], *, key: str) -> list[WriteResult]:
    """Write ``records`` (each ``{"properties": {...}}`` as mapping files produce it, or the
    properties themselves; with ``"id"`` when ``key`` is ``"id"``), one result per record in
    order. ``key``: a unique property (an upsert on it) or ``"id"`` (update the records that
    have one, create the others). Records naming the same key are written once, merged."""
    path_obj = api_object(obj)
    wanted: dict[str, dict[str, str]] = {}  # key value -> properties, first-seen order
    keys: list[str] = []
    creates: list[dict[str, str]] = []
    for index, record in enumerate(records):
        props = texts(_properties(record))
        if key == OBJECT_ID:
            value = record.get("id")
            if value in (None, ""):
                keys.append(f"new:{len(creates)}")
                creates.append(props)
                continue
        else:
            value = props.pop(key, None) or record.get(key)
            if value in (None, ""):
                raise FatalError(f"upsert_many: record {index} has no {key!r} to key it on")
        keys.append(str(value))
        wanted.setdefault(str(value), {}).update(props)
    results: dict[str, WriteResult] = {}
    items = list(wanted.items())
    for start in range(0, len(items), MAX_BATCH):
        chunk = items[start : start + MAX_BATCH]
        if key == OBJECT_ID:
            results.update(_update(api, path_obj, chunk))
        else:
            results.update(_upsert(api, path_obj, key, chunk))
    for start in range(0, len(creates), MAX_BATCH):
        results.update(_create(api, path_obj, creates[start : start + MAX_BATCH], start))
    sent = {**wanted, **{f"new:{i}": props for i, props in enumerate(creates)}}
    return [_written(results[k], sent[k]) for k in keys]


def _written(result: WriteResult, props: dict[str, str]) -> WriteResult:
    """The result with the properties it wrote (as webhook events name them), when it succeeded."""
    return result if result.error is not None else replace(result, written=dict(props))


def _properties(record: Mapping[str, Any]) -> Mapping[str, Any]:
    props = record.get("properties")
    if isinstance(props, Mapping):
        return props
    return {k: v for k, v in record.items() if k != "id"}


def _upsert(
    api: HubSpotApi, path_obj: str, key: str, chunk: list[tuple[str, dict[str, str]]]
) -> dict[str, WriteResult]:
    inputs = [
        SimplePublicObjectBatchInputUpsert(id=value, id_property=key, properties=props, object_write_trace_id=str(i))
        for i, (value, props) in enumerate(chunk)
    ]
    body = OBJECTS_SDK.sanitize_for_serialization(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
    response = api.send("POST", f"/crm/v3/objects/{path_obj}/batch/upsert", body)
    answer: Any = decode(OBJECTS_SDK, response, BatchResponseSimplePublicUpsertObjectWithErrors)
    return _match(answer, [value for value, _ in chunk], lambda r: bool(r.new))


def _update(api: HubSpotApi, path_obj: str, chunk: list[tuple[str, dict[str, str]]]) -> dict[str, WriteResult]:
    inputs = [
        SimplePublicObjectBatchInput(id=value, properties=props, object_write_trace_id=str(i))
        for i, (value, props) in enumerate(chunk)
    ]
    body = OBJECTS_SDK.sanitize_for_serialization(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    response = api.send("POST", f"/crm/v3/objects/{path_obj}/batch/update", body)
    answer: Any = decode(OBJECTS_SDK, response, BatchResponseSimplePublicObjectWithErrors)
    return _match(answer, [value for value, _ in chunk], lambda r: False)


def _create(api: HubSpotApi, path_obj: str, chunk: list[dict[str, str]], offset: int) -> dict[str, WriteResult]:
    inputs = [
        SimplePublicObjectBatchInputForCreate(properties=props, object_write_trace_id=str(i))
        for i, props in enumerate(chunk)
    ]
    body = OBJECTS_SDK.sanitize_for_serialization(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    response = api.send("POST", f"/crm/v3/objects/{path_obj}/batch/create", body)
    answer: Any = decode(OBJECTS_SDK, response, BatchResponseSimplePublicObjectWithErrors)
    matched = _match(answer, [f"new:{offset + i}" for i in range(len(chunk))], lambda r: True)
    return matched


def _match(answer: Any, keys: list[str], is_new: Any) -> dict[str, WriteResult]:
    """Results and errors matched to inputs by ``objectWriteTraceId``; an input HubSpot says
    nothing about gets the batch's error messages."""
    out: dict[str, WriteResult] = {}
    for result in answer.results or []:
        index = _trace(getattr(result, "object_write_trace_id", None), len(keys))
        if index is not None:
            out[keys[index]] = WriteResult(key=keys[index], id=str(result.id), created=is_new(result))
    messages = []
    for error in getattr(answer, "errors", None) or []:
        message = str(getattr(error, "message", "") or getattr(error, "category", "error"))[:300]
        messages.append(message)
        context = getattr(error, "context", None) or {}
        for trace in context.get("objectWriteTraceId", []) if isinstance(context, Mapping) else []:
            index = _trace(trace, len(keys))
            if index is not None and keys[index] not in out:
                out[keys[index]] = WriteResult(key=keys[index], id=None, created=False, error=message)
    for value in keys:
        if value not in out:
            out[value] = WriteResult(
                key=value, id=None, created=False, error="; ".join(messages) or "hubspot returned no result for it"
            )
    return out


def _trace(value: Any, size: int) -> int | None:
    try:
        index = int(str(value))
    except ValueError:
        return None
    return index if 0 <= index < size else None
