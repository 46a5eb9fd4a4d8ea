"""What the pipeline needs from the process it runs in: a narrow, structural view of the
runtime's ``Hub`` (``hub.runtime.context``), which satisfies it without naming it.

Pipeline functions take a ``PipelineContext``; the runtime passes its ``Hub``. Nothing here
imports the runtime, so the pipeline stays below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.capabilities import Connector
from hub.mapping import MappingStore
from hub.pipeline.settings import SyncSettings, WorkerSettings
from hub.pipeline.work import RetryPolicy


class PipelineSettings(Protocol):
    """The settings the pipeline reads."""

    @property
    def queue_prefix(self) -> str: ...
    @property
    def worker(self) -> WorkerSettings: ...
    @property
    def sync(self) -> SyncSettings: ...


class PipelineContext(Protocol):
    """The records database, Redis, the connectors and the mapping files of one process."""

    @property
    def settings(self) -> PipelineSettings: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def redis(self) -> redis.Redis: ...
    @property
    def connectors(self) -> Mapping[str, Connector]: ...
    @property
    def mappings(self) -> MappingStore: ...
    @property
    def retry_policy(self) -> RetryPolicy: ...
