"""Rate budgets: how many provider calls may start per rolling window, shared by every worker.

A connector declares its budgets (``Budget``: a key, a limit, a window) and calls
``acquire(key, cost)`` before each request. ``RedisRateLimiter`` keeps the budget in Redis, so
all processes on all machines draw from one window; ``LocalRateLimiter`` is the same thing for
one process (a connector nobody handed a Redis client).

The window is a sliding log: one sorted-set member per unit spent, scored by the Redis server's
clock (``TIME`` inside the script, so machines with skewed clocks agree). One Lua script drops
what left the window, and either records the spend or answers how many milliseconds until enough
of the oldest entries leave it; ``acquire`` sleeps exactly that long (plus a little jitter, so
waiters do not all wake at once) and tries again. It never busy-spins, and it waits at most
``max_wait_s`` in total: past that it raises ``RateBudgetExhausted`` (retriable, with
``retry_after``), so a job gives its worker back instead of holding it.

A budget with ``fixed=True`` is a calendar window instead (a daily token budget that resets at
midnight UTC, Pipedrive's): one counter per window (``INCRBY`` of the call's cost), so a cost-
weighted daily budget of millions of units is one integer, not millions of log entries; a call
that does not fit waits until the next window starts (usually longer than ``max_wait_s``, so the
job is handed back with ``retry_after``).

``pause(key, seconds)`` stops the budget for everyone (a provider's 429 saying the shared window
is spent, e.g. HubSpot's ``TEN_SECONDLY_ROLLING``); ``acquire`` waits the pause out first.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.errors import RetriableError

#: Redis key prefix of every budget (``<prefix>:<budget key>:log`` and ``…:pause``)
KEY_PREFIX = "partnerhub:rate"
#: how long ``acquire`` waits in total before handing the job back (seconds)
DEFAULT_MAX_WAIT_S = 20.0
#: jitter added to each sleep, as a fraction of it (capped at 50 ms)
_JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``limit`` units may be spent in any rolling ``window_s`` seconds under ``key``
    (``fixed``: in each calendar window of ``window_s`` seconds counted from the epoch, e.g. per
    UTC day for 86400)."""

    key: str
    limit: int
    window_s: float
    fixed: bool = False

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"rate budget {self.key!r}: limit must be at least 1")
        if self.window_s <= 0:
            raise ValueError(f"rate budget {self.key!r}: window must be positive")


class RateBudgetExhausted(RetriableError):
    """The budget would not allow the call within ``max_wait_s``; try again after ``retry_after``."""


class RateLimiter(Protocol):
    def acquire(self, key: str, cost: int = 1) -> float:
        """Spend ``cost`` units of the budget ``key``, waiting (bounded) until it allows.
        Returns the seconds waited."""
        ...

    def pause(self, key: str, seconds: float) -> None:
        """Nobody spends from ``key`` for ``seconds`` (a longer pause already set is kept)."""
        ...


