"""Shadow runs: apply an edited mapping and the one in force to recent stored inbox events and
show, record by record, what would change — before anyone deploys the edit. The events are
handed in (``hub.pipeline.inbox.recent_events`` reads them from the inbox)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.mapping.errors import MappingRuntimeError
from hub.mapping.events import event_record
from hub.mapping.plan import Canonical, Plan

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored provider event, as a shadow run reads it."""

    id: int
    connector: str
    object_type: str
    object_id: str
    payload: Mapping[str, Any]
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one plan made of one event: a change, a filter drop, or an error."""

    change: Canonical | None
    filtered: bool = False
    error: str | None = None

    def describe(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        return "filtered out" if self.filtered else "mapped"


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class RecordDiff:
    event: StoredEvent
    before: Outcome | None  # None: no mapping in force for this source
    after: Outcome
    changes: tuple[FieldChange, ...]

    @property
    def changed(self) -> bool:
        if self.changes:
            return True
        if self.before is None:
            return True
        return self.before.describe() != self.after.describe() or _key(self.before) != _key(self.after)


def _key(outcome: Outcome) -> str | None:
    return outcome.change.key if outcome.change else None


def apply(plan: Plan, event: StoredEvent) -> Outcome:
    record, partial = event_record(event.connector, event.payload)
    try:
        change = plan.inbound(record, partial=partial)
    except MappingRuntimeError as exc:
        return Outcome(None, error=exc.problem)
    return Outcome(change, filtered=change is None)


def shadow_diff(edited: Plan, current: Plan | None, events: Iterable[StoredEvent]) -> list[RecordDiff]:
    """One ``RecordDiff`` per event: the fields whose values differ between the two plans."""
    diffs = []
    for event in events:
        after = apply(edited, event)
        before = apply(current, event) if current is not None else None
        old = before.change.fields if before and before.change else {}
        new = after.change.fields if after.change else {}
        # an edit that drops or breaks the record is shown by its outcome alone
        changes = (
            tuple(
                FieldChange(name, old.get(name), new.get(name))
                for name in dict.fromkeys([*old, *new])
                if name not in old or name not in new or old[name] != new[name]
            )
            if after.change is not None
            else ()
        )
        diffs.append(RecordDiff(event, before, after, changes))
    return diffs
