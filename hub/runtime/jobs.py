"""The functions RQ workers run. Each takes a list of row ids and drives those rows through
``hub.pipeline.work`` (inbox events a chunk at a time, ``hub.pipeline.chunks``).

They are entry points, like the CLI commands: each takes the process's ``Hub`` (``current()``,
opened by the worker) and hands the layers below what they need: the hub as their narrow context,
and the domain's handler tables (``hub.program.handlers``) to the engine and the outbox.

A job never raises for a failure of the work itself: the outcome (done, retrying, dead) is
written to the row, and dead letters raise an alert. Only a crash of the process (or the database
being unreachable) leaves the row ``processing``, to be re-run when its lease ends: leases are
short and renewed by the process's heartbeat (``work.Leases``) while the job runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.orm import Session

from hub.pipeline import batches, metrics, work
from hub.pipeline.chunks import ChunkRunner
from hub.pipeline.effects import FollowUp, on_done
from hub.pipeline.engine import HubEngine
from hub.pipeline.models import InboxEvent, OutboxItem, WorkState
from hub.pipeline.outbox import carry_out
from hub.pipeline.reconciler import requeue_expired
from hub.pipeline.store import begin_writing
from hub.pipeline.unit_of_work import unit_of_work
from hub.program.handlers import inbox_handlers, outbox_follow_ups, outbox_preparers
from hub.runtime.context import Hub, current
from hub.runtime.web_secret import public_base_url, web_secret

log = structlog.get_logger(__name__)


def process_inbox_events(event_ids: list[int]) -> list[str | None]:
    """A job's inbox events, claimed and applied a chunk at a time (``hub.pipeline.chunks``)."""
    states = _runner(current()).run(event_ids)
    return [states.get(event_id) for event_id in event_ids]


def dispatch_outbox_items(item_ids: list[int]) -> list[str | None]:
    """Carry out these outbox rows: CRM record writes coalesced with the other pending writes of
    their group into batch calls (``hub.pipeline.batches``), every other action one by one."""
    hub = current()
    follow_ups = outbox_follow_ups(hub)
    with hub.sessions() as session:
        groups = batches.groups_of(session, item_ids)
    states: dict[int, str | None] = {}
    for item_id in item_ids:
        if item_id in states:
            continue
        group = groups.get(item_id)
        if group is None:
            states[item_id] = run_outbox_item(hub, item_id, follow_ups=follow_ups)
            continue
        # each round settles at least one row of the group: bounded by the job's ids
        for _ in range(len(item_ids)):
            left = [i for i in item_ids if groups.get(i) == group and i not in states]
            if not left:
                break
            states.update(run_outbox_batch(hub, group, left, follow_ups=follow_ups))
    return [states.get(item_id) for item_id in item_ids]


#: this process's chunk runner and lease heartbeat, per hub (a worker process opens one hub)
_RUNNERS: dict[int, tuple[Hub, ChunkRunner]] = {}


def _runner(hub: Hub) -> ChunkRunner:
    found = _RUNNERS.get(id(hub))
    if found is None or found[0] is not hub:
        found = (hub, ChunkRunner(hub, HubEngine(hub, inbox_handlers(hub)), leases(hub)))
        _RUNNERS[id(hub)] = found
    return found[1]


_LEASES: dict[int, tuple[Hub, work.Leases]] = {}


def leases(hub: Hub) -> work.Leases:
    """The process's lease heartbeat for ``hub`` (``work.Leases``); each beat also re-enqueues
    the rows of workers that stopped renewing theirs (``reconciler.requeue_expired``)."""
    found = _LEASES.get(id(hub))
    if found is None or found[0] is not hub:
        found = (hub, work.Leases(hub.sessions, hub.settings.worker.lease_s, on_beat=lambda: requeue_expired(hub)))
        _LEASES[id(hub)] = found
    return found[1]


def run_outbox_item(hub: Hub, item_id: int, *, follow_ups: dict[str, FollowUp] | None = None) -> str | None:
    follow_ups = follow_ups if follow_ups is not None else outbox_follow_ups(hub)
    preparers = outbox_preparers(lambda: web_secret(hub.settings), lambda: public_base_url(hub.settings))

    def apply(session: Session, item: OutboxItem) -> None:
        item.result = carry_out(hub, item, session=session, preparers=preparers)
        on_done(session, item, follow_ups)  # in the same fenced transaction as "done"

    return _run(hub, OutboxItem, item_id, apply)[0]


