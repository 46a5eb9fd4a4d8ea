"""The reconciler: SQL, not Redis, is the source of truth for due work.

``reconcile_once`` re-enqueues each inbox and outbox row that is due and not done (received or
pending and not picked up, processing past its lease, retrying with its time come), so a flushed
Redis, a crash between commit and enqueue or a killed worker loses nothing; and it closes
dead-letter alerts once nothing dead is left behind them. The scheduler (``hub.runtime.scheduler``)
runs it every ``PARTNERHUB_WORKER__RECONCILE_INTERVAL_S`` and once when a worker starts.
"""

from __future__ import annotations

from sqlalchemy import func, select

from hub.pipeline import queue, work
from hub.pipeline.context import PipelineContext
from hub.pipeline.models import Alert, InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import utcnow

BATCH = 500


def reconcile_once(hub: PipelineContext) -> dict[str, int]:
    """One pass: move due rows back in line and enqueue them. Returns counts per queue."""
    requeue_after = hub.settings.worker.requeue_after_s
    counts = {}
    for kind, model in ((queue.INBOX, InboxEvent), (queue.OUTBOX, OutboxItem)):
        total = 0
        while True:
            with hub.sessions() as session, session.begin():
                ids = work.take_due(session, model, requeue_after_s=requeue_after, limit=BATCH)
            if ids:
                pipe = hub.redis.pipeline(transaction=False)
                queue.enqueue(hub.redis, hub.settings.queue_prefix, kind, ids, pipeline=pipe)
                pipe.execute()
            total += len(ids)
            if len(ids) < BATCH:
                break
        counts[kind] = total
    _close_cleared_dead_letter_alerts(hub)
    return counts


def requeue_expired(hub: PipelineContext) -> int:
    """Re-enqueue the rows whose worker stopped renewing its lease (killed, machine lost).
    Every worker runs this on its lease heartbeat, so a dead worker's rows are re-run a lease
    after it died, whichever process holds the scheduler lock (or none)."""
    total = 0
    for kind, model in ((queue.INBOX, InboxEvent), (queue.OUTBOX, OutboxItem)):
        with hub.sessions() as session, session.begin():
            ids = work.take_due(
                session,
                model,
                requeue_after_s=hub.settings.worker.requeue_after_s,
                limit=BATCH,
                states=(WorkState.PROCESSING,),
            )
        if ids:
            queue.enqueue(hub.redis, hub.settings.queue_prefix, kind, ids)
        total += len(ids)
    return total


def _close_cleared_dead_letter_alerts(hub: PipelineContext) -> None:
    """Close alerts about dead rows once no such row is left (replayed, or fixed and replayed)."""
    with hub.sessions() as session, session.begin():
        alerts = list(
            session.scalars(
                select(Alert).where(Alert.kind.in_(("dead_letter", "mapping_unknown_value")), Alert.state == "open")
            )
        )
        for alert in alerts:
            if alert.kind == "dead_letter":
                # key: dead_letter:<inbox|outbox>:<connector>:<error kind>
                _, table, source, kind = alert.key.split(":", 3)
                model = InboxEvent if table == "inbox" else OutboxItem
                where = [model.connector == source, model.last_error_kind == kind]
            else:
                model, where = InboxEvent, [InboxEvent.last_error_kind == alert.kind]
            left = session.scalar(select(func.count()).select_from(model).where(model.state == WorkState.DEAD, *where))
            if not left:
                alert.state = "resolved"
                alert.resolved_at = utcnow()
