"""The functions RQ workers run. Each takes a row id and drives that row through ``hub.work``.

A job never raises for a failure of the work itself: the outcome (done, retrying, dead) is
written to the row, and dead letters raise an alert. Only a crash of the process (or the database
being unreachable) leaves the row ``processing``, to be re-run when its lease ends.
"""

from __future__ import annotations

import structlog

from connectors.base import AuthenticationFailed
from hub import metrics, work
from hub.alerts import raise_alert
from hub.context import Hub, current
from hub.engine import HubEngine
from hub.models import InboxEvent, OutboxItem, WorkState, utcnow
from hub.outbox import carry_out

log = structlog.get_logger(__name__)


def process_inbox_event(event_id: int) -> str | None:
    hub = current()
    return run_inbox_event(hub, event_id)


def run_inbox_event(hub: Hub, event_id: int) -> str | None:
    with hub.sessions() as session, session.begin():
        claim = work.claim(session, InboxEvent, event_id, lease_s=hub.settings.worker.lease_s)
    if claim is None:
        return None  # finished, or another worker holds it
    engine = HubEngine(hub)
    try:
        with hub.sessions() as session, session.begin():
            event = session.get(InboxEvent, event_id)
            assert event is not None
            connector = event.connector
            received_at = event.received_at
            outcome = engine.process(session, event)
            if not work.finish(session, InboxEvent, claim, outcome=outcome):
                session.rollback()
                log.warning("lease lost; work rolled back", inbox_id=event_id)
                return None
    except Exception as exc:  # noqa: BLE001 - classified and recorded below
        return _record_failure(hub, InboxEvent, claim, exc)
    latency = (utcnow() - received_at).total_seconds()
    pipe = hub.redis.pipeline(transaction=False)
    metrics.incr(pipe, "events_processed", {"connector": connector, "outcome": outcome})
    metrics.observe(pipe, "processing_latency_seconds", {"connector": connector}, latency)
    _safe_execute(pipe)
    return WorkState.DONE


def dispatch_outbox_item(item_id: int) -> str | None:
    hub = current()
    return run_outbox_item(hub, item_id)


def run_outbox_item(hub: Hub, item_id: int) -> str | None:
    with hub.sessions() as session, session.begin():
        claim = work.claim(session, OutboxItem, item_id, lease_s=hub.settings.worker.lease_s)
    if claim is None:
        return None
    try:
        with hub.sessions() as session, session.begin():
            item = session.get(OutboxItem, item_id)
            assert item is not None
            item.result = carry_out(hub, item)
            if not work.finish(session, OutboxItem, claim):
                session.rollback()
                return None
    except Exception as exc:  # noqa: BLE001
        return _record_failure(hub, OutboxItem, claim, exc)
    return WorkState.DONE


def _record_failure(hub: Hub, model: work.Model, claim: work.Claim, exc: BaseException) -> str | None:
    failure = work.describe(exc)
    with hub.sessions() as session, session.begin():
        row = session.get(model, claim.id)
        source = row.connector if row is not None else "unknown"
        state = work.fail(session, model, claim, failure, hub.retry_policy)
        if state == WorkState.DEAD:
            table = "inbox" if model is InboxEvent else "outbox"
            raise_alert(
                session,
                key=f"dead_letter:{table}:{source}:{failure.kind}",
                kind="dead_letter",
                message=f"{table} #{claim.id} ({source}) is dead after {claim.attempt} attempt(s): "
                f"{failure.message}",
            )
        if isinstance(exc, AuthenticationFailed):
            raise_alert(
                session,
                key=f"connector_auth:{source}",
                kind="connector",
                message=f"{source} refused the hub's credentials: {failure.message}",
            )
    log.warning(
        "work failed", table=model.__tablename__, id=claim.id, state=state, kind=failure.kind,
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
    except Exception as exc:  # noqa: BLE001
        log.warning("metrics not recorded", error=str(exc))
