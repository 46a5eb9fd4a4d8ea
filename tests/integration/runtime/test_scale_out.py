"""Scaled out for real: two ``partnerhub web`` and two ``partnerhub worker`` processes on one
PostgreSQL and one Redis. Every webhook batch is delivered to both web processes at once (as a
load balancer retrying, or HubSpot redelivering, might): each event is stored once, processed
once (one attempt, one count in the shared metrics, one deal per CRM deal), and the scheduler and
its polling run in one worker only."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import redis as redis_lib
from sqlalchemy import select

from hub.pipeline.metrics import COUNTERS_KEY
from hub.program.models import Deal
from hub.runtime.scheduler import LOCK_KEY
from tests.support.hubspot_hub import deal_event, post_webhook
from tests.support.servers import wait_until

DEALS = 60
STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "contractsent", "closedwon")
POLL_INTERVAL_S = 1.0
SEARCH = "/crm/v3/objects/deals/search"


def counters(redis_url: str) -> dict[str, int]:
    client = redis_lib.Redis.from_url(redis_url)
    try:
        return {k.decode(): int(v) for k, v in client.hgetall(COUNTERS_KEY).items()}
    finally:
        client.close()


def total(found: dict[str, int], name: str) -> int:
    return sum(v for k, v in found.items() if k.split("|", 1)[0] == name)


def test_two_web_and_two_worker_processes_process_each_event_once(
    make_harness: Any, postgres: Any, redis_url: str, fake_hubspot: Any
) -> None:
    for n in range(DEALS):
        fake_hubspot.set_deal(str(3000 + n), datetime(2026, 11, 1, tzinfo=UTC), dealname=f"D{n}", dealstage="closedwon")
    database_url = postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")
    h = make_harness.with_api(
        database_url,
        fake_hubspot,
        PARTNERHUB_SYNC__INTERVAL_S=str(POLL_INTERVAL_S),  # polling on: it must stay in one worker
        PARTNERHUB_WORKER__LEASE_S="10",  # a loaded shared machine never lets a live lease lapse
    )
    webs = [h.start_web(), h.start_web()]
    workers = [h.start_worker(), h.start_worker()]

    # each deal's stages in order, one event each, ten events to a request; every request goes
    # to both web processes at the same moment
    events = [
        deal_event(3000 + n, event_id=1 + n * len(STAGES) + s, occurred_at=1_800_000_000_000 + s, stage=stage)
        for s, stage in enumerate(STAGES)
        for n in range(DEALS)
    ]
    batches = [events[i : i + 10] for i in range(0, len(events), 10)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for batch in batches:
            answers = list(pool.map(lambda url, b=batch: post_webhook(url, b), webs))
            assert [a.status_code for a in answers] == [200, 200]

    def webhook_rows() -> list[Any]:
        return [r for r in h.inbox() if r.event_type == "deal.propertyChange"]

    wait_until(lambda: [r.state for r in webhook_rows()] == ["done"] * len(events), 60, what="events processed")
    # polling has run a few rounds meanwhile (one search request a round: fewer than 100 deals)
    wait_until(lambda: len(fake_hubspot.requests_to(SEARCH)) >= 4, 30, what="polling rounds")
    wait_until(lambda: all(r.state == "done" for r in h.inbox()), 30, what="polled events processed")

    rows = h.inbox()
    stored = webhook_rows()
    assert sorted(int(r.event_key.split(":")[0]) for r in stored) == sorted(e["eventId"] for e in events)  # once
    assert {(r.state, r.attempts) for r in rows} == {("done", 1)}, [
        (r.id, r.event_type, r.object_type, r.object_id, r.attempts, r.last_error_kind, (r.last_error or "")[:300])
        for r in rows
        if r.attempts != 1
    ]  # each claimed and finished once
    found = counters(redis_url)
    assert total(found, "webhooks_received") == len(events)
    assert total(found, "webhooks_duplicate") == len(events)  # the other web process's copy
    assert total(found, "events_processed") == len(rows)  # each processed once, by one worker
    assert total(found, "dead_letters") == 0
    with h.hub.sessions() as session:
        deals = list(session.scalars(select(Deal)))
    assert sorted(d.external_id for d in deals) == sorted(str(3000 + n) for n in range(DEALS))
    assert {d.stage for d in deals} == {"closedwon"}

    # one scheduler: exactly one worker took the lead, and holds it still
    leaders = [w for w in workers if "scheduler lead taken" in w.log_path.read_text()]
    assert len(leaders) == 1, [w.log_path.read_text()[-2000:] for w in workers]
    client = redis_lib.Redis.from_url(redis_url)
    try:
        token = client.get(LOCK_KEY)
        for _ in range(10):  # the lead is renewed in place, never handed back and forth
            time.sleep(0.1)
            assert client.get(LOCK_KEY) == token
    finally:
        client.close()
    # one poller: a round starts at most once an interval, so the rounds' span is at least
    # (rounds - 1) intervals; a poller in each worker would fit twice the rounds in that span
    times = [r["at"] for r in fake_hubspot.requests_to(SEARCH)]
    assert times[-1] - times[0] >= 0.7 * (len(times) - 1) * POLL_INTERVAL_S, times
    assert all(w.proc is not None and w.proc.poll() is None for w in workers)  # none crashed
