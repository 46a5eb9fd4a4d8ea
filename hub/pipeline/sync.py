"""Polling: records a provider changed, pulled through its API into the same inbox webhooks fill.

``poll(hub, connector, object)`` walks ``connector.fetch_changes(object, cursor)`` from the saved
cursor. Each page is one transaction: its records become inbox rows (deduplicated on the
connector's event key, so a record seen by a webhook and by a poll, or by two overlapping polls,
is processed once) and the cursor to resume after the page is saved with them. A sync killed
halfway therefore resumes from its last page, losing nothing and repeating at most one page (whose
rows collapse on their keys). The workers process the rows exactly like webhook events.

Used by ``partnerhub sync backfill`` (with a progress bar) and by the scheduler every
``PARTNERHUB_SYNC__INTERVAL_S`` for each connector's ``poll_objects``. One poll per
(connector, object) runs at a time, across processes (a Redis lock with a heartbeat).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from sqlalchemy import delete, select

from connectors.capabilities import CallsApi, NamesPolledChanges, Polls
from connectors.errors import ConfigurationError
from connectors.values import Change, Cursor, Record
from hub.pipeline.context import PipelineContext
from hub.pipeline.inbox import event_rows, insert_events
from hub.pipeline.models import SyncCursor
from hub.pipeline.store import utcnow
from hub.pipeline.unit_of_work import owe_inbox, unit_of_work

log = structlog.get_logger(__name__)

LOCK_PREFIX = "partnerhub:sync:lock:"
#: a poll whose heartbeat stopped this long ago is presumed dead
LOCK_TTL_S = 30


@dataclass
class PollResult:
    connector: str
    object_type: str
    pages: int = 0
    records: int = 0
    new_events: int = 0
    finished: bool = False


class PollBusy(ConfigurationError):
    """Another process is polling this (connector, object) right now."""

    kind = "busy"


def polled_change(connector: Any, object_type: str, record: Record) -> Change:
    """The inbox change a polled record stands for: the connector's own ``polled_change`` when it
    has one (Stripe's polled events keep their webhook event id), else a key made of the object,
    the id and the version, so a record polled twice at one version is stored once."""
    if isinstance(connector, NamesPolledChanges):
        return connector.polled_change(object_type, record)
    action = "deletion" if record.archived else "polled"
    return Change(
        event_key=f"poll:{object_type}:{record.id}:{record.version_ms or 0}",
        event_type=f"{object_type}.{action}",
        object_type=object_type,
        object_id=record.id,
        version_ms=record.version_ms,
        payload=dict(record.raw) if record.raw else {"id": record.id, "properties": dict(record.properties)},
    )


def load_cursor(hub: PipelineContext, connector: str, object_type: str) -> Cursor | None:
    with hub.sessions() as session:
        row = session.scalars(
            select(SyncCursor).where(SyncCursor.connector == connector, SyncCursor.object_type == object_type)
        ).first()
        return Cursor(dict(row.cursor)) if row is not None else None


def reset_cursor(hub: PipelineContext, connector: str, object_type: str) -> None:
    """Forget where polling left off: the next poll starts from the beginning."""
    with hub.sessions() as session, session.begin():
        session.execute(
            delete(SyncCursor).where(SyncCursor.connector == connector, SyncCursor.object_type == object_type)
        )


def _save_cursor(session: Any, connector: str, object_type: str, cursor: Cursor) -> None:
    row = session.scalars(
        select(SyncCursor)
        .where(SyncCursor.connector == connector, SyncCursor.object_type == object_type)
        .with_for_update()
    ).first()
    if row is None:
        session.add(
            SyncCursor(connector=connector, object_type=object_type, cursor=dict(cursor.value), updated_at=utcnow())
        )
    else:
        row.cursor = dict(cursor.value)
        row.updated_at = utcnow()


class _Lock:
    """A Redis lock for one (connector, object), kept alive by a heartbeat thread while the poll
    runs. Its value names the host and pid holding it: a poll killed on this host (a backfill
    stopped with kill -9) is taken over at once; one on another host within ``LOCK_TTL_S``."""

    def __init__(self, hub: PipelineContext, connector: str, object_type: str):
        self.redis = hub.redis
        self.key = f"{LOCK_PREFIX}{hub.settings.queue_prefix}:{connector}:{object_type}"
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}".encode()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self.redis.set(self.key, self.token, nx=True, ex=LOCK_TTL_S):
            held = self.redis.get(self.key)
            if held is None or not _holder_is_dead(held):
                return False
            with self.redis.pipeline() as pipe:  # take over, unless someone else just did
                try:
                    pipe.watch(self.key)  # type: ignore[no-untyped-call]
                    if pipe.get(self.key) != held:
                        return False
                    pipe.multi()
                    pipe.set(self.key, self.token, ex=LOCK_TTL_S)
                    pipe.execute()
                except redis.WatchError:
                    return False
        self._beat = threading.Thread(target=self._heartbeat, name="partnerhub-sync-lock", daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(LOCK_TTL_S / 3):
            try:
                if self.redis.get(self.key) != self.token:
                    return
                self.redis.expire(self.key, LOCK_TTL_S)
            except redis.RedisError:
                continue

    def check(self) -> None:
        if self.redis.get(self.key) != self.token:
            raise PollBusy(f"lost the sync lock {self.key}: another process took over")

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        if self.redis.get(self.key) == self.token:
            self.redis.delete(self.key)


def _holder_is_dead(value: bytes | str) -> bool:
    """True when the lock's holder was a process on this host that no longer runs."""
    try:
        host, pid, _ = (value.decode() if isinstance(value, bytes) else value).split(":", 2)
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OSError):
        return False
    return False


