"""The durable work state machine shared by inbox events and outbox items.

SQL holds the truth; Redis only carries pointers. ``next_attempt_at`` always says when the
reconciler should look at a row next: the retry time of a ``retrying`` row, the lease end of a
``processing`` row, the re-enqueue time of a ``received``/``pending`` row. A worker claims a row
(taking a lease), does the work in one transaction and finishes it *fenced* on the attempt
number it claimed, so a worker whose lease expired can never commit over a newer attempt.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.orm import Session

from connectors.errors import HubError, RetriableError
from hub.pipeline.models import InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import rowcount, utcnow

Row = TypeVar("Row", InboxEvent, OutboxItem)
Model = type[InboxEvent] | type[OutboxItem]


def initial_state(model: Model) -> str:
    return WorkState.RECEIVED if model is InboxEvent else WorkState.PENDING


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float
    max_s: float
    max_attempts: int

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter; never sooner than the provider's Retry-After."""
        ceiling = min(self.max_s, self.base_s * (2 ** max(0, attempt - 1)))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_s))
        return float(delay)


@dataclass(frozen=True)
class Claim:
    id: int
    attempt: int


def claim(session: Session, model: Model, row_id: int, *, lease_s: float) -> Claim | None:
    """Take a lease on a row that is waiting or whose lease ran out. ``None``: someone else has
    it, or it is finished."""
    now = utcnow()
    waiting = model.state.in_((WorkState.RECEIVED, WorkState.PENDING))
    lease_over = and_(model.state == WorkState.PROCESSING, model.next_attempt_at <= now)
    result = session.execute(
        update(model)
        .where(model.id == row_id, or_(waiting, lease_over))
        .values(
            state=WorkState.PROCESSING,
            attempts=model.attempts + 1,
            next_attempt_at=now + timedelta(seconds=lease_s),
        )
        .returning(model.attempts)
    )
    attempt = result.scalar_one_or_none()
    return None if attempt is None else Claim(row_id, attempt)


def _fenced(model: Model, c: Claim):  # type: ignore[no-untyped-def]
    return update(model).where(model.id == c.id, model.state == WorkState.PROCESSING, model.attempts == c.attempt)


def finish(session: Session, model: Model, c: Claim, *, outcome: str | None = None) -> bool:
    """Mark done in the caller's transaction. False: the lease was lost; roll back the work."""
    values: dict[str, object] = {"state": WorkState.DONE, "finished_at": utcnow()}
    if model is InboxEvent and outcome is not None:
        values["outcome"] = outcome
    return rowcount(session.execute(_fenced(model, c).values(**values))) == 1


@dataclass(frozen=True)
class Failure:
    kind: str
    message: str
    traceback: str
    retriable: bool
    retry_after: float | None


