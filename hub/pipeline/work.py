"""The durable work state machine shared by inbox events and outbox items.

SQL holds the truth; Redis only carries pointers. ``next_attempt_at`` always says when the
reconciler should look at a row next: the retry time of a ``retrying`` row, the lease end of a
``processing`` row, the re-enqueue time of a ``received``/``pending`` row. A worker claims a row
(taking a lease), does the work in one transaction and finishes it *fenced* on the attempt
number it claimed, so a worker whose lease expired can never commit over a newer attempt.

Leases are short (``PARTNERHUB_WORKER__LEASE_S``, seconds) and a worker renews the ones it holds
while it runs (``Leases``, a heartbeat thread): a worker that dies (SIGKILL, OOM, lost machine)
stops renewing, and its rows are re-run a lease later, not after the longest a job may take.
Inbox events are claimed a chunk at a time (``claim_events``): one statement for the chunk, and
never an event of an object whose other event another worker holds (see ``claim_events``).
"""

from __future__ import annotations

import random
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog
from sqlalchemy import Select, Table, and_, bindparam, case, exists, or_, select, text, tuple_, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from connectors.errors import AuthenticationFailed, HubError, OutcomeUnknown, RetriableError
from hub.pipeline.alerts import raise_alert
from hub.pipeline.models import OPEN_STATES, InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import rowcount, utcnow

log = structlog.get_logger(__name__)

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


_EVENTS: Table = InboxEvent.__table__  # type: ignore[assignment]
_OTHER = _EVENTS.alias("held")
#: the columns a chunk claim returns: everything the engine reads, so the row is not loaded again
_EVENT_COLUMNS = (
    "id",
    "attempts",
    "connector",
    "event_key",
    "event_type",
    "object_type",
    "object_id",
    "version_ms",
    "payload",
    "received_at",
)
_WAITING = or_(
    _EVENTS.c.state == WorkState.RECEIVED,
    and_(_EVENTS.c.state == WorkState.PROCESSING, _EVENTS.c.next_attempt_at <= bindparam("now")),
)
#: no live claim holds an event of the same object, not even an event among the claim's own
#: ids (another worker's fill may have taken it). The statement's own updates are not seen by
#: this subquery (PostgreSQL and SQLite both evaluate it against the rows as they were), so a
#: claim's events of one object never block each other.
_OBJECT_FREE = ~exists().where(
    _OTHER.c.state == WorkState.PROCESSING,
    _OTHER.c.next_attempt_at > bindparam("now"),
    _OTHER.c.object_id == _EVENTS.c.object_id,
    _OTHER.c.object_type == _EVENTS.c.object_type,
    _OTHER.c.connector == _EVENTS.c.connector,
)
#: the oldest other waiting events, to fill a chunk up (their own jobs then find them done)
_FILL = (
    select(_OTHER.c.id)
    .where(_OTHER.c.state == WorkState.RECEIVED)
    .order_by(_OTHER.c.next_attempt_at)
    .limit(bindparam("fill"))
    .scalar_subquery()
)


def _claim_statement(*, fill: bool):  # type: ignore[no-untyped-def]
    wanted: ColumnElement[bool] = _EVENTS.c.id.in_(bindparam("ids", expanding=True))
    if fill:
        wanted = or_(wanted, _EVENTS.c.id.in_(_FILL))
    return (
        update(_EVENTS)
        .where(wanted, _WAITING, _OBJECT_FREE)
        .values(state=WorkState.PROCESSING, attempts=_EVENTS.c.attempts + 1, next_attempt_at=bindparam("lease_end"))
        .returning(*(_EVENTS.c[name] for name in _EVENT_COLUMNS))
    )