def poll(
    hub: PipelineContext,
    connector_name: str,
    object_type: str,
    *,
    max_pages: int | None = None,
    on_page: Callable[[PollResult, int], None] | None = None,
) -> PollResult:
    """Pull what changed since the saved cursor, page by page (see the module docstring).
    ``max_pages`` stops early (the next poll carries on); ``on_page(result, page_records)``
    reports progress. Raises ``PollBusy`` if another process is polling the same object."""
    connector = hub.connectors.get(connector_name)
    if connector is None:
        raise ConfigurationError(f"unknown connector {connector_name!r}")
    if not isinstance(connector, Polls) or object_type not in connector.poll_objects:
        polls = ", ".join(connector.poll_objects if isinstance(connector, Polls) else ()) or "nothing"
        raise ConfigurationError(f"{connector_name} cannot poll {object_type!r} (it polls: {polls})")
    lock = _Lock(hub, connector_name, object_type)
    if not lock.acquire():
        raise PollBusy(f"{connector_name}/{object_type} is being polled by another process")
    result = PollResult(connector_name, object_type)
    try:
        pages: Iterable[Any] = connector.fetch_changes(object_type, load_cursor(hub, connector_name, object_type))
        for page in pages:
            changes = [polled_change(connector, object_type, record) for record in page.records]
            now = utcnow()
            rows = event_rows(connector_name, changes, now=now, look_again=now)
            with unit_of_work(hub) as session:  # the new events are enqueued after commit
                new = insert_events(session.connection(), rows)
                if page.cursor is not None:
                    _save_cursor(session, connector_name, object_type, page.cursor)
                owe_inbox(session, sorted(new.values()))
            result.pages += 1
            result.records += len(page.records)
            result.new_events += len(new)
            lock.check()
            if on_page is not None:
                on_page(result, len(page.records))
            if max_pages is not None and result.pages >= max_pages:
                return result
        result.finished = True
        return result
    finally:
        lock.release()


class Poller:
    """The scheduler's polling: every ``interval_s``, each API-ready connector's ``poll_objects``
    in a background thread of its own (a long first sync never holds up reconciliation)."""

    def __init__(self, hub: PipelineContext):
        self.hub = hub
        self.interval = hub.settings.sync.interval_s
        self._last: float = 0.0
        self._thread: threading.Thread | None = None

    def targets(self) -> list[tuple[str, str]]:
        found = []
        for name, connector in self.hub.connectors.items():
            if not isinstance(connector, Polls) or not isinstance(connector, CallsApi) or not connector.api_ready:
                continue
            for object_type in connector.poll_objects:
                found.append((name, object_type))
        return found

    def maybe_start(self) -> bool:
        """Start a polling round if one is due and none is running; True if started."""
        if self.interval <= 0 or (self._thread is not None and self._thread.is_alive()):
            return False
        if time.monotonic() - self._last < self.interval:
            return False
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self.round, name="partnerhub-poller", daemon=True)
        self._thread.start()
        return True

    def round(self) -> None:
        for name, object_type in self.targets():
            try:
                result = poll(self.hub, name, object_type, max_pages=self.hub.settings.sync.max_pages)
            except PollBusy:
                continue
            except Exception as exc:
                log.warning(
                    "poll failed", connector=name, object=object_type, error=f"{type(exc).__name__}: {exc}"[:300]
                )
                continue
            if result.new_events:
                log.info(
                    "polled", connector=name, object=object_type, records=result.records, new_events=result.new_events
                )

    def join(self, timeout: float = 10) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout)
