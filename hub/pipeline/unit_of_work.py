"""One unit of work: commit a change, then enqueue what it owes.

Work that writes outbox rows (``outbox.owe``) or internal inbox events lists their ids in
``session.info`` (``outbox.OWED``, ``outbox.OWED_INBOX``; ``owe_inbox`` below for inbox ids).
``unit_of_work`` opens a session and a transaction around the work and, only once the transaction
has committed, puts those ids on their queues. A rolled-back transaction enqueues nothing. If Redis
cannot be reached the rows are committed all the same: the failure is logged and the reconciler
enqueues them when they are due (Redis holds pointers only).

    with unit_of_work(ctx) as session:
        payouts.approve(session, ctx, payout_id, actor=admin, reason=reason)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from hub.pipeline import queue

log = structlog.get_logger(__name__)

#: ``session.info`` key listing the outbox rows a transaction wrote, to enqueue after its commit
OWED = "partnerhub.owed"
#: outbox rows to enqueue at the front of their queue (mail a person is waiting for)
OWED_FIRST = "partnerhub.owed_first"
#: the same for internal inbox events a transaction wrote (a referral submitted by e-mail)
OWED_INBOX = "partnerhub.owed_inbox"


class QueueContext(Protocol):
    """What a unit of work needs of the process: sessions, Redis and the queue prefix."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def redis(self) -> Any: ...

    @property
    def settings(self) -> Any: ...  # ``queue_prefix``


#: the queue each ``session.info`` key's ids go to (and whether at its front), in this order
_OWED_QUEUES = ((OWED, queue.OUTBOX, False), (OWED_FIRST, queue.OUTBOX, True), (OWED_INBOX, queue.INBOX, False))


def owe_inbox(session: Session, ids: Iterable[int]) -> None:
    """Enqueue these (internal or polled) inbox events once the session's transaction commits."""
    session.info.setdefault(OWED_INBOX, []).extend(ids)


def owe_outbox(session: Session, ids: Iterable[int]) -> None:
    """Enqueue these outbox rows once the session's transaction commits (``outbox.owe`` does
    this itself for the rows it writes)."""
    session.info.setdefault(OWED, []).extend(ids)


def enqueue_owed(
    ctx: QueueContext, info: dict[str, Any], *, on_error: Callable[[Exception], None] | None = None
) -> bool:
    """Enqueue the ids a committed transaction listed in ``info`` (and forget them). Best effort:
    returns False (after logging, and calling ``on_error``) when Redis did not take them."""
    ok = True
    for key, kind, at_front in _OWED_QUEUES:
        owed = info.pop(key, None)
        if not owed:
            continue
        try:
            queue.enqueue(ctx.redis, ctx.settings.queue_prefix, kind, owed, at_front=at_front)
        except Exception as exc:
            ok = False
            log.warning("owed work not enqueued; the reconciler will", queue=kind, ids=len(owed), error=str(exc))
            if on_error is not None:
                on_error(exc)
    return ok


def forget_owed(info: dict[str, Any]) -> None:
    for key, _, _ in _OWED_QUEUES:
        info.pop(key, None)


@contextmanager
def unit_of_work(
    ctx: QueueContext, *, on_enqueue_error: Callable[[Exception], None] | None = None
) -> Iterator[Session]:
    """A session in a transaction; on leaving the block the transaction commits and then what
    it owes is enqueued. An exception rolls it back and enqueues nothing (the exception
    propagates); so does a ``session.rollback()`` inside the block."""
    with ctx.sessions() as session:
        committed: list[bool] = []

        def _committed(_: Session) -> None:
            committed.append(True)

        event.listen(session, "after_commit", _committed)
        try:
            with session.begin():
                yield session
        except BaseException:
            forget_owed(session.info)
            raise
        finally:
            event.remove(session, "after_commit", _committed)
        if committed:
            enqueue_owed(ctx, session.info, on_error=on_enqueue_error)
        else:
            forget_owed(session.info)
