"""The pipeline's durable rows: inbox events (what providers told us) and outbox items (what we
owe them), both carrying the same state columns (``WorkState``); polling cursors; alerts; and
echo fingerprints of the hub's own writes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

#: an auto-incrementing 64-bit key (SQLite only auto-increments INTEGER PRIMARY KEY)
from hub.pipeline.store import Base, BigId, StateColumn, UTCDateTime


class WorkState(StrEnum):
    """States shared by inbox events and outbox items (the values are what the rows store)."""

    RECEIVED = "received"  # inbox: stored and acknowledged, not yet processed
    PENDING = "pending"  # outbox: written, not yet carried out
    PROCESSING = "processing"  # claimed by a worker until ``next_attempt_at`` (the lease)
    RETRYING = "retrying"  # failed retriably; ``next_attempt_at`` is the next try
    DONE = "done"
    DEAD = "dead"  # gave up: error kept, alert raised, ``partnerhub replay`` re-runs it
    UNKNOWN = "unknown"  # outbox, money: outcome unknown; waits for a lookup or a person


#: states of work not finished yet (the reconciler's and the queue depth's concern)
OPEN_STATES: tuple[WorkState, ...] = (WorkState.RECEIVED, WorkState.PENDING, WorkState.PROCESSING, WorkState.RETRYING)
#: every state, in the order of a row's life
ALL_STATES: tuple[WorkState, ...] = tuple(WorkState)


class WorkColumns:
    """The state machine columns shared by every durable work table."""

    state: Mapped[WorkState] = mapped_column(StateColumn(WorkState, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: when the reconciler should next look at the row: retry time, lease end, or requeue time
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error_kind: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_traceback: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboxEvent(WorkColumns, Base):
    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("connector", "event_key"),
        Index("ix_inbox_events_due", "state", "next_attempt_at"),
        Index("ix_inbox_events_received_at", "received_at"),
        #: covers the console's events chart (``hub.pipeline.event_browser.throughput``)
        Index("ix_inbox_events_flow", "received_at", "connector", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(128))
    version_ms: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(64))


class OutboxItem(WorkColumns, Base):
    __tablename__ = "outbox_items"
    __table_args__ = (Index("ix_outbox_items_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: the effect's natural key (e.g. ``email:referral-confirmation:R123``); one row per effect
    natural_key: Mapped[str] = mapped_column(String(255), unique=True)
    connector: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    inbox_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_events.id"))


class SyncCursor(Base):
    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("connector", "object_type"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(64))
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    """Something a person should look at. One open row per ``key``; repeats bump ``count``."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_key_state", "key", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EchoFingerprint(Base):
    """A value the hub wrote to a provider. The inbound change that reports exactly this value
    for this field is our own write coming back, and is dropped (no loop, no spurious email)."""

    __tablename__ = "echo_fingerprints"
    __table_args__ = (Index("ix_echo_fingerprints_object", "connector", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(128))
    value_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
