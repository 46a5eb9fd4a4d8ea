"""One ``Hub`` per process: settings, the records engine, Redis, the connectors.

The web app, the workers and the CLI all build theirs with ``Hub.open()``; jobs reach the
worker's through ``current()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors import build_connectors
from connectors.capabilities import Connector, CrmConnector, SharesRedis
from connectors.errors import ConfigurationError
from hub.mapping import MappingFileError, MappingStore
from hub.pipeline.store import make_engine, make_sessionmaker
from hub.pipeline.work import RetryPolicy
from hub.program.program_file import PROGRAM_FILE, Program, load_program
from hub.runtime.embedded_redis import EmbeddedRedis, private_dir, private_file
from hub.runtime.settings import Settings, load_settings


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis_url: str
    connectors: dict[str, Connector]
    embedded: EmbeddedRedis | None = None
    _redis: redis.Redis | None = field(default=None, repr=False)
    _mappings: MappingStore | None = field(default=None, repr=False)
    _program: Program | None = field(default=None, repr=False)
    _program_stamp: int | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None, *, start_redis: bool = True, load_mappings: bool = False) -> Hub:
        """``load_mappings``: read the mapping files now, so a broken one stops start-up with
        its ``file:line:col`` messages (``MappingFileError``) before anything else starts."""
        settings = settings or load_settings()
        mappings = MappingStore(settings.mappings_dir) if load_mappings else None
        program = load_program(settings.mappings_dir) if load_mappings else None
        embedded = None
        if settings.redis_url is not None:
            redis_url = settings.redis_url.get_secret_value()
        elif start_redis:
            embedded = EmbeddedRedis(settings.data_dir)
            redis_url = embedded.ensure()
        else:
            redis_url = ""
        prepare_local_files(settings)
        engine = make_engine(settings.sqlalchemy_url)
        hub = cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            redis_url=redis_url,
            connectors=build_connectors(settings),
            embedded=embedded,
            _mappings=mappings,
            _program=program,
        )
        if redis_url:  # connectors share rate budgets and tokens across processes through Redis
            for connector in hub.connectors.values():
                if isinstance(connector, SharesRedis):
                    connector.use_redis(hub.redis)
        return hub

    @property
    def program(self) -> Program:
        """The program file in force; re-read when it changes (a broken edit keeps the old one,
        logged with its ``file:line:col`` messages)."""
        path = self.settings.mappings_dir / PROGRAM_FILE
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if self._program is None or stamp != self._program_stamp:
            try:
                self._program = load_program(self.settings.mappings_dir)
            except MappingFileError as exc:
                if self._program is None:
                    raise
                structlog.get_logger(__name__).error("program file not reloaded", errors=exc.errors)
            self._program_stamp = stamp
        return self._program

    @property
    def crm(self) -> CrmConnector:
        """The CRM connector the partner flow uses (``PARTNERHUB_CRM``)."""
        name = getattr(self.settings, "crm", "hubspot")
        try:
            connector = self.connectors[name]
        except KeyError:
            raise ConfigurationError(f"PARTNERHUB_CRM names an unknown connector: {name!r}") from None
        if not isinstance(connector, CrmConnector):
            raise ConfigurationError(f"PARTNERHUB_CRM: {name!r} is not a CRM connector")
        return connector

    @property
    def mappings(self) -> MappingStore:
        """The mapping files in force (loaded on first use when not loaded at start-up)."""
        if self._mappings is None:
            self._mappings = MappingStore(self.settings.mappings_dir)
        return self._mappings

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                self.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
            )
        return self._redis

    @property
    def retry_policy(self) -> RetryPolicy:
        w = self.settings.worker
        return RetryPolicy(w.backoff_base_s, w.backoff_max_s, w.max_attempts)

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()
        if self._redis is not None:
            self._redis.close()
        self.engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()


def prepare_local_files(settings: Settings) -> None:
    """The SQLite file (0600) in its data directory (0700), made before SQLite or the embedded
    Redis create anything, whatever the umask: the records and the Redis password are the
    user's alone. SQLite gives its journal files the database file's mode."""
    url = settings.sqlalchemy_url
    if not url.startswith("sqlite"):
        return
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        return
    db = Path(path)
    if db.parent.resolve() == settings.data_dir.resolve():
        private_dir(settings.data_dir)
    else:
        db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_file(db)


def standalone_connector(settings: Settings, name: str) -> Connector:
    """One connector with its settings section (and the shared Redis when a URL is configured),
    for a CLI command that needs only that provider. The caller closes it."""
    from connectors import REGISTRY

    cls = REGISTRY.get(name)
    section = getattr(settings, name, None)
    if cls is None or section is None:
        raise ConfigurationError(f"unknown connector {name!r} (known: {', '.join(sorted(REGISTRY))})")
    connector = cls(section)
    if settings.redis_url is not None and isinstance(connector, SharesRedis):
        connector.use_redis(redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=10))
    return connector


_current: Hub | None = None


def current() -> Hub:
    """The process's hub, opened on first use (RQ jobs run in the worker's process)."""
    global _current
    if _current is None:
        _current = Hub.open()
    return _current


def set_current(hub: Hub | None) -> None:
    global _current
    _current = hub


def describe_redis(url: str) -> dict[str, Any]:
    """Host and port of a Redis URL without its password (for status output)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {"host": parts.hostname, "port": parts.port, "db": parts.path.lstrip("/") or "0"}
