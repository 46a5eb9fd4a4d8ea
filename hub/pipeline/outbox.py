"""The outbox: effects owed to providers (emails, CRM writes, transfers), written in the same
transaction as the state change that caused them and carried out by RQ jobs.

Each row has a natural key under a unique constraint, so an effect is owed once however often its
cause is processed, and an idempotency key the connector passes to the provider where the
provider offers one. Actions are connector methods named for what they do; a connector lists the
ones the outbox may call in ``actions``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from connectors.capabilities import RunsOutboxActions
from connectors.errors import ConfigurationError
from hub.pipeline import batches
from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.models import OutboxItem, WorkState
from hub.pipeline.store import utcnow
from hub.pipeline.unit_of_work import OWED, OWED_FIRST, OWED_INBOX, enqueue_owed  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from hub.pipeline.context import PipelineContext


def owe(
    session: Session,
    *,
    natural_key: str,
    connector: str,
    action: str,
    payload: Mapping[str, Any],
    idempotency_key: str | None = None,
    inbox_event_id: int | None = None,
    requeue_after_s: float = 0.0,
    first: bool = False,
) -> int | None:
    """Write an outbox row in the caller's transaction. Returns its id, or ``None`` when the
    effect was already owed (same natural key). The id is also listed in ``session.info[OWED]``
    for the caller to enqueue after commit (``unit_of_work``); if that is lost, the reconciler
    finds the row by ``next_attempt_at``. ``first``: enqueued at the front of the outbox queue,
    ahead of any backlog (``session.info[OWED_FIRST]``), for mail a person is waiting for."""
    now = utcnow()
    ids = insert_ignoring_conflicts(
        session,
        OutboxItem,
        [
            {
                "natural_key": natural_key,
                "connector": connector,
                "action": action,
                "payload": dict(payload),
                "idempotency_key": idempotency_key or natural_key,
                "state": WorkState.PENDING,
                "attempts": 0,
                "next_attempt_at": now + timedelta(seconds=requeue_after_s),
                "created_at": now,
                "inbox_event_id": inbox_event_id,
            }
        ],
        ("natural_key",),
    )
    if not ids:
        return None
    session.info.setdefault(OWED_FIRST if first else OWED, []).append(ids[0])
    return ids[0]


#: a send-time step: (session, the item, its payload) -> the payload the connector gets. The row
#: keeps the payload it was owed with; what the step adds (a sign-in link) is never stored.
Preparer = Callable[[Session, OutboxItem, dict[str, Any]], dict[str, Any]]


def owe_record_write(
    session: Session,
    *,
    natural_key: str,
    connector: str,
    object_type: str,
    key: str,
    record: Mapping[str, Any],
    sync: Mapping[str, Any] | None = None,
    inbox_event_id: int | None = None,
) -> int | None:
    """Owe one CRM record write (``record``: the mapping's outbound output, naming the record by
    ``key``, the object id or a unique external-id field). The dispatcher writes it together with
    the other pending writes of the same object (``hub.pipeline.batches``). ``sync``: what the
    domain's follow-up needs to know of it (the hub record and fields it carries)."""
    payload: dict[str, Any] = {"object": object_type, "key": key, "record": dict(record)}
    if sync is not None:
        payload["sync"] = dict(sync)
    return owe(
        session,
        natural_key=natural_key,
        connector=connector,
        action=batches.WRITE_RECORD,
        payload=payload,
        inbox_event_id=inbox_event_id,
    )


def carry_out(
    hub: PipelineContext,
    item: OutboxItem,
    *,
    session: Session | None = None,
    preparers: Mapping[str, Preparer] | None = None,
) -> dict[str, Any]:
    """Call the connector action the row names; its return value is stored as the result. A
    preparer for the action (the domain's table, ``hub.program.handlers.outbox_preparers``)
    turns the stored payload into the one sent, in memory only."""
    connector = hub.connectors.get(item.connector)
    if connector is None:
        raise ConfigurationError(f"outbox #{item.id}: unknown connector {item.connector!r}")
    group = batches.group_of(item.connector, item.action, item.payload)
    if group is not None:  # a record write on its own: a batch of one
        outcome = batches.write(connector, group, [(item.id, item.payload)])[item.id]
        if isinstance(outcome, BaseException):
            raise outcome
        return dict(outcome)
    table = connector.outbox_actions() if isinstance(connector, RunsOutboxActions) else {}
    method = table.get(item.action)
    if method is None:
        raise ConfigurationError(f"outbox #{item.id}: {item.connector} has no outbox action {item.action!r}")
    payload = dict(item.payload)
    prepare = (preparers or {}).get(item.action)
    if prepare is not None and session is not None:
        payload = prepare(session, item, payload)
    result = method(payload, idempotency_key=item.idempotency_key)
    return dict(result or {})
