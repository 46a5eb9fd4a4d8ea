"""The records store: one SQLAlchemy ``Base`` (and its naming convention, UTC datetimes) under
every layer's tables, and one engine per process, SQLite by default, PostgreSQL by URL.

Each table's model lives with the layer that owns it: ``hub.pipeline.models`` (durable work),
``hub.program.models`` (partner records). Money is integer minor units plus an ISO 4217
currency, never a float."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, CursorResult, Engine, Integer, MetaData, Result, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import DateTime, String, TypeDecorator

#: an auto-incrementing 64-bit key (SQLite only auto-increments INTEGER PRIMARY KEY)
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive text; we add UTC back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class utc_prefix(FunctionElement[str]):
    """The UTC calendar month (``2026-05``) or day (``2026-05-20``) of a ``UTCDateTime`` column,
    as text, for grouping by month or day in SQL on both backends: ``utc_prefix(col, 7)`` month,
    ``utc_prefix(col, 10)`` day (SQLite stores ``2026-05-20 12:00:00``; PostgreSQL formats its
    ``timestamptz`` in UTC)."""

    type = String()
    inherit_cache = True

    def __init__(self, column: Any, length: int) -> None:
        if length not in (7, 10):
            raise ValueError("utc_prefix: 7 (month) or 10 (day)")
        self.length = length
        super().__init__(column)


@compiles(utc_prefix, "sqlite")
def _utc_prefix_sqlite(element: utc_prefix, compiler: Any, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, {element.length})"


@compiles(utc_prefix)
def _utc_prefix_postgresql(element: utc_prefix, compiler: Any, **kw: Any) -> str:
    pattern = "YYYY-MM" if element.length == 7 else "YYYY-MM-DD"
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', '{pattern}')"


class StateColumn(TypeDecorator[str]):
    """A named state (a ``StrEnum``) stored as its string value, as the column always held it:
    rows load as enum members (a value the enum does not name loads as the plain string)."""

    impl = String
    cache_ok = True

    def __init__(self, states: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.states = states

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        try:
            return self.states(value)
        except ValueError:
            return value


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """The process's engine. A failing statement's error (and so any log line or stored
    ``last_error`` made from it) never carries the row's values (e-mails, names): SQLAlchemy
    hides the parameters (``hide_parameters``), and PostgreSQL's DETAIL line, which quotes the
    offending key (``Key (email)=(jane@…) already exists``), is dropped from the message."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True)
    event.listen(engine, "handle_error", _without_row_values)
    _ping_when_idle(engine)
    return engine


#: a pooled connection idle for longer than this is pinged before it is handed out again
PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, only for a connection that sat in the pool for ``PING_AFTER_IDLE_S``:
    a worker takes a connection a few times a chunk, and a ping each time was a round trip of its
    own (about a tenth of a PostgreSQL worker's time). A connection that fails its ping is
    replaced (``DisconnectionError``: the pool tries another); one that died in the last
    seconds fails its first statement instead, which the caller's retry handles, and the pool
    then drops every connection of that age (SQLAlchemy's disconnect handling)."""

    def checkin(dbapi_conn: Any, record: Any) -> None:
        record.info["partnerhub.idle_since"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("partnerhub.idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("connection failed its ping") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _without_row_values(context: Any) -> None:
    """Keep only the server's primary message (``duplicate key value violates unique constraint
    "uq_partners_email"``) in the driver's error; its diagnostics stay readable on ``exc.diag``."""
    error = context.original_exception
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary or not error.args or str(error.args[0]) == primary:
        return
    full = str(error.args[0])
    error.args = (primary, *error.args[1:])
    wrapped = context.sqlalchemy_exception  # its message was made from the driver's, already
    if wrapped is not None and wrapped.args and isinstance(wrapped.args[0], str):
        wrapped.args = (wrapped.args[0].replace(full, primary), *wrapped.args[1:])


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers and the one writer work side by side; FULL sync makes a commit durable
    # before the webhook acknowledges it; busy_timeout queues writers instead of failing them.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def begin_writing(session: Session) -> None:
    """SQLite: take the write lock as a transaction that writes opens (``BEGIN IMMEDIATE``,
    waiting out the busy timeout), so savepoints nest inside one real transaction (the
    driver otherwise opens it at the first SAVEPOINT, deferred, and its first write after a read
    can fail at once with ``database is locked`` when another writer committed in between)."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["sqlalchemy_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to the newest schema (``partnerhub db upgrade``; also on ``run``)."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def rowcount(result: Result[Any]) -> int:
    """Rows an ``UPDATE``/``DELETE`` matched (``Session.execute`` types its result generically)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
