"""Inbox events a chunk at a time: claimed together, read ahead together, applied in one
transaction, finished together.

An RQ job carries up to ``queue.IDS_PER_JOB`` event ids (a webhook request's job, often ten).
``ChunkRunner.run`` claims them in one statement, filled up to ``IDS_PER_JOB`` with the oldest
other waiting events (``work.claim_events``: a lease per event, fenced by its attempt number,
never two workers on events of one object; the jobs of the events taken this way find them done)
and holds the leases under the process's heartbeat (``work.Leases``). It then works through them ``CHUNK_EVENTS`` at a time:

1. read ahead (``HubEngine.read_ahead``): the chunk's provider records in batched calls, with no
   transaction open; the next chunk's reads run in a thread while this chunk's transaction runs.
   On PostgreSQL a claim that came back full rolls on: before its last chunk's transaction, the
   backlog's next events are claimed (a short transaction of its own; up to ``MAX_ROLLS`` times a
   job) and their first chunk is read in the thread meanwhile, so the first read of each claim
   after the job's first does not wait (not on SQLite: see ``ChunkRunner.run``);
2. one transaction: the chunk's lookups read in one query each (``HubEngine.prefetch``: echo
   fingerprints; the domain's ``DomainHandlers.prefetch``: deals, locked in id order), then
   each event applied (``HubEngine.process``, unchanged), in id order, so events of one object
   see each other exactly as one-by-one processing would; one fenced ``UPDATE`` marks them done
   with their outcomes; one commit; then the rows the chunk owes are enqueued. The events are
   first applied with no savepoints between them (a savepoint costs two round trips an event);
   if one fails, that transaction is rolled back whole (nothing committed, nothing enqueued) and
   the chunk runs again with each event inside its own SAVEPOINT: an event that fails is rolled
   back to its savepoint and recorded as retrying or dead (``work.describe`` classifies it, as
   for a single event) while the others carry on;
3. one Redis pipeline of metrics for the chunk.

If a claim was lost meanwhile (the worker stalled past its lease and another attempt began),
the whole chunk's transaction rolls back and those events are the other attempt's to finish.
If the transaction itself fails (the database went away), each event's failure is recorded
on its own, as a single event's would be.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import structlog

from hub.pipeline import metrics, queue, work
from hub.pipeline.context import PipelineContext
from hub.pipeline.engine import Ahead, HubEngine
from hub.pipeline.models import InboxEvent, WorkState
from hub.pipeline.store import begin_writing, utcnow
from hub.pipeline.unit_of_work import OWED, OWED_INBOX, unit_of_work

log = structlog.get_logger(__name__)

#: events per transaction: small enough that SQLite's one writer is not held for long (webhook
#: ingest waits for it), large enough that the per-transaction costs are spread thin
CHUNK_EVENTS = 50

#: how many further claims a job whose claim came back full takes from the backlog (each up to
#: ``fill_to`` events) before it returns: bounds a job's length (a warm shutdown waits for it)
MAX_ROLLS = 9

Claimed = list[tuple[work.Claim, InboxEvent]]


class _EventFailed(Exception):
    """An event of a chunk run without savepoints failed: roll the chunk back, run it again."""


class ChunkRunner:
    """Runs jobs' chunks of inbox events in one process (see the module docstring)."""

    def __init__(
        self, hub: PipelineContext, engine: HubEngine, leases: work.Leases, *, fill_to: int = queue.IDS_PER_JOB
    ) -> None:
        self.hub = hub
        self.engine = engine
        self.leases = leases
        #: a job's claim is filled up to this many events from the backlog (0: its own ids only)
        self.fill_to = fill_to
        self._reader: ThreadPoolExecutor | None = None

    def run(self, event_ids: Sequence[int]) -> dict[int, str | None]:
        """Process these events; returns each one's new state (None: not ours to process —
        finished already, held by another worker, or its lease lost). A full claim filled from
        the backlog rolls on: before its last chunk's transaction opens, the next events of the
        backlog are claimed (``MAX_ROLLS`` times at most) and their first chunk read ahead in
        the thread while that chunk runs, so only a job's very first read waits."""
        states: dict[int, str | None] = dict.fromkeys(event_ids)
        claimed = self._claim(event_ids)
        fill = self.fill_to - len(event_ids)  # the backlog events the claim was filled with, at most
        if self.hub.engine.dialect.name == "sqlite":
            # no rolling on SQLite: claims and chunks following each other with no gap (the RQ
            # job's bookkeeping between jobs is one) starve the webhook's insert, which waits
            # for the one write lock by polling with growing sleeps (measured: acknowledgements
            # up to 4 s while new deals drained, against 1.7 s without rolling; bench/README.md)
            fill = 0
        held = [c for c, _ in claimed]
        ahead: Future[Ahead] | None = None
        rolls = 0
        try:
            while claimed:
                chunks = [claimed[i : i + CHUNK_EVENTS] for i in range(0, len(claimed), CHUNK_EVENTS)]
                following: Claimed = []
                for n, chunk in enumerate(chunks):
                    reads = ahead.result() if ahead is not None else self.engine.read_ahead([e for _, e in chunk])
                    ahead = None
                    if n + 1 < len(chunks):
                        ahead = self._read_in_thread(chunks[n + 1])
                    elif fill > 0 and len(claimed) >= fill and rolls < MAX_ROLLS:  # the backlog may hold more
                        following = self._claim([])  # its next events, before this chunk's
                        fill, rolls = self.fill_to, rolls + 1  # transaction holds the (SQLite) write lock
                        held += [c for c, _ in following]
                        if following:
                            ahead = self._read_in_thread(following[:CHUNK_EVENTS])
                    self.engine.use(reads)
                    states.update(self._apply(chunk))
                done = {c.id for c, _ in claimed}
                self.leases.release(InboxEvent, [c for c in held if c.id in done])
                held = [c for c in held if c.id not in done]
                claimed = following
        finally:
            self.engine.use(Ahead())
            if held:
                self.leases.release(InboxEvent, held)
        return states

    def _claim(self, event_ids: Sequence[int]) -> Claimed:
        """Claim these events (filled from the backlog up to ``fill_to``), held by the heartbeat."""
        with self.hub.sessions() as session, session.begin():
            claimed = work.claim_events(
                session, event_ids, lease_s=self.hub.settings.worker.lease_s, fill_to=self.fill_to
            )
        if claimed:
            self.leases.hold(InboxEvent, [c for c, _ in claimed])
        return claimed

    def _read_in_thread(self, chunk: Claimed) -> Future[Ahead]:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="partnerhub-read-ahead")
        return self._reader.submit(self.engine.read_ahead, [e for _, e in chunk])

    def _apply(self, chunk: Claimed) -> dict[int, str | None]:
        """The chunk in one transaction: first without a savepoint per event (each costs two
        round trips); if any event fails, that transaction is rolled back whole and the chunk
        is run again with a savepoint per event, so the failing event fails alone."""
        if len(chunk) > 1:
            states = self._apply_at_once(chunk)
            if states is not None:
                return states
        return self._apply_each(chunk)

    def _apply_at_once(self, chunk: Claimed) -> dict[int, str | None] | None:
        """The chunk's events with no savepoints between them; None: one of them failed, nothing
        was committed or enqueued, run the chunk again event by event."""
        outcomes: dict[work.Claim, str] = {}
        try:
            with unit_of_work(self.hub) as session:
                begin_writing(session)
                self.engine.prefetch(session, [e for _, e in chunk])
                try:
                    for claim, event in chunk:
                        outcomes[claim] = str(self.engine.process(session, event))
                    session.flush()  # a failing write fails here, not in the fenced finish
                except Exception as exc:
                    raise _EventFailed from exc
                finished = work.finish_events(session, outcomes)
                if finished != {c.id for c in outcomes}:
                    session.rollback()
                    lost = sorted({c.id for c in outcomes} - finished)
                    log.warning("lease lost; chunk rolled back", table="inbox_events", ids=lost[:20])
                    return {}
        except _EventFailed:
            return None  # rolled back by unit_of_work; nothing of it was enqueued
        except Exception as exc:
            log.warning("chunk transaction failed", error=f"{type(exc).__name__}: {exc}"[:500])
            return self._record_each(chunk, exc)
        finally:
            self.engine.forget_prefetch()
        self._count(chunk, outcomes, [])
        return {c.id: WorkState.DONE for c in outcomes}

    def _apply_each(self, chunk: Claimed) -> dict[int, str | None]:
        policy = self.hub.retry_policy
        outcomes: dict[work.Claim, str] = {}
        failures: list[tuple[work.Claim, InboxEvent, str | None, work.Failure]] = []
        try:
            with unit_of_work(self.hub) as session:
                begin_writing(session)
                self.engine.prefetch(session, [e for _, e in chunk])
                for claim, event in chunk:
                    owed = {key: len(session.info.get(key, ())) for key in (OWED, OWED_INBOX)}
                    try:
                        with session.begin_nested():
                            outcomes[claim] = str(self.engine.process(session, event))
                    except Exception as exc:
                        for key, count in owed.items():  # rows of the rolled-back savepoint
                            if key in session.info:
                                del session.info[key][count:]
                        state, failure = work.record_failure(session, InboxEvent, claim, exc, event.connector, policy)
                        failures.append((claim, event, state, failure))
                finished = work.finish_events(session, outcomes)
                if finished != {c.id for c in outcomes}:
                    session.rollback()
                    lost = sorted({c.id for c in outcomes} - finished)
                    log.warning("lease lost; chunk rolled back", table="inbox_events", ids=lost[:20])
                    return {}
        except Exception as exc:
            log.warning("chunk transaction failed", error=f"{type(exc).__name__}: {exc}"[:500])
            return self._record_each(chunk, exc)
        finally:
            self.engine.forget_prefetch()
        self._count(chunk, outcomes, failures)
        states: dict[int, str | None] = {c.id: WorkState.DONE for c in outcomes}
        states.update({c.id: state for c, _, state, _ in failures})
        return states

    def _record_each(self, chunk: Claimed, exc: Exception) -> dict[int, str | None]:
        """The chunk's transaction failed as a whole: record the failure on each event, in its
        own transaction; what cannot be recorded stays claimed and is re-run after its lease."""
        states: dict[int, str | None] = {}
        failures = []
        for claim, event in chunk:
            try:
                with self.hub.sessions() as session, session.begin():
                    state, failure = work.record_failure(
                        session, InboxEvent, claim, exc, event.connector, self.hub.retry_policy
                    )
            except Exception as again:
                log.warning("failure not recorded; re-run after the lease", id=claim.id, error=str(again))
                continue
            states[claim.id] = state
            failures.append((claim, event, state, failure))
        self._count(chunk, {}, failures)
        return states

    def _count(
        self,
        chunk: Claimed,
        outcomes: dict[work.Claim, str],
        failures: list[tuple[work.Claim, InboxEvent, str | None, work.Failure]],
    ) -> None:
        """The chunk's metrics in one Redis pipeline (never failing the finished work)."""
        for claim, _, state, failure in failures:
            log.warning(
                "work failed", table="inbox_events", id=claim.id, state=state, kind=failure.kind, error=failure.message
            )
        now = utcnow()
        processed: Counter[tuple[str, str]] = Counter()
        latencies: dict[str, list[float]] = {}
        echoes: Counter[str] = Counter()
        for claim, event in chunk:
            outcome = outcomes.get(claim)
            if outcome is None:
                continue
            processed[(event.connector, outcome)] += 1
            latencies.setdefault(event.connector, []).append((now - event.received_at).total_seconds())
            if outcome == "echo":
                echoes[event.connector] += 1
        pipe: Any = self.hub.redis.pipeline(transaction=False)
        for (connector, outcome), count in processed.items():
            metrics.incr(pipe, "events_processed", {"connector": connector, "outcome": outcome}, count)
        for connector, values in latencies.items():
            metrics.observe_many(pipe, "processing_latency_seconds", {"connector": connector}, values)
        for connector, count in echoes.items():
            metrics.incr(pipe, "echoes_dropped", {"connector": connector}, count)
        for _, event, state, failure in failures:
            if state == WorkState.DEAD:
                metrics.incr(pipe, "dead_letters", {"source": event.connector, "kind": failure.kind})
            elif state == WorkState.RETRYING:
                metrics.incr(pipe, "events_retried", {"source": event.connector, "kind": failure.kind})
        try:
            pipe.execute()
        except Exception as exc:
            log.warning("metrics not recorded", error=str(exc))
