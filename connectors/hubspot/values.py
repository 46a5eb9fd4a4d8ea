"""Property values as HubSpot takes them: every value is text (``""`` clears a property)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def text(value: Any) -> str:
    """One value as text: booleans ``true``/``false``, datetimes ISO 8601 in UTC, objects JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def texts(properties: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): text(v) for k, v in properties.items()}
