"""A compiled mapping: plain functions and tuples, applied per record with no validation models.

``Plan.inbound`` turns a provider record into a ``Canonical`` change (or ``None`` when a filter
drops it); ``Plan.outbound`` turns a hub record into the exact payload the provider's API takes.
A record the plan cannot handle raises ``MappingRuntimeError`` (``UnknownMappedValue`` for a value
map gap) naming the file, the field and the value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub.mapping.errors import MappingRuntimeError, UnknownMappedValue
from hub.mapping.paths import ABSENT, Reader, Writer
from hub.mapping.transforms import (
    EPOCH,
    Fn,
    TransformError,
    UnknownValue,
    format_datetime,
)

_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Canonical:
    """One change to a hub record. ``fields`` holds only what the provider record carried (all
    mapped fields for a full record); ``version_ms`` is the record's version field, if mapped."""

    target: str
    key: str
    fields: dict[str, Any]
    version_ms: int | None


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What a plan knows about one record field (for the engine's conflict and echo rules)."""

    name: str
    direction: str  # inbound | outbound | both
    owner: str | None  # provider | hub, for direction both
    sources: tuple[str, ...]
    required: bool


@dataclass(frozen=True, slots=True)
class InboundRule:
    name: str
    read: Reader | None  # None: a constant
    convert: Fn | None
    const: Any = None
    default: Any = None
    has_default: bool = False
    required: bool = False


@dataclass(frozen=True, slots=True)
class OutboundRule:
    name: str
    convert: Fn | None
    write: Writer


@dataclass(frozen=True, slots=True)
class FilterRule:
    read: Reader
    keep: Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Plan:
    path: Path
    connector: str
    object: str
    target: str
    key_fields: tuple[str, ...]
    version_field: str | None
    fields: Mapping[str, FieldInfo]
    filters: tuple[FilterRule, ...] = field(repr=False)
    inbound_rules: tuple[InboundRule, ...] = field(repr=False)
    outbound_rules: tuple[OutboundRule, ...] = field(repr=False)
    #: the inbound rules as plain tuples, unpacked in the hot loop
    _rows: tuple[tuple[Any, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = tuple(
            (r.name, r.read, r.convert, r.const, r.default, r.has_default, r.required) for r in self.inbound_rules
        )
        object.__setattr__(self, "_rows", rows)

    @property
    def source_paths(self) -> tuple[str, ...]:
        """Every provider path this plan reads (what a connector should fetch)."""
        seen: dict[str, None] = {}
        for info in self.fields.values():
            for path in info.sources:
                seen.setdefault(path, None)
        return tuple(seen)

    def inbound(self, source: Mapping[str, Any], *, partial: bool = False) -> Canonical | None:
        """Provider record -> canonical change; ``None`` when a filter drops the record.

        ``partial``: the record carries only some fields (a HubSpot property-change event), so
        fields it does not carry are left out — no default, no required check — and filters on
        them pass.
        """
        for flt in self.filters:
            value = flt.read(source)
            if value is ABSENT:
                if partial:
                    continue
                value = None
            if not flt.keep(value):
                return None
        fields: dict[str, Any] = {}
        for name, read, convert, const, default, has_default, required in self._rows:
            if read is None:
                fields[name] = const
                continue
            raw = read(source)
            if raw is ABSENT:
                if partial:
                    continue
                raw = None
            if raw is None or raw == "":
                value = None
            elif convert is None:
                value = raw
            else:
                try:
                    value = convert(raw, fields)
                except UnknownValue as exc:
                    raise UnknownMappedValue(self.path, name, exc.value) from None
                except TransformError as exc:
                    raise MappingRuntimeError(self.path, name, raw, str(exc)) from None
                if value == "" or value == []:
                    value = None
            if value is None:
                if has_default:
                    value = default
                elif required:
                    raise MappingRuntimeError(self.path, name, raw, "a required value is missing")
            fields[name] = value
        return Canonical(self.target, self._key(fields), fields, self._version(fields))

    def outbound(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Hub record -> the provider's API payload, for the fields written outbound that the
        record holds (``None`` clears the provider's value)."""
        payload: dict[str, Any] = {}
        for rule in self.outbound_rules:
            value = record.get(rule.name, ABSENT)
            if value is ABSENT:
                continue
            if value is not None and rule.convert is not None:
                try:
                    value = rule.convert(value, record)
                except UnknownValue as exc:
                    raise UnknownMappedValue(self.path, rule.name, exc.value) from None
                except TransformError as exc:
                    raise MappingRuntimeError(self.path, rule.name, value, str(exc)) from None
            rule.write(payload, value)
        return payload

    def _key(self, fields: Mapping[str, Any]) -> str:
        if not self.key_fields:
            blob = json.dumps(fields, sort_keys=True, default=_json_default, separators=(",", ":"))
            return hashlib.sha256(blob.encode()).hexdigest()[:32]
        parts = []
        for name in self.key_fields:
            value = fields.get(name)
            if value is None or value == "":
                raise MappingRuntimeError(self.path, name, value, "the record's key is missing")
            parts.append(value if isinstance(value, str) else str(value))
        return parts[0] if len(parts) == 1 else "|".join(parts)

    def _version(self, fields: Mapping[str, Any]) -> int | None:
        if self.version_field is None:
            return None
        moment = fields.get(self.version_field)
        if isinstance(moment, datetime):
            return (moment - EPOCH) // _ONE_MS
        return None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)
