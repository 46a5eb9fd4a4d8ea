"""A worker's claims live only as long as it does: its heartbeat keeps a chunk's leases while
the chunk takes its time, and once the worker is SIGKILLed the chunk is re-run by another worker
within seconds (its lease plus one heartbeat), not after the longest a job may take."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis as redis_lib
from sqlalchemy import func, select

from hub.pipeline.metrics import COUNTERS_KEY
from hub.program.models import Deal
from tests.support.hubspot_hub import deal_event
from tests.support.servers import wait_until

READ = "/crm/v3/objects/deals/batch/read"
EVENTS = 30


def test_a_killed_workers_chunk_is_rerun_within_ten_seconds(make_harness, database_url, redis_url, fake_hubspot):
    for n in range(EVENTS):
        fake_hubspot.set_deal(str(700 + n), datetime(2026, 11, 1, tzinfo=UTC), dealname=f"D{n}", dealstage="closedwon")
    lease_s = 4.0
    h = make_harness.with_api(
        database_url,
        fake_hubspot,
        PARTNERHUB_WORKER__LEASE_S=str(lease_s),
        PARTNERHUB_WORKER__RECONCILE_INTERVAL_S="60",
        PARTNERHUB_HUBSPOT__TIMEOUT_S="60",  # the hung call outlasts the wait below, however slow the machine
    )
    h.start_web()
    fake_hubspot.hang_next(path=READ)  # the chunk's read-ahead never answers
    victim = h.start_worker()
    answer = h.deliver([deal_event(700 + n, event_id=n + 1, stage="closedwon") for n in range(EVENTS)])
    assert answer.status_code == 200
    assert fake_hubspot.in_flight.wait(30), "worker never called the API"
    h.start_worker()  # a second worker, idle

    # the victim is alive (hung on its call) for two leases and more: its heartbeat keeps the
    # whole chunk, so the second worker re-runs nothing
    time.sleep(2.5 * lease_s)
    rows = h.inbox()
    assert [(r.state, r.attempts) for r in rows] == [("processing", 1)] * EVENTS

    victim.kill()  # SIGKILL: no clean-up, no more heartbeats
    killed_at = time.monotonic()
    # the reconciler's own pass is a minute away: the live worker's heartbeat finds the lapsed
    # leases and re-runs the chunk
    wait_until(lambda: h.states() == ["done"] * EVENTS, 30, what="chunk re-run after the kill")
    assert time.monotonic() - killed_at < 10
    assert [r.attempts for r in h.inbox()] == [2] * EVENTS
    with h.hub.sessions() as s:  # each effect once: one deal each, each event counted once
        assert s.scalar(select(func.count()).select_from(Deal)) == EVENTS
    client = redis_lib.Redis.from_url(redis_url)
    try:
        processed = client.hgetall(COUNTERS_KEY)
    finally:
        client.close()
    assert sum(int(v) for k, v in processed.items() if k.startswith(b"events_processed|")) == EVENTS