def run_outbox_batch(
    hub: Hub, group: batches.Group, item_ids: list[int], *, follow_ups: dict[str, FollowUp] | None = None
) -> dict[int, str | None]:
    """One batch of record writes: claim ``item_ids`` (then other pending rows of ``group``) up
    to the connector's batch size, write them in one call outside any transaction, then mark
    each row done (fenced on its own claim, its follow-up in a savepoint of its own) or record
    its own failure. Returns the state of every row it settled: ``item_ids`` it could not claim
    get ``None``; ids left out for the batch size are not in the answer."""
    follow_ups = follow_ups if follow_ups is not None else outbox_follow_ups(hub)
    connector = hub.connectors.get(group.connector)
    with hub.sessions() as session, session.begin():
        claims, untaken = batches.claim(
            session,
            group,
            item_ids,
            size=batches.batch_size(connector),
            lease_s=hub.settings.worker.lease_s,
            linger_s=hub.settings.worker.write_linger_s,
            max_wait_s=hub.settings.worker.write_max_wait_s,
        )
    states: dict[int, str | None] = dict.fromkeys(untaken)
    if not claims:
        return states
    held = leases(hub)  # the heartbeat keeps the batch's leases however long the call takes
    held.hold(OutboxItem, [c for c, _ in claims])
    try:
        _settle_batch(hub, group, claims, states, follow_ups)
    finally:
        held.release(OutboxItem, [c for c, _ in claims])
    return states


def _settle_batch(
    hub: Hub,
    group: batches.Group,
    claims: list[tuple[work.Claim, Any]],
    states: dict[int, str | None],
    follow_ups: dict[str, FollowUp],
) -> None:
    connector = hub.connectors.get(group.connector)
    outcomes = batches.write(connector, group, [(c.id, payload) for c, payload in claims])
    failed: list[tuple[work.Claim, BaseException]] = []
    try:
        with unit_of_work(hub) as session:
            begin_writing(session)  # SQLite: its savepoints inside one real, writing transaction
            for claim, _ in claims:
                outcome = outcomes[claim.id]
                if isinstance(outcome, BaseException):
                    failed.append((claim, outcome))
                    continue
                try:
                    with session.begin_nested():
                        row = session.get(OutboxItem, claim.id)
                        assert row is not None
                        row.result = outcome
                        on_done(session, row, follow_ups)
                        if not work.finish(session, OutboxItem, claim):
                            raise _LeaseLost
                except _LeaseLost:
                    log.warning("lease lost; work rolled back", table="outbox_items", id=claim.id)
                    states[claim.id] = None
                    continue
                except Exception as follow_up_error:  # this row's own failure, not the batch's
                    failed.append((claim, follow_up_error))
                    continue
                states[claim.id] = WorkState.DONE
    except Exception as commit_error:  # the commit itself: every row marked done fails alike
        failed += [(c, commit_error) for c, _ in claims if states.get(c.id) == WorkState.DONE]
    for claim, error in failed:
        states[claim.id] = _record_failure(hub, OutboxItem, claim, error)


class _LeaseLost(Exception):
    """A row's lease ran out while its batch was written: its savepoint is rolled back."""


def _run(hub: Hub, model: Any, row_id: int, apply: Callable[[Session, Any], Any]) -> tuple[str | None, Any]:
    """Claim the row, apply the work and mark it done in one transaction fenced on the claim;
    a failure is classified and recorded. Returns (new state or None, what ``apply`` returned)."""
    with hub.sessions() as session, session.begin():
        claim = work.claim(session, model, row_id, lease_s=hub.settings.worker.lease_s)
    if claim is None:
        return None, None  # finished, or another worker holds it
    held = leases(hub)
    held.hold(model, [claim])
    try:
        # the effects this work owes are enqueued once it has committed (not if it rolled back)
        with unit_of_work(hub) as session:
            row = session.get(model, row_id)
            assert row is not None
            outcome = apply(session, row)
            if not work.finish(session, model, claim, outcome=outcome):
                session.rollback()
                log.warning("lease lost; work rolled back", table=model.__tablename__, id=row_id)
                return None, None
    except Exception as exc:
        return _record_failure(hub, model, claim, exc), None
    finally:
        held.release(model, [claim])
    return WorkState.DONE, outcome


def _record_failure(hub: Hub, model: work.Model, claim: work.Claim, exc: BaseException) -> str | None:
    with hub.sessions() as session, session.begin():
        row = session.get(model, claim.id)
        source = row.connector if isinstance(row, (InboxEvent, OutboxItem)) else "unknown"
        state, failure = work.record_failure(session, model, claim, exc, source, hub.retry_policy)
    log.warning(
        "work failed",
        table=model.__tablename__,
        id=claim.id,
        state=state,
        kind=failure.kind,
        error=failure.message,
    )
    pipe = hub.redis.pipeline(transaction=False)
    if state == WorkState.DEAD:
        metrics.incr(pipe, "dead_letters", {"source": source, "kind": failure.kind})
    elif state == WorkState.RETRYING:
        metrics.incr(pipe, "events_retried", {"source": source, "kind": failure.kind})
    _safe_execute(pipe)
    return state


def _safe_execute(pipe: object) -> None:
    # metrics must never turn finished work into a failure
    try:
        pipe.execute()  # type: ignore[attr-defined]
    except Exception as exc:
        log.warning("metrics not recorded", error=str(exc))
