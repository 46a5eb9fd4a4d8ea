"""The webhook path through the real ASGI app on a port, a real Redis-compatible server, real RQ
workers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import UTC

import httpx
from sqlalchemy import func, select

from hub.pipeline.models import InboxEvent
from hub.program.models import Deal
from tests.support.hubspot_hub import deal_event
from tests.support.servers import wait_until


def test_same_delivery_three_times_one_row_processed_once(make_harness, database_url):
    h = make_harness(database_url)
    h.start_web()
    events = [
        deal_event(1001, event_id=1, stage="appointmentscheduled"),
        deal_event(1002, event_id=2, stage="qualifiedtobuy"),
    ]
    answers = [h.deliver(events) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == {"received": 2, "duplicates": 0}
    assert answers[1].json() == {"received": 0, "duplicates": 2}
    rows = h.inbox()
    assert len(rows) == 2
    assert {r.state for r in rows} == {"received"}
    # what the hot-path insert wrote reads back exactly through the ORM
    assert [r.payload for r in rows] == events
    assert [(r.event_type, r.object_type, r.object_id, r.version_ms) for r in rows] == [
        ("deal.propertyChange", "deal", "1001", events[0]["occurredAt"]),
        ("deal.propertyChange", "deal", "1002", events[1]["occurredAt"]),
    ]
    assert rows[0].event_key == f"1:7:1001:{events[0]['occurredAt']}"
    assert abs(time.time() - rows[0].received_at.timestamp()) < 60
    assert rows[0].next_attempt_at > rows[0].received_at  # the reconciler looks again later

    h.start_worker()
    wait_until(lambda: set(h.states()) == {"done"}, 30, what="events done")
    rows = h.inbox()
    assert [r.attempts for r in rows] == [1, 1]  # processed once each
    assert {r.outcome for r in rows} == {"applied"}
    with h.hub.sessions() as s:
        deals = {d.external_id: d for d in s.scalars(select(Deal))}
    # the default mapping file turned the stage into the referral status it stands for
    assert deals["1001"].properties == {"external_id": "1001", "stage": "appointmentscheduled", "status": "contacted"}
    assert deals["1002"].stage == "qualifiedtobuy"

    # delivered again after processing: still acknowledged, still nothing new
    again = h.deliver(events)
    assert again.status_code == 200 and again.json()["duplicates"] == 2
    assert len(h.inbox()) == 2


def test_older_event_does_not_overwrite_newer(make_harness, sqlite_url):
    h = make_harness(sqlite_url)
    h.start_web()
    h.start_worker()
    now = int(time.time() * 1000)
    assert h.deliver([deal_event(7, event_id=11, occurred_at=now, stage="closedwon")]).status_code == 200
    wait_until(lambda: h.states() == ["done"], 30, what="first done")
    assert h.deliver([deal_event(7, event_id=10, occurred_at=now - 60_000, stage="contractsent")]).status_code == 200
    wait_until(lambda: h.states() == ["done", "done"], 30, what="second done")
    assert [r.outcome for r in h.inbox()] == ["applied", "stale"]
    with h.hub.sessions() as s:
        deal = s.scalars(select(Deal)).one()
    assert deal.stage == "closedwon" and deal.properties["status"] == "closed_won"
    assert deal.version_ms == now


def test_rejections_store_nothing(make_harness, database_url):
    h = make_harness(database_url)
    url = h.start_web()
    events = [deal_event(5, event_id=1)]

    def count() -> int:
        with h.hub.sessions() as s:
            return s.scalar(select(func.count()).select_from(InboxEvent))

    bad_signature = h.deliver(events, secret="not-the-secret")
    assert bad_signature.status_code == 401
    assert "does not match" in bad_signature.json()["error"]

    stale = h.deliver(events, timestamp_ms=int((time.time() - 301) * 1000))
    assert stale.status_code == 401
    assert "5-minute" in stale.json()["error"]

    unsigned = httpx.post(f"{url}/webhooks/hubspot", content=json.dumps(events))
    assert unsigned.status_code == 401

    malformed = h.deliver([], body=b'[{"objectId": 1, "eventId":')
    assert malformed.status_code == 400
    assert "not JSON" in malformed.json()["error"]

    not_a_batch = h.deliver([], body=b'{"objectId": 1}')
    assert not_a_batch.status_code == 400

    missing_field = h.deliver([{"objectId": 1, "eventId": 2}])
    assert missing_field.status_code == 400

    oversized = h.deliver([], body=b"[" + b" " * (256 * 1024) + b"]")
    assert oversized.status_code == 413

    unknown = httpx.post(f"{url}/webhooks/salesforce-classic", content=b"[]")
    assert unknown.status_code == 404

    assert count() == 0

    metrics = httpx.get(f"{url}/metrics").text
    assert 'partnerhub_webhooks_rejected_total{connector="hubspot",reason="signature"} 3.0' in metrics
    assert 'partnerhub_webhooks_rejected_total{connector="hubspot",reason="malformed"} 3.0' in metrics
    assert 'partnerhub_webhooks_rejected_total{connector="hubspot",reason="too_large"} 1.0' in metrics
    assert 'partnerhub_webhooks_rejected_total{connector="_unknown",reason="unknown_connector"} 1.0' in metrics


def test_health_readiness_and_metrics_include_worker_figures(make_harness, sqlite_url):
    h = make_harness(sqlite_url)
    url = h.start_web()
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").json() == {"status": "ok", "database": "ok", "redis": "ok"}
    first, second = deal_event(1, event_id=1), deal_event(2, event_id=2)
    h.deliver([first, second])
    h.deliver([first])
    h.start_worker()
    wait_until(lambda: set(h.states()) == {"done"}, 30, what="done")
    text = httpx.get(f"{url}/metrics").text
    assert 'partnerhub_webhooks_received_total{connector="hubspot"} 2.0' in text
    assert 'partnerhub_webhooks_duplicate_total{connector="hubspot"} 1.0' in text
    # recorded by the worker process, read by the web process
    assert 'partnerhub_events_processed_total{connector="hubspot",outcome="applied"} 2.0' in text
    assert 'partnerhub_processing_latency_seconds_count{connector="hubspot"} 2.0' in text
    assert 'partnerhub_inbox_rows{state="done"} 2.0' in text
    assert 'partnerhub_queue_depth{queue="inbox"} 0.0' in text


def test_readyz_reports_unreachable_redis(make_harness, sqlite_url, redis_server):
    h = make_harness(sqlite_url, REDIS_URL="redis://127.0.0.1:1/0")
    from tests.support.servers import HubProcess, free_port

    port = free_port()
    proc = HubProcess(["web", "--port", str(port)], h.env, h.tmp_path / "web.log").start()
    h.procs.append(proc)
    wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200, 30, what="healthz")
    answer = httpx.get(f"http://127.0.0.1:{port}/readyz")
    assert answer.status_code == 503
    assert answer.json()["redis"].startswith("unreachable")
    assert answer.json()["database"] == "ok"


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_changes_arriving_together_are_read_in_one_batched_call(make_harness, sqlite_url, fake_hubspot):
    from datetime import datetime

    for n in range(5):
        fake_hubspot.set_deal(str(600 + n), datetime.now(UTC), dealname=f"Deal {n}", dealstage="closedwon")
    h = make_harness.with_api(sqlite_url, fake_hubspot)
    h.start_web()
    assert h.deliver([deal_event(600 + n, event_id=n, stage="closedwon") for n in range(5)]).status_code == 200
    h.start_worker()
    wait_until(lambda: set(h.states()) == {"done"} and len(h.states()) == 5, 30, what="done")
    reads = fake_hubspot.requests_to("/crm/v3/objects/deals/batch/read")
    assert len(reads) == 1
    assert sorted(i["id"] for i in reads[0]["body"]["inputs"]) == [str(600 + n) for n in range(5)]
    with h.hub.sessions() as s:
        assert sorted(d.name for d in s.scalars(select(Deal))) == [f"Deal {n}" for n in range(5)]