def describe(exc: BaseException) -> Failure:
    """What went wrong and whether trying again can help (see the error classes in
    ``connectors.errors``). Unclassified exceptions are bugs: they are not retried blindly, they
    dead-letter with their traceback so a person can fix the cause and replay."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-8000:]
    if isinstance(exc, RetriableError):
        return Failure(exc.kind, str(exc), tb, True, exc.retry_after)
    if isinstance(exc, HubError):
        return Failure(exc.kind, str(exc), tb, False, None)
    if isinstance(exc, (OperationalError, TimeoutError, ConnectionError)):
        return Failure("retriable", f"{type(exc).__name__}: {exc}"[:2000], tb, True, None)
    if isinstance(exc, IntegrityError):
        # two workers creating the same record at once (two events of one new CRM object): the
        # loser rolled back, and its next attempt finds the winner's row. A unique clash that is
        # a bug keeps failing and dead-letters after the retry policy's attempts.
        return Failure("conflict", f"{type(exc).__name__}: {exc}"[:2000], tb, True, None)
    return Failure("bug", f"{type(exc).__name__}: {exc}"[:2000], tb, False, None)


def fail(session: Session, model: Model, c: Claim, failure: Failure, policy: RetryPolicy) -> str | None:
    """Record a failed attempt: ``retrying`` with the next attempt time, or ``dead``. Returns the
    new state, or ``None`` when the lease was lost meanwhile (nothing written)."""
    now = utcnow()
    if failure.retriable and c.attempt < policy.max_attempts:
        state = WorkState.RETRYING
        next_at = now + timedelta(seconds=policy.delay(c.attempt, failure.retry_after))
        finished = None
    else:
        state, next_at, finished = WorkState.DEAD, now, now
    values = {
        "state": state,
        "next_attempt_at": next_at,
        "last_error_kind": failure.kind,
        "last_error": failure.message,
        "last_traceback": failure.traceback,
        "finished_at": finished,
    }
    if rowcount(session.execute(_fenced(model, c).values(**values))) != 1:
        return None
    return state


def park_unknown(session: Session, model: Model, c: Claim, message: str) -> bool:
    """An outbound call that moves money ended with an unknown outcome: never retried blindly."""
    values = {"state": WorkState.UNKNOWN, "last_error_kind": "unknown", "last_error": message}
    return rowcount(session.execute(_fenced(model, c).values(**values))) == 1


def take_due(session: Session, model: Model, *, requeue_after_s: float, limit: int) -> list[int]:
    """Rows whose ``next_attempt_at`` has passed and that are not finished: reset them to
    waiting and push their next look ``requeue_after_s`` ahead. The caller enqueues the ids after
    commit. Safe to run from several processes: each row moves once per pass."""
    now = utcnow()
    due = (
        select(model.id)
        .where(
            model.state.in_((WorkState.RECEIVED, WorkState.PENDING, WorkState.RETRYING, WorkState.PROCESSING)),
            model.next_attempt_at <= now,
        )
        .order_by(model.next_attempt_at)
        .limit(limit)
    )
    ids = list(session.scalars(due))
    if not ids:
        return []
    moved = session.execute(
        update(model)
        .where(model.id.in_(ids), model.next_attempt_at <= now)
        .values(
            state=initial_state(model),
            next_attempt_at=now + timedelta(seconds=requeue_after_s),
        )
        .returning(model.id)
    )
    return sorted(moved.scalars())


def replay(session: Session, model: Model, ids: list[int], *, requeue_after_s: float) -> list[int]:
    """Put finished or dead rows back in line (attempts start again). Rows a worker holds under
    a live lease are left alone."""
    now = utcnow()
    result = session.execute(
        update(model)
        .where(
            model.id.in_(ids),
            or_(model.state != WorkState.PROCESSING, model.next_attempt_at <= now),
        )
        .values(
            state=initial_state(model),
            attempts=0,
            next_attempt_at=now + timedelta(seconds=requeue_after_s),
            finished_at=None,
        )
        .returning(model.id)
    )
    return sorted(result.scalars())


def replay_selection(
    model: Model,
    *,
    ids: list[int] | None = None,
    dead: bool = False,
    connector: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[int]:
    """The ids ``partnerhub replay`` and the console's replay pick: by id, dead letters,
    connector, and a received (inbox) or created (outbox) time range; the filters combine."""
    stamp = OutboxItem.created_at if model is OutboxItem else InboxEvent.received_at
    query = select(model.id)
    if ids:
        query = query.where(model.id.in_(ids))
    if dead:
        query = query.where(model.state == WorkState.DEAD)
    if connector:
        query = query.where(model.connector == connector)
    if since:
        query = query.where(stamp >= since)
    if until:
        query = query.where(stamp <= until)
    return query


def replay_selected(
    session: Session, model: Model, query: Select[int], *, requeue_after_s: float
) -> tuple[int, list[int]]:
    """Replay what ``query`` (from :func:`replay_selection`) selects: (how many it selected, the
    ids put back in line). The caller owes the moved ids to the queue after its commit."""
    selected = list(session.scalars(query))
    return len(selected), replay(session, model, selected, requeue_after_s=requeue_after_s)
