"""The shared rate budget: processes and threads drawing from one Redis window never exceed it
(measured at the fake HubSpot's end), waits are slept rather than spun and bounded, and HubSpot's
429s are honoured: Retry-After is retriable, a TEN_SECONDLY_ROLLING 429 pauses every worker."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import httpx
import pytest
import redis as redis_lib
from pydantic import SecretStr

from connectors.errors import RetriableError
from connectors.hubspot import API_BUDGET, HubSpotConnector, HubSpotSettings
from connectors.ratelimit import (
    Budget,
    LocalRateLimiter,
    RateBudgetExhausted,
    RedisRateLimiter,
)
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.hubspot_hub import TOKEN

LIMIT, WINDOW_S = 5, 2.0
#: the fake stamps arrival, the budget stamps departure: allow this much delay between the two (a
#: thread woken late on a loaded 2-core machine); a broken budget puts all calls in well under it
JITTER_S = 0.6


def most_in_any_window(stamps: list[float], window_s: float) -> int:
    stamps = sorted(stamps)
    best = 0
    for i, start in enumerate(stamps):
        best = max(best, sum(1 for t in stamps[i:] if t < start + window_s))
    return best


def _hammer(redis_url: str, fake_url: str, threads: int, calls: int) -> None:
    """One worker process: several threads, each making ``calls`` requests under the budget."""
    limiter = RedisRateLimiter(
        redis_lib.Redis.from_url(redis_url), [Budget("test:shared", LIMIT, WINDOW_S)], max_wait_s=60
    )

    def run() -> None:
        with httpx.Client(base_url=fake_url) as client:
            for _ in range(calls):
                limiter.acquire("test:shared")
                client.get("/budget-probe", headers={"authorization": f"Bearer {TOKEN}"})

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_processes_and_threads_sharing_a_budget_never_exceed_it(redis_url, fake_hubspot):
    processes, threads, calls = 2, 2, 3
    total = processes * threads * calls
    ctx = multiprocessing.get_context("spawn")
    started = time.monotonic()
    procs = [ctx.Process(target=_hammer, args=(redis_url, fake_hubspot.url, threads, calls))
             for _ in range(processes)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    elapsed = time.monotonic() - started

    stamps = [r["at"] for r in fake_hubspot.requests_to("/budget-probe")]
    assert len(stamps) == total
    assert most_in_any_window(stamps, WINDOW_S - JITTER_S) <= LIMIT
    # and the budget was actually the bottleneck: 12 calls at 5 per 2 s take at least ~2.8 s
    assert max(stamps) - min(stamps) >= (total / LIMIT - 1) * WINDOW_S - JITTER_S
    assert elapsed < 30


def test_threads_sharing_a_local_budget_never_exceed_it(fake_hubspot):
    limiter = LocalRateLimiter([Budget("local", 3, 1.5)])

    def run() -> None:
        with httpx.Client(base_url=fake_hubspot.url) as client:
            for _ in range(2):
                limiter.acquire("local")
                client.get("/local-probe")

    workers = [threading.Thread(target=run) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stamps = [r["at"] for r in fake_hubspot.requests_to("/local-probe")]
    assert len(stamps) == 8
    assert most_in_any_window(stamps, 1.5 - JITTER_S) <= 3
    assert max(stamps) - min(stamps) >= 2 * 1.5 - JITTER_S  # 8 calls at 3 per 1.5 s: three windows


def test_acquire_sleeps_until_a_slot_frees_instead_of_spinning(redis_url):
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    limiter = RedisRateLimiter(redis_lib.Redis.from_url(redis_url), [Budget("k", 2, 1.0)], sleep=sleep)
    limiter.acquire("k")
    limiter.acquire("k")
    started = time.monotonic()
    waited = limiter.acquire("k")
    assert 0.85 <= time.monotonic() - started < 1.5
    assert waited >= 0.85
    assert len(sleeps) == 1 and 0.85 <= sleeps[0] <= 1.1  # one sleep, as long as the window needed


def test_wait_is_bounded_and_then_retriable(redis_url):
    limiter = RedisRateLimiter(redis_lib.Redis.from_url(redis_url), [Budget("k", 1, 5.0)], max_wait_s=0.2)
    limiter.acquire("k")
    started = time.monotonic()
    with pytest.raises(RateBudgetExhausted) as caught:
        limiter.acquire("k")
    assert time.monotonic() - started < 0.5
    assert isinstance(caught.value, RetriableError)
    assert caught.value.retry_after is not None and 4.0 < caught.value.retry_after <= 5.0


def test_cost_beyond_the_budget_is_refused(redis_url):
    limiter = RedisRateLimiter(redis_lib.Redis.from_url(redis_url), [Budget("k", 3, 1.0)])
    with pytest.raises(ValueError, match="cost 4"):
        limiter.acquire("k", cost=4)
    with pytest.raises(KeyError, match="no rate budget"):
        limiter.acquire("undeclared")


def test_pause_holds_every_limiter_on_the_same_redis(redis_url):
    one = RedisRateLimiter(redis_lib.Redis.from_url(redis_url), [Budget("k", 100, 10.0)])
    other = RedisRateLimiter(redis_lib.Redis.from_url(redis_url), [Budget("k", 100, 10.0)])
    one.pause("k", 0.6)
    started = time.monotonic()
    other.acquire("k")
    assert time.monotonic() - started >= 0.55


# -- the HubSpot connector on the shared budget ------------------------------------------------


def hubspot(fake: FakeHubSpot, redis_url: str, **settings: Any) -> HubSpotConnector:
    values: dict[str, Any] = {"access_token": SecretStr(TOKEN), "api_base_url": fake.url}
    values.update(settings)
    return HubSpotConnector(HubSpotSettings(**values), redis=redis_lib.Redis.from_url(redis_url))


def test_connectors_draw_from_one_budget_through_redis(fake_hubspot, redis_url):
    a = hubspot(fake_hubspot, redis_url, rate_limit_per_10s=3, rate_max_wait_s=0.3)
    b = hubspot(fake_hubspot, redis_url, rate_limit_per_10s=3, rate_max_wait_s=0.3)
    a.read_many("deal", ["1"])
    a.read_many("deal", ["1"])
    b.read_many("deal", ["1"])
    with pytest.raises(RateBudgetExhausted) as caught:
        b.read_many("deal", ["1"])
    assert caught.value.retry_after is not None and caught.value.retry_after > 9
    assert len(fake_hubspot.requests_to("/batch/read")) == 3


def test_429_with_retry_after_is_retriable_and_does_not_pause_the_budget(fake_hubspot, redis_url):
    connector = hubspot(fake_hubspot, redis_url)
    fake_hubspot.fail_next(429, headers={"Retry-After": "7"},
                           body={"status": "error", "message": "You have reached your daily limit.",
                                 "errorType": "RATE_LIMIT", "policyName": "DAILY"})  # fmt: skip
    with pytest.raises(RetriableError) as caught:
        connector.read_many("deal", ["1"])
    assert caught.value.retry_after == 7.0 and "429" in str(caught.value)
    started = time.monotonic()
    connector.read_many("deal", ["1"])
    assert time.monotonic() - started < 0.5


def test_ten_secondly_429_pauses_the_shared_budget_for_every_worker(fake_hubspot, redis_url):
    hit, other = hubspot(fake_hubspot, redis_url), hubspot(fake_hubspot, redis_url)
    fake_hubspot.fail_next(429, headers={"Retry-After": "1"},
                           body={"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                                 "errorType": "RATE_LIMIT", "correlationId": "c0ffee",
                                 "policyName": "TEN_SECONDLY_ROLLING"})  # fmt: skip
    with pytest.raises(RetriableError) as caught:
        hit.read_many("deal", ["1"])
    assert caught.value.retry_after == 1.0
    limited_at = fake_hubspot.requests[-1]["at"]

    other.read_many("deal", ["1"])  # another worker: waits the pause out before calling

    assert fake_hubspot.requests[-1]["at"] - limited_at >= 0.9
    assert redis_lib.Redis.from_url(redis_url).exists(f"partnerhub:rate:{API_BUDGET}:pause") == 0


def test_ten_secondly_429_without_retry_after_pauses_for_the_interval(fake_hubspot, redis_url):
    connector = hubspot(fake_hubspot, redis_url)
    fake_hubspot.fail_next(
        429,
        headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "700"},
        body={"status": "error", "message": "limit", "policyName": "TEN_SECONDLY_ROLLING"},
    )
    with pytest.raises(RetriableError) as caught:
        connector.read_many("deal", ["1"])
    assert caught.value.retry_after == pytest.approx(0.7)
    pttl = redis_lib.Redis.from_url(redis_url).pttl(f"partnerhub:rate:{API_BUDGET}:pause")
    assert 0 < pttl <= 700