#: built once each (SQLAlchemy caches their compiled form): take the waiting or lease-expired
#: events among ``ids`` (and, with ``fill``, the oldest other waiting ones) whose object no other
#: live claim holds
_CLAIM_EVENTS = _claim_statement(fill=False)
_CLAIM_AND_FILL = _claim_statement(fill=True)
#: PostgreSQL: chunk claims take turns (one short statement each), so two workers' claims cannot
#: both see an object free; SQLite has one writer, which already makes them take turns
_CLAIM_LOCK = text("SELECT pg_advisory_xact_lock(7243100713)")


def claim_events(
    session: Session, ids: Sequence[int], *, lease_s: float, fill_to: int = 0
) -> list[tuple[Claim, InboxEvent]]:
    """Claim a chunk of inbox events in one statement; returns each claimed event (a detached
    ``InboxEvent`` built from the statement's ``RETURNING``, not loaded again) with its claim,
    in id order. ``fill_to``: also take the oldest other waiting events, up to that many in all
    (a webhook request's job carries its own few ids; the chunk is filled from the backlog, and
    the other jobs find their events done). Not claimed: events done or held by a live lease,
    and events of an object (connector, object type, object id) another worker holds an event
    of, so two workers never apply events of one object at once (the engine applies a chunk's
    events of one object in id order, in one transaction). Those stay waiting and are re-run
    once free (another job's fill, or the reconciler). No ids with ``fill_to``: the oldest
    waiting events only."""
    if not ids and fill_to <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_CLAIM_LOCK)
    now = utcnow()
    params: dict[str, object] = {"ids": list(ids), "now": now, "lease_end": now + timedelta(seconds=lease_s)}
    fill = fill_to - len(ids)
    if fill > 0:
        params["fill"] = fill
    rows = conn.execute(_CLAIM_AND_FILL if fill > 0 else _CLAIM_EVENTS, params).all()
    claimed = []
    for row in sorted(rows, key=lambda r: r.id):
        values = row._asdict()
        attempt = values.pop("attempts")
        event = InboxEvent(**values, state=WorkState.PROCESSING, attempts=attempt)
        claimed.append((Claim(row.id, attempt), event))
    return claimed


def finish_events(session: Session, outcomes: Mapping[Claim, str]) -> set[int]:
    """Mark these claimed events done, each with its outcome, in one statement fenced on each
    claim's attempt number, in the caller's transaction. Returns the ids it finished: any claim
    missing from it was lost (its lease ran out and another attempt began); roll back."""
    if not outcomes:
        return set()
    claims = list(outcomes)
    stmt = (
        update(_EVENTS)
        .where(
            _EVENTS.c.state == WorkState.PROCESSING,
            tuple_(_EVENTS.c.id, _EVENTS.c.attempts).in_([(c.id, c.attempt) for c in claims]),
        )
        .values(
            state=WorkState.DONE,
            finished_at=utcnow(),
            outcome=case({c.id: outcomes[c][:64] for c in claims}, value=_EVENTS.c.id),
        )
        .returning(_EVENTS.c.id)
    )
    return set(session.connection().execute(stmt).scalars())


