"""The org's daily API allocation, read from ``Sforce-Limit-Info: api-usage=<used>/<limit>`` on
every REST answer (``shared/PROVIDERS.md`` §5.3) and shared between processes through Redis, so
every worker slows down together before the allocation runs out: polling (which can wait) stops
first, at ``api_usage_poll_stop``; every call stops at ``api_usage_stop``; both raise
``RetriableError`` with a delay. A 403 ``REQUEST_LIMIT_EXCEEDED`` marks the allocation spent."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from connectors.errors import RetriableError

#: the Redis key holding the last figure seen by any process: "used/limit"
REDIS_KEY = "partnerhub:salesforce:api-usage"
#: how long a shared figure counts (the allocation is a rolling 24 h; figures refresh per call)
FIGURE_TTL_S = 3600
#: how long to wait when the allocation is (nearly) spent
WAIT_S = 900.0

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def parse(header: str | None) -> tuple[int, int] | None:
    match = _USAGE.search(header or "")
    if not match:
        return None
    used, limit = int(match.group(1)), int(match.group(2))
    return (used, limit) if limit > 0 else None


class ApiUsage:
    def __init__(self, poll_stop: float, stop: float, clock: Callable[[], float] = time.time):
        self.poll_stop = poll_stop
        self.stop = stop
        self._clock = clock
        self._redis: Any = None
        self._local: tuple[int, int] | None = None

    def use_redis(self, client: Any) -> None:
        self._redis = client

    def record(self, header: str | None) -> None:
        figure = parse(header)
        if figure is None:
            return
        self._local = figure
        if self._redis is not None:
            try:
                self._redis.set(REDIS_KEY, f"{figure[0]}/{figure[1]}", ex=FIGURE_TTL_S)
            except Exception:
                pass

    def spent(self) -> None:
        current = self.current()
        limit = current[1] if current else 1
        self._local = (limit, limit)
        if self._redis is not None:
            try:
                self._redis.set(REDIS_KEY, f"{limit}/{limit}", ex=FIGURE_TTL_S)
            except Exception:
                pass

    def current(self) -> tuple[int, int] | None:
        if self._redis is not None:
            try:
                raw = self._redis.get(REDIS_KEY)
            except Exception:
                raw = None
            if raw:
                figure = parse("api-usage=" + (raw.decode() if isinstance(raw, bytes) else str(raw)))
                if figure:
                    return figure
        return self._local

    def check(self, *, essential: bool) -> None:
        """Raise ``RetriableError`` when the allocation is too far spent for this kind of call."""
        figure = self.current()
        if figure is None:
            return
        used, limit = figure
        share = used / limit
        if share >= self.stop:
            raise RetriableError(f"salesforce: {used}/{limit} daily API requests used; calls wait", retry_after=WAIT_S)
        if not essential and share >= self.poll_stop:
            raise RetriableError(
                f"salesforce: {used}/{limit} daily API requests used; polling waits", retry_after=WAIT_S
            )
