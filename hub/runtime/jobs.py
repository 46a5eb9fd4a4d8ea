"""The functions RQ workers run. Each takes a row id and drives that row through
``hub.pipeline.work``.

They are entry points, like the CLI commands: each takes the process's ``Hub`` (``current()``,
opened by the worker) and hands the layers below what they need: the hub as their narrow context,
and the domain's handler tables (``hub.program.handlers``) to the engine and the outbox.

A job never raises for a failure of the work itself: the outcome (done, retrying, dead) is
written to the row, and dead letters raise an alert. Only a crash of the process (or the database
being unreachable) leaves the row ``processing``, to be re-run when its lease ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.orm import Session

from connectors.errors import AuthenticationFailed, OutcomeUnknown
from hub.pipeline import batches, metrics, work
from hub.pipeline.alerts import raise_alert
from hub.pipeline.effects import FollowUp, on_done
from hub.pipeline.engine import HubEngine
from hub.pipeline.models import InboxEvent, OutboxItem, WorkState
from hub.pipeline.outbox import carry_out
from hub.pipeline.store import utcnow
from hub.pipeline.unit_of_work import unit_of_work
from hub.program.handlers import inbox_handlers, outbox_follow_ups, outbox_preparers
from hub.runtime.context import Hub, current
from hub.runtime.web_secret import public_base_url, web_secret

log = structlog.get_logger(__name__)


def process_inbox_events(event_ids: list[int]) -> list[str | None]:
    hub = current()
    engine = HubEngine(hub, inbox_handlers(hub))
    with hub.sessions() as session:
        engine.read_ahead(session, event_ids)
    return [run_inbox_event(hub, event_id, engine=engine) for event_id in event_ids]


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


def run_inbox_event(hub: Hub, event_id: int, *, engine: HubEngine | None = None) -> str | None:
    engine = engine or HubEngine(hub, inbox_handlers(hub))
    seen: dict[str, Any] = {}

    def apply(session: Session, event: InboxEvent) -> str:
        seen.update(connector=event.connector, received_at=event.received_at)
        return engine.process(session, event)

    state, outcome = _run(hub, InboxEvent, event_id, apply)
    if state == WorkState.DONE:
        latency = (utcnow() - seen["received_at"]).total_seconds()
        pipe = hub.redis.pipeline(transaction=False)
        metrics.incr(pipe, "events_processed", {"connector": seen["connector"], "outcome": str(outcome)})
        metrics.observe(pipe, "processing_latency_seconds", {"connector": seen["connector"]}, latency)
        if outcome == "echo":
            metrics.incr(pipe, "echoes_dropped", {"connector": seen["connector"]})
        _safe_execute(pipe)
    return state


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
    outcomes = batches.write(connector, group, [(c.id, payload) for c, payload in claims])
    failed: list[tuple[work.Claim, BaseException]] = []
    try:
        with unit_of_work(hub) as session:
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
    return states


class _LeaseLost(Exception):
    """A row's lease ran out while its batch was written: its savepoint is rolled back."""


def _run(hub: Hub, model: Any, row_id: int, apply: Callable[[Session, Any], Any]) -> tuple[str | None, Any]:
    """Claim the row, apply the work and mark it done in one transaction fenced on the claim;
    a failure is classified and recorded. Returns (new state or None, what ``apply`` returned)."""
    with hub.sessions() as session, session.begin():
        claim = work.claim(session, model, row_id, lease_s=hub.settings.worker.lease_s)
    if claim is None:
        return None, None  # finished, or another worker holds it
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
    return WorkState.DONE, outcome


def _record_failure(hub: Hub, model: work.Model, claim: work.Claim, exc: BaseException) -> str | None:
    failure = work.describe(exc)
    with hub.sessions() as session, session.begin():
        row = session.get(model, claim.id)
        source = row.connector if isinstance(row, (InboxEvent, OutboxItem)) else "unknown"
        if isinstance(exc, OutcomeUnknown) and model is OutboxItem:
            parked = work.park_unknown(session, model, claim, failure.message)
            state: str | None = WorkState.UNKNOWN if parked else None
            if parked:
                raise_alert(
                    session,
                    key=f"outcome_unknown:outbox:{claim.id}",
                    kind="outcome_unknown",
                    message=f"outbox #{claim.id} ({source}): {failure.message}. Check the provider; "
                    f"replay with `partnerhub replay --outbox --id {claim.id}` only if it did not happen.",
                )
        else:
            state = work.fail(session, model, claim, failure, hub.retry_policy)
        if state == WorkState.DEAD:
            table = "inbox" if model is InboxEvent else "outbox"
            raise_alert(
                session,
                key=f"dead_letter:{table}:{source}:{failure.kind}",
                kind="dead_letter",
                message=f"{table} #{claim.id} ({source}) is dead after {claim.attempt} attempt(s): {failure.message}",
            )
        alert_key = getattr(exc, "alert_key", None)  # e.g. a stage the value map does not know
        if alert_key:
            raise_alert(
                session,
                key=alert_key,
                kind=failure.kind,
                message=f"{failure.message} (inbox #{claim.id} waits as a dead letter)"
                if model is InboxEvent
                else failure.message,
            )
        if isinstance(exc, AuthenticationFailed):
            raise_alert(
                session,
                key=f"connector_auth:{source}",
                kind="connector",
                message=f"{source} refused the hub's credentials: {failure.message}",
            )
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