class Leases:
    """The claims this process holds, renewed by a heartbeat thread every third of the lease
    while they are held: a live worker keeps its rows however long their work takes, a dead one
    loses them one lease after its last beat. Renewal is fenced on the attempt number, so it
    never extends a newer attempt's lease."""

    def __init__(
        self, sessions: sessionmaker[Session], lease_s: float, on_beat: Callable[[], object] | None = None
    ) -> None:
        self.sessions = sessions
        self.lease_s = lease_s
        #: run on every beat after the renewal: the worker's look for expired leases of others
        self.on_beat = on_beat
        self._held: dict[Model, dict[int, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pinned = False

    def start(self) -> None:
        """Keep the heartbeat running until ``stop`` (a worker process; without it the beat
        runs only while something is held)."""
        with self._lock:
            self._pinned = True
            self._start()

    def _start(self) -> None:
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._beat, name="partnerhub-leases", daemon=True)
            self._thread.start()

    def hold(self, model: Model, claims: Iterable[Claim]) -> None:
        with self._lock:
            self._held.setdefault(model, {}).update((c.id, c.attempt) for c in claims)
            self._start()

    def release(self, model: Model, claims: Iterable[Claim]) -> None:
        with self._lock:
            held = self._held.get(model, {})
            for c in claims:
                if held.get(c.id) == c.attempt:
                    del held[c.id]

    def renew(self) -> int:
        """Extend every held lease now; returns the rows renewed."""
        with self._lock:
            held = {model: dict(rows) for model, rows in self._held.items() if rows}
        renewed = 0
        if not held:
            return 0
        with self.sessions() as session, session.begin():
            for model, rows in held.items():
                result = session.execute(
                    update(model)
                    .where(
                        model.state == WorkState.PROCESSING,
                        tuple_(model.id, model.attempts).in_(list(rows.items())),
                    )
                    .values(next_attempt_at=utcnow() + timedelta(seconds=self.lease_s))
                    .execution_options(synchronize_session=False)
                )
                renewed += rowcount(result)
        return renewed

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                if not self._pinned and not any(self._held.values()):
                    self._thread = None  # the next ``hold`` starts a new beat
                    return
            try:
                self.renew()
            except Exception as exc:  # the next beat tries again; a lost lease is fenced anyway
                log.warning("lease renewal failed", error=f"{type(exc).__name__}: {exc}")
            if self.on_beat is not None:
                try:
                    self.on_beat()
                except Exception as exc:
                    log.warning("expired leases not looked for", error=f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stop.set()


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


def record_failure(
    session: Session, model: Model, c: Claim, exc: BaseException, source: str, policy: RetryPolicy
) -> tuple[str | None, Failure]:
    """Record a failed attempt in the caller's transaction (``fail``, or ``park_unknown`` for an
    outbound call that moves money) and raise the alerts it calls for. Returns (the new state, or
    None when the lease was lost meanwhile; the failure as ``describe`` classified it)."""
    failure = describe(exc)
    state: str | None
    if isinstance(exc, OutcomeUnknown) and model is OutboxItem:
        parked = park_unknown(session, model, c, failure.message)
        state = WorkState.UNKNOWN if parked else None
        if parked:
            raise_alert(
                session,
                key=f"outcome_unknown:outbox:{c.id}",
                kind="outcome_unknown",
                message=f"outbox #{c.id} ({source}): {failure.message}. Check the provider; "
                f"replay with `partnerhub replay --outbox --id {c.id}` only if it did not happen.",
            )
    else:
        state = fail(session, model, c, failure, policy)
    if state == WorkState.DEAD:
        table = "inbox" if model is InboxEvent else "outbox"
        raise_alert(
            session,
            key=f"dead_letter:{table}:{source}:{failure.kind}",
            kind="dead_letter",
            message=f"{table} #{c.id} ({source}) is dead after {c.attempt} attempt(s): {failure.message}",
        )
    alert_key = getattr(exc, "alert_key", None)  # e.g. a stage the value map does not know
    if alert_key:
        raise_alert(
            session,
            key=alert_key,
            kind=failure.kind,
            message=f"{failure.message} (inbox #{c.id} waits as a dead letter)"
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
    return state, failure


def park_unknown(session: Session, model: Model, c: Claim, message: str) -> bool:
    """An outbound call that moves money ended with an unknown outcome: never retried blindly."""
    values = {"state": WorkState.UNKNOWN, "last_error_kind": "unknown", "last_error": message}
    return rowcount(session.execute(_fenced(model, c).values(**values))) == 1


def take_due(
    session: Session, model: Model, *, requeue_after_s: float, limit: int, states: Sequence[str] = OPEN_STATES
) -> list[int]:
    """Rows in ``states`` (default: not finished) whose ``next_attempt_at`` has passed: reset
    them to waiting and push their next look ``requeue_after_s`` ahead. The caller enqueues the
    ids after commit. Safe to run from several processes: each row moves once per pass."""
    now = utcnow()
    due = (
        select(model.id)
        .where(
            model.state.in_(states),
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