class _Waiting(ABC):
    """The wait loop both limiters share: ask, sleep what the answer says, ask again."""

    budgets: dict[str, Budget]
    max_wait_s: float
    _sleep: Callable[[float], None]
    _clock: Callable[[], float]

    def _setup(
        self,
        budgets: Iterable[Budget],
        max_wait_s: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self.budgets = {b.key: b for b in budgets}
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._clock = clock

    def budget(self, key: str) -> Budget:
        try:
            return self.budgets[key]
        except KeyError:
            raise KeyError(f"no rate budget declared for {key!r}") from None

    def acquire(self, key: str, cost: int = 1) -> float:
        budget = self.budget(key)
        if cost < 1 or cost > budget.limit:
            raise ValueError(f"rate budget {key!r}: cost {cost} outside 1..{budget.limit}")
        started = self._clock()
        while True:
            wait_s = self._try(budget, cost)
            if wait_s <= 0:
                return self._clock() - started
            waited = self._clock() - started
            if waited + wait_s > self.max_wait_s:
                raise RateBudgetExhausted(f"rate budget {key!r} spent: next slot in {wait_s:.2f}s", retry_after=wait_s)
            self._sleep(wait_s + random.uniform(0, min(0.05, wait_s * _JITTER)))

    @abstractmethod
    def _try(self, budget: Budget, cost: int) -> float:
        """0 when ``cost`` was spent, else the seconds until it might be allowed."""


# KEYS[1] the log (sorted set), KEYS[2] the pause flag
# ARGV[1] limit, ARGV[2] window ms, ARGV[3] cost, ARGV[4] a unique member prefix
# -> 0 when spent, else milliseconds to wait
_ACQUIRE = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used + cost <= limit then
  for i = 1, cost do
    redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local index = used + cost - limit - 1
local entry = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
return math.max(1, tonumber(entry[2]) + window - now)
"""

# KEYS[1] the counter prefix, KEYS[2] the pause flag
# ARGV[1] limit, ARGV[2] window ms, ARGV[3] cost -> 0 when spent, else milliseconds to wait
_ACQUIRE_FIXED = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
local start = now - (now % window)
local key = KEYS[1] .. ':' .. start
local used = tonumber(redis.call('GET', key) or '0')
if used + tonumber(ARGV[3]) <= tonumber(ARGV[1]) then
  redis.call('INCRBY', key, ARGV[3])
  redis.call('PEXPIRE', key, window + 60000)
  return 0
end
return math.max(1, start + window - now)
"""

# KEYS[1] the pause flag; ARGV[1] milliseconds
_PAUSE = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""


class RedisRateLimiter(_Waiting):
    """Budgets shared by every process using the same Redis (and key prefix)."""

    def __init__(
        self,
        redis: Any,
        budgets: Iterable[Budget],
        *,
        prefix: str = KEY_PREFIX,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._setup(budgets, max_wait_s, sleep, clock)
        self.prefix = prefix
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._acquire_fixed = redis.register_script(_ACQUIRE_FIXED)
        self._pause = redis.register_script(_PAUSE)

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}:{key}:log", f"{self.prefix}:{key}:pause"]

    def _try(self, budget: Budget, cost: int) -> float:
        args = [budget.limit, int(budget.window_s * 1000), cost, uuid.uuid4().hex]
        try:
            if budget.fixed:
                keys = [f"{self.prefix}:{budget.key}:count", self._keys(budget.key)[1]]
                wait_ms = int(self._acquire_fixed(keys=keys, args=args[:3]))
            else:
                wait_ms = int(self._acquire(keys=self._keys(budget.key), args=args))
        except Exception as exc:
            raise RetriableError(f"rate budget {budget.key!r} unavailable: {type(exc).__name__}") from None
        return wait_ms / 1000

    def pause(self, key: str, seconds: float) -> None:
        self.budget(key)
        ms = max(1, int(seconds * 1000))
        try:
            self._pause(keys=self._keys(key)[1:], args=[ms])
        except Exception:
            pass


class LocalRateLimiter(_Waiting):
    """The same budgets kept in this process only (no Redis at hand)."""

    def __init__(
        self,
        budgets: Iterable[Budget],
        *,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._setup(budgets, max_wait_s, sleep, clock)
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}
        self._counts: dict[str, tuple[float, int]] = {}  # fixed windows: (window start, used)
        self._paused_until: dict[str, float] = {}

    def _try(self, budget: Budget, cost: int) -> float:
        with self._lock:
            now = self._clock()
            paused = self._paused_until.get(budget.key, 0.0) - now
            if paused > 0:
                return paused
            if budget.fixed:
                return self._try_fixed(budget, cost, time.time())
            log = self._logs.setdefault(budget.key, deque())
            while log and log[0] <= now - budget.window_s:
                log.popleft()
            if len(log) + cost <= budget.limit:
                log.extend([now] * cost)
                return 0.0
            oldest_needed = log[len(log) + cost - budget.limit - 1]
            return max(0.001, oldest_needed + budget.window_s - now)

    def _try_fixed(self, budget: Budget, cost: int, now: float) -> float:
        start = now - (now % budget.window_s)
        window_start, used = self._counts.get(budget.key, (start, 0))
        if window_start != start:
            used = 0
        if used + cost <= budget.limit:
            self._counts[budget.key] = (start, used + cost)
            return 0.0
        return max(0.001, start + budget.window_s - now)

    def pause(self, key: str, seconds: float) -> None:
        self.budget(key)
        with self._lock:
            until = self._clock() + seconds
            self._paused_until[key] = max(until, self._paused_until.get(key, 0.0))
