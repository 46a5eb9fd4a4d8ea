"""Stored inbox events -> the provider records mapping plans read.

A HubSpot webhook event names one changed property, so its record is *partial*: apply it with
``plan.inbound(record, partial=True)`` (or read the full record through the API first). A
SendGrid event is itself the full record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def source_record_from_event(connector: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The source record an inbox event's payload stands for.

    HubSpot ``{"objectId": 1, "propertyName": "dealstage", "propertyValue": "x", ...}`` becomes
    ``{"id": "1", "properties": {"dealstage": "x"}}``; a deletion ``{"id": "1", "archived": true}``,
    a restore ``{"id": "1", "archived": false}``, any other event ``{"id": "1", "properties": {}}``.
    """
    if connector == "hubspot" and "objectId" in payload:
        record: dict[str, Any] = {"id": str(payload["objectId"]), "properties": {}}
        action = str(payload.get("eventType") or payload.get("subscriptionType") or "")
        action = action.rpartition(".")[2]
        if "propertyName" in payload:
            record["properties"][str(payload["propertyName"])] = payload.get("propertyValue")
        if action == "deletion":
            record["archived"] = True
        elif action == "restore":
            record["archived"] = False
        return record
    return dict(payload)


def is_partial(connector: str, payload: Mapping[str, Any]) -> bool:
    """True when ``source_record_from_event`` yields only part of the record."""
    return connector == "hubspot" and "objectId" in payload
