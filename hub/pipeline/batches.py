"""Outbox batches: CRM record writes coalesced into the connector's batch call.

A record write (``outbox.WRITE_RECORD``; payload ``{"object", "key", "record"}``, the record in
the provider's shape as the mapping's ``outbound`` gives it) is carried out through the
connector's ``upsert_many`` (``connectors.capabilities.WritesInBatches``). The dispatcher does not
write such rows one by one: it claims the pending rows of one group — same connector, object and
key — up to the connector's ``write_batch_size`` (HubSpot 100, Salesforce 200, Pipedrive 1) and
writes them with one call. Each row keeps its own outcome:

- a record the provider refuses (a ``WriteResult`` with an error) fails that row only: a dead
  letter of kind ``fatal`` naming the provider's message;
- a batch the provider refuses as a whole with a non-retriable error (HubSpot answers 400 for a
  whole batch when one property value is invalid) is split in halves, and the halves written
  again, until the refused record is alone: it fails, the others are written;
- a retriable failure (429 with Retry-After, 5xx, a timeout) fails every row of that call, each
  backing off under the retry policy; so does an answer lost on the way back (``OutcomeUnknown``)
  for records written by their key, since writing them again is safe. The key (the object id, or
  a unique external-id property) makes a retried batch write each record once, not again beside
  it;
- rows writing the same record are merged in row order (the newest value of a field wins) into
  one input, and share its result.

A batch is worth waiting for: while fewer rows than a call takes are waiting, they wait until no
new one has come for ``PARTNERHUB_WORKER__WRITE_LINGER_S`` (2 s) and the connector's inbox has
no event left to process, and at most ``PARTNERHUB_WORKER__WRITE_MAX_WAIT_S`` (30 s) (see
``claim``); a burst of deal changes then leaves in full calls, not one small call per processed
job, even when one chunk of the drain takes longer than the linger.

Claims skip rows another worker holds (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
writer), so two dispatchers never wait on each other's rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.capabilities import WritesInBatches
from connectors.errors import (
    AuthenticationFailed,
    ConfigurationError,
    FatalError,
    OutcomeUnknown,
    RetriableError,
)
from connectors.values import WriteResult
from hub.pipeline import work
from hub.pipeline.models import InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import utcnow

#: the outbox action of one record write, carried out through ``upsert_many``
WRITE_RECORD = "write_record"


@dataclass(frozen=True, slots=True)
class Group:
    """The rows one ``upsert_many`` call can write together."""

    connector: str
    object: str
    key: str


def group_of(connector: str, action: str, payload: Mapping[str, Any] | None) -> Group | None:
    """The group of a record-write row; ``None`` for any other action (or a malformed payload,
    which the single-row path dead-letters with its reason)."""
    if action != WRITE_RECORD or not isinstance(payload, Mapping):
        return None
    obj, key, record = payload.get("object"), payload.get("key"), payload.get("record")
    if not isinstance(obj, str) or not isinstance(key, str) or not isinstance(record, Mapping):
        return None
    return Group(connector, obj, key)


def groups_of(session: Session, item_ids: Sequence[int]) -> dict[int, Group]:
    """The record-write rows among ``item_ids`` that are waiting, with their groups."""
    rows = session.execute(
        select(OutboxItem.id, OutboxItem.connector, OutboxItem.action, OutboxItem.payload).where(
            OutboxItem.id.in_(list(item_ids)), OutboxItem.action == WRITE_RECORD
        )
    ).all()
    found = {row_id: group_of(connector, action, payload) for row_id, connector, action, payload in rows}
    return {row_id: group for row_id, group in found.items() if group is not None}


def batch_size(connector: object) -> int:
    """How many rows one call writes for this connector (1 without a batch write)."""
    if isinstance(connector, WritesInBatches):
        return max(1, int(connector.write_batch_size))
    return 1


def claim(
    session: Session,
    group: Group,
    first: Sequence[int],
    *,
    size: int,
    lease_s: float,
    linger_s: float = 0.0,
    max_wait_s: float = 0.0,
) -> tuple[list[tuple[work.Claim, dict[str, Any]]], list[int]]:
    """In the caller's transaction, claim up to ``size`` waiting rows of ``group``: ``first``
    (the rows of the job at hand) before any other. Returns (the claims with their payloads,
    the ids of ``first`` this call settles without claiming them: done, held by another worker,
    or left to linger).

    Lingering: while fewer than ``size`` rows wait, the oldest has waited less than
    ``max_wait_s``, and more are coming — the newest came less than ``linger_s`` ago, or the
    connector's inbox still holds events to process (``inbound_pending``: a burst of deal changes
    is being drained, however long a chunk takes) — nothing is claimed; the waiting rows' next
    look (``next_attempt_at``) is set to when the linger or the max wait ends, and the reconciler
    enqueues them then, with whatever else arrived meanwhile."""
    waiting = OutboxItem.state == WorkState.PENDING
    columns = (OutboxItem.id, OutboxItem.connector, OutboxItem.action, OutboxItem.payload, OutboxItem.created_at)
    mine = session.execute(
        select(*columns)
        .where(OutboxItem.id.in_(list(first)), waiting)
        .order_by(OutboxItem.id)
        .with_for_update(skip_locked=True)
    ).all()
    candidates = [(r.id, r.payload, r.created_at) for r in mine if group_of(r.connector, r.action, r.payload) == group]
    if len(candidates) < size:
        others = session.execute(
            select(*columns)
            .where(
                OutboxItem.connector == group.connector,
                OutboxItem.action == WRITE_RECORD,
                waiting,
                OutboxItem.id.not_in(list(first)),
            )
            .order_by(OutboxItem.id)
            .limit(size * 2)
            .with_for_update(skip_locked=True)
        ).all()
        candidates += [
            (r.id, r.payload, r.created_at) for r in others if group_of(r.connector, r.action, r.payload) == group
        ]
    settled = set(first) - {row_id for row_id, _, _ in candidates}
    if candidates and len(candidates) < size and linger_s > 0:
        stamps = [created for _, _, created in candidates]
        now = utcnow()
        deadline = min(stamps) + timedelta(seconds=max(linger_s, max_wait_s))
        quiet_at = max(stamps) + timedelta(seconds=linger_s)
        if quiet_at <= now < deadline and inbound_pending(session, group.connector):
            # the drain paused longer than the linger (a long chunk, a loaded machine), but
            # the connector's inbox still holds events whose processing may owe more writes
            quiet_at = now + timedelta(seconds=linger_s)
        ready_at = min(quiet_at, deadline)
        if ready_at > now:
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_([row_id for row_id, _, _ in candidates]), waiting)
                .values(next_attempt_at=ready_at)
            )
            return [], sorted(set(first))
    claims: list[tuple[work.Claim, dict[str, Any]]] = []
    for row_id, payload, _ in candidates[:size]:
        taken = work.claim(session, OutboxItem, row_id, lease_s=lease_s)
        if taken is not None:
            claims.append((taken, dict(payload)))
        elif row_id in first:
            settled.add(row_id)
    return claims, sorted(settled - {c.id for c, _ in claims})


def inbound_pending(session: Session, connector: str) -> bool:
    """Whether ``connector``'s inbox still holds events waiting for a worker or being processed
    (not those backing off after a failure): a drain under way, which may owe more record
    writes."""
    found = session.execute(
        select(InboxEvent.id)
        .where(
            InboxEvent.state.in_((WorkState.RECEIVED, WorkState.PROCESSING)),
            InboxEvent.connector == connector,
        )
        .limit(1)
    ).first()
    return found is not None


def write(connector: object, group: Group, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> dict[int, Any]:
    """Write the rows' records (outside any transaction); for each row id its result (the dict
    stored on the row: ``id``, ``created``, ``written``) or the exception it failed with."""
    if not isinstance(connector, WritesInBatches):
        error = ConfigurationError(f"{group.connector} cannot write records in batches (no upsert_many)")
        return {row_id: error for row_id, _ in rows}
    # rows writing the same record become one input, merged in row order
    inputs: list[dict[str, Any]] = []
    rows_of: list[list[int]] = []
    slot_of: dict[str, int] = {}
    for row_id, payload in sorted(rows, key=lambda r: r[0]):
        record = payload["record"]
        value = _key_value(record, group.key)
        slot = slot_of.get(value) if value else None
        if slot is None:
            slot = len(inputs)
            inputs.append(_copy(record))
            rows_of.append([])
            if value:
                slot_of[value] = slot
        else:
            inputs[slot] = _merged(inputs[slot], record)
        rows_of[slot].append(row_id)
    answers = _call(connector, group, inputs, by_key=group.key)
    out: dict[int, Any] = {}
    for slot, answer in enumerate(answers):
        result = _row_result(group, answer) if isinstance(answer, WriteResult) else answer
        for row_id in rows_of[slot]:
            out[row_id] = result
    return out


def _call(
    connector: WritesInBatches, group: Group, records: list[dict[str, Any]], *, by_key: str
) -> list[WriteResult | BaseException]:
    """One ``upsert_many`` call; a whole-batch refusal is split until it names one record."""
    try:
        return list(connector.upsert_many(group.object, records, key=by_key))
    except OutcomeUnknown as exc:
        if all(_key_value(r, by_key) for r in records):  # written by key: safe to write again
            return [RetriableError(f"{group.connector}: {exc} (written again by {by_key})") for _ in records]
        return [exc for _ in records]
    except (AuthenticationFailed, ConfigurationError, RetriableError) as exc:
        return [exc for _ in records]
    except FatalError as exc:
        if len(records) == 1:
            return [exc]
        half = len(records) // 2
        return _call(connector, group, records[:half], by_key=by_key) + _call(
            connector, group, records[half:], by_key=by_key
        )
    except Exception as exc:  # a bug, or the network: classified per row by ``work.describe``
        return [exc for _ in records]


def _row_result(group: Group, result: WriteResult) -> dict[str, Any] | BaseException:
    if result.error is not None:
        message = f"{group.connector} refused the {group.object} record {result.key or '(new)'}: {result.error}"
        if "UNABLE_TO_LOCK_ROW" in result.error:  # Salesforce: another write held the record
            return RetriableError(message)
        return FatalError(message)
    object_id = str(result.id) if result.id is not None else None
    return {
        "id": object_id,
        "written": {group.object: {object_id: dict(result.written)}} if object_id and result.written else {},
        "created": {group.object: [object_id]} if result.created and object_id else {},
    }


def _key_value(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value in (None, ""):
        nested = record.get("properties")
        value = nested.get(key) if isinstance(nested, Mapping) else None
    return None if value in (None, "") else str(value)


def _copy(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in record.items()}


def _merged(into: dict[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """``record``'s fields over ``into``'s, one level of nesting deep (HubSpot's ``properties``,
    Pipedrive's ``custom_fields``)."""
    out = _copy(into)
    for name, value in record.items():
        if isinstance(value, Mapping) and isinstance(out.get(name), dict):
            out[name].update(value)
        else:
            out[name] = dict(value) if isinstance(value, Mapping) else value
    return out
