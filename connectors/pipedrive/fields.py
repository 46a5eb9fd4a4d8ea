"""Custom fields by name: Pipedrive addresses every custom field by a random 40-character hash
key; admins (mapping files) and the hub address them by name.

A field's *name* in the hub is its Pipedrive label in snake case: "Partnerhub tracking ID" is
``partnerhub_tracking_id``, "Lead source" is ``lead_source``. ``FieldKeys`` lists each object's
field definitions once (``GET /api/v2/dealFields``…, cursor-paged), keeps name <-> key for the
custom ones, and caches them in the process and in Redis (shared by every process, for
``field_cache_s``), so a running hub resolves names without spending tokens on every call.
``crm setup`` forgets the cache after it creates fields.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from connectors.errors import ConfigurationError
from connectors.pipedrive.client import PipedriveApi
from connectors.pipedrive.objects import api_object

#: Pipedrive's custom field keys
HASH_KEY = re.compile(r"^[0-9a-f]{40}$")
_CACHE_KEY = "partnerhub:pipedrive:fields:{}"


def field_name(label: str) -> str:
    """A Pipedrive field label as the hub names it: lower case, runs of other characters ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


class FieldKeys:
    """Name <-> key of each object's custom fields, listed once and cached."""

    def __init__(self, api: PipedriveApi):
        self.api = api
        self._by_path: dict[str, tuple[float, dict[str, str]]] = {}

    def definitions(self, fields_path: str) -> list[dict[str, Any]]:
        """Every field definition of one object (v2, cursor-paged)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            response = self.api.send("GET", "v2", fields_path, params={"limit": 500, "cursor": cursor})
            data = self.api.json(response)
            out.extend(d for d in data.get("data") or [] if isinstance(d, dict))
            cursor = (data.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return out

    def keys(self, obj: str) -> dict[str, str]:
        """{name: hash key} of the object's custom fields."""
        path = api_object(obj).fields_path
        now = time.time()
        held = self._by_path.get(path)
        if held is not None and held[0] > now:
            return held[1]
        names = self._from_redis(path)
        if names is None:
            names = {}
            for d in self.definitions(path):
                if d.get("is_custom_field") and d.get("field_code") and d.get("field_name"):
                    names.setdefault(field_name(str(d["field_name"])), str(d["field_code"]))
            self._to_redis(path, names)
        self._by_path[path] = (now + self.api.settings.field_cache_s, names)
        return names

    def forget(self) -> None:
        self._by_path.clear()
        if self.api.redis is not None:
            try:
                for obj in {o.fields_path for o in map(api_object, ("deal", "contact", "company"))}:
                    self.api.redis.delete(_CACHE_KEY.format(obj))
            except Exception:
                pass

    def to_names(self, obj: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Custom field values keyed by hash -> by name (keys the hub does not know stay)."""
        if not values:
            return {}
        names = {key: name for name, key in self.keys(obj).items()}
        return {names.get(k, k): v for k, v in values.items()}

    def to_keys(self, obj: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Custom field values keyed by name -> by hash; an unknown name is a setup problem."""
        if not values:
            return {}
        keys = self.keys(obj)
        out = {}
        for name, value in values.items():
            if HASH_KEY.match(name):
                out[name] = value
            elif name in keys:
                out[keys[name]] = value
            else:
                raise ConfigurationError(
                    f"pipedrive {obj}: no custom field named {name!r} (labels are matched in snake case; "
                    f"run `partnerhub crm setup` or create it in Pipedrive)"
                )
        return out

    def _from_redis(self, path: str) -> dict[str, str] | None:
        if self.api.redis is None:
            return None
        try:
            raw = self.api.redis.get(_CACHE_KEY.format(path))
        except Exception:
            return None
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _to_redis(self, path: str, names: dict[str, str]) -> None:
        if self.api.redis is None:
            return
        try:
            self.api.redis.set(_CACHE_KEY.format(path), json.dumps(names), ex=int(self.api.settings.field_cache_s))
        except Exception:
            pass
