"""Nothing acknowledged is lost: a worker SIGKILLed mid-job, Redis flushed after the
acknowledgement, Redis flushed while an event waits for its retry."""

from __future__ import annotations

from datetime import UTC, datetime

import redis as redis_lib
from sqlalchemy import select

from hub.program.models import Deal
from tests.support.hubspot_hub import deal_event
from tests.support.servers import wait_until

READ = "/crm/v3/objects/deals/batch/read"  # scripted failures hit the engine's read, not start-up checks


def test_worker_sigkilled_mid_job_event_still_done(make_harness, database_url, fake_hubspot):
    fake_hubspot.set_deal("42", datetime(2026, 11, 1, tzinfo=UTC), dealname="Acme", dealstage="closedwon")
    h = make_harness.with_api(database_url, fake_hubspot)
    h.start_web()
    fake_hubspot.hang_next(path=READ)  # the first API call never answers
    victim = h.start_worker()
    assert h.deliver([deal_event(42, event_id=1, stage="closedwon")]).status_code == 200
    assert fake_hubspot.in_flight.wait(30), "worker never called the API"
    assert h.states() == ["processing"]
    victim.kill()  # SIGKILL mid-job: no clean-up, the row stays "processing" under its lease

    h.start_worker()  # its reconciler re-enqueues the row once the lease (3 s) is over
    wait_until(lambda: h.states() == ["done"], 40, what="done after kill")
    row = h.inbox()[0]
    assert row.attempts == 2
    with h.hub.sessions() as s:
        deal = s.scalars(select(Deal)).one()
    assert (deal.name, deal.stage, deal.properties["status"]) == ("Acme", "closedwon", "closed_won")


def test_redis_flushed_after_acknowledgement(make_harness, database_url, redis_url):
    h = make_harness(database_url)
    h.start_web()
    answer = h.deliver([deal_event(1, event_id=1), deal_event(2, event_id=2)])
    assert answer.status_code == 200 and answer.json()["received"] == 2
    client = redis_lib.Redis.from_url(redis_url)
    assert client.llen("rq:queue:partnerhub-inbox") == 1  # one job carries the request's rows
    client.flushall()  # every job pointer is gone
    assert client.llen("rq:queue:partnerhub-inbox") == 0

    h.start_worker()
    wait_until(lambda: h.states() == ["done", "done"], 40, what="done after flush")
    assert [r.attempts for r in h.inbox()] == [1, 1]


def test_redis_flushed_while_event_waits_for_retry(make_harness, database_url, fake_hubspot, redis_url):
    fake_hubspot.set_deal("9", datetime(2026, 11, 2, tzinfo=UTC), dealname="Globex", dealstage="qualifiedtobuy")
    fake_hubspot.fail_next(503, headers={"Retry-After": "3"}, path=READ)
    h = make_harness.with_api(database_url, fake_hubspot)
    h.start_web()
    h.start_worker()
    h.deliver([deal_event(9, event_id=5)])
    wait_until(lambda: h.states() == ["retrying"], 30, what="retrying")
    row = h.inbox()[0]
    assert row.last_error_kind == "retriable" and "503" in row.last_error
    redis_lib.Redis.from_url(redis_url).flushall()
    wait_until(lambda: h.states() == ["done"], 40, what="done after flush during retry")
    assert h.inbox()[0].attempts == 2
