"""Stored inbox events -> the provider records mapping plans read.

Each connector class says what its events stand for (``record_from_event``, a static method):
a HubSpot webhook event names one changed property, so its record is *partial* — apply it with
``plan.inbound(record, partial=True)`` or read the full record through the API first; a SendGrid
event, or a record the hub polled, is itself the full record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.capabilities import EventRecords


def event_record(connector: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """(the source record an inbox event's payload stands for, whether it is partial), from the
    connector's ``record_from_event``; without one, the payload itself, whole."""
    from connectors import REGISTRY  # late: connectors import nothing from hub.mapping

    cls = REGISTRY.get(connector)
    if cls is None or not issubclass(cls, EventRecords):
        return dict(payload), False
    record, partial = cls.record_from_event(payload)
    return dict(record), bool(partial)


def source_record_from_event(connector: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The source record an inbox event's payload stands for (the connector's
    ``record_from_event``; without one, the payload itself)."""
    return event_record(connector, payload)[0]


def is_partial(connector: str, payload: Mapping[str, Any]) -> bool:
    """True when ``source_record_from_event`` yields only part of the record."""
    return event_record(connector, payload)[1]
