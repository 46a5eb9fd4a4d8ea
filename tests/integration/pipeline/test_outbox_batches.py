"""CRM record writes leave the outbox in batch calls: HubSpot 100 records a call, Salesforce 200,
each row keeping its own outcome (one refused record fails alone, a 429 retries the batch, a
retried batch writes each record once), with an echo fingerprint per record written. Call counts
are asserted against the fakes, never times."""

from __future__ import annotations

import math
import os
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from hub.pipeline import queue
from hub.pipeline.models import EchoFingerprint, InboxEvent, OutboxItem
from hub.pipeline.outbox import owe_record_write
from hub.pipeline.store import upgrade, utcnow
from hub.pipeline.work import take_due
from hub.runtime.context import Hub, set_current
from hub.runtime.jobs import dispatch_outbox_items
from hub.runtime.settings import load_settings
from tests.support.faults import Faults
from tests.support.hubspot_hub import hubspot_env


def open_hub(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Hub:
    for key in [k for k in os.environ if k.startswith("PARTNERHUB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PARTNERHUB_WORKER__BACKOFF_BASE_S", "0.01")
    monkeypatch.setenv("PARTNERHUB_WORKER__BACKOFF_MAX_S", "0.02")
    monkeypatch.setenv("PARTNERHUB_WORKER__WRITE_LINGER_S", "0")  # a test that lingers sets its own
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    upgrade(database_url)
    hub = Hub.open(load_settings())
    set_current(hub)
    return hub


def owe_writes(hub: Hub, crm: str, obj: str, key: str, records: list[dict[str, Any]], tag: str = "w") -> list[int]:
    with hub.sessions() as s, s.begin():
        ids = [
            owe_record_write(s, natural_key=f"{tag}:{n}", connector=crm, object_type=obj, key=key, record=record)
            for n, record in enumerate(records)
        ]
    assert all(i is not None for i in ids)
    return [i for i in ids if i is not None]


def dispatch_as_queued(ids: list[int]) -> None:
    """As the workers run them: one job per ``IDS_PER_JOB`` ids, in order."""
    for start in range(0, len(ids), queue.IDS_PER_JOB):
        dispatch_outbox_items(ids[start : start + queue.IDS_PER_JOB])


def states(hub: Hub, ids: list[int]) -> dict[str, int]:
    with hub.sessions() as s:
        rows = s.execute(
            select(OutboxItem.state, func.count()).where(OutboxItem.id.in_(ids)).group_by(OutboxItem.state)
        ).all()
    return {str(state): n for state, n in rows}


def writes(fake: Any, path_part: str) -> int:
    return sum(n for name, n in fake.request_counts.items() if path_part in name)


@pytest.fixture
def hubspot_hub(database_url, redis_url, monkeypatch, fake_hubspot):  # type: ignore[no-untyped-def]
    hub = open_hub(database_url, redis_url, monkeypatch, hubspot_env(fake_hubspot))
    hub.connectors["hubspot"].ensure_setup()  # type: ignore[attr-defined]  # the partnerhub_* properties
    try:
        yield hub
    finally:
        set_current(None)
        hub.close()


def test_hubspot_250_writes_are_3_batch_calls_with_a_fingerprint_each(hubspot_hub, fake_hubspot):
    hub = hubspot_hub
    hub.settings.worker.write_linger_s = 30.0
    deal_ids = [fake_hubspot.add("deals", {"dealname": f"Deal {n}", "pipeline": "default"}) for n in range(250)]
    ids = owe_writes(
        hub,
        "hubspot",
        "deal",
        "id",
        [{"id": d, "properties": {"partnerhub_partner_id": str(n % 7)}} for n, d in enumerate(deal_ids)],
    )
    before = fake_hubspot.request_count
    dispatch_as_queued(ids)
    # two full calls at once; the last 50 linger for others to join them
    assert states(hub, ids) == {"done": 200, "pending": 50}
    assert fake_hubspot.request_count - before == 2
    with hub.sessions() as s, s.begin():
        assert take_due(s, OutboxItem, requeue_after_s=60, limit=500) == []  # not before the linger ends
        waiting = s.scalars(select(OutboxItem).where(OutboxItem.state == "pending")).all()
        oldest = min(r.created_at for r in waiting)
        assert {r.next_attempt_at for r in waiting} == {oldest + timedelta(seconds=30)}
        for row in waiting:  # the linger passes
            row.created_at -= timedelta(seconds=31)
            row.next_attempt_at -= timedelta(seconds=31)
    with hub.sessions() as s, s.begin():
        due = take_due(s, OutboxItem, requeue_after_s=60, limit=500)  # the reconciler's pass
    assert due == ids[200:]
    dispatch_as_queued(due)
    assert states(hub, ids) == {"done": 250}
    assert fake_hubspot.request_count - before == 3  # 100 + 100 + 50
    assert writes(fake_hubspot, "/batch/update") == 3
    for n, d in enumerate(deal_ids):
        assert fake_hubspot.objects["deals"][d]["partnerhub_partner_id"] == str(n % 7)
    with hub.sessions() as s:
        prints = s.scalars(
            select(EchoFingerprint.object_id).where(
                EchoFingerprint.connector == "hubspot", EchoFingerprint.field == "partnerhub_partner_id"
            )
        ).all()
        assert sorted(prints) == sorted(deal_ids)  # one per record, under the name webhooks use
        row = s.get(OutboxItem, ids[0])
        assert row.result["id"] == deal_ids[0]


def inbox_backlog(hub: Hub, connector: str, deal_ids: list[str]) -> list[int]:
    """Events of ``connector`` waiting in the inbox, one per deal, as a backfill leaves them."""
    now = utcnow()
    with hub.sessions() as s, s.begin():
        events = [
            InboxEvent(
                connector=connector,
                event_key=f"backlog-{d}",
                event_type="deal.propertyChange",
                object_type="deal",
                object_id=d,
                payload={"objectId": d},
                received_at=now,
                state="received",
                attempts=0,
                next_attempt_at=now + timedelta(seconds=60),
            )
            for d in deal_ids
        ]
        s.add_all(events)
        s.flush()
        return [e.id for e in events]


def backdate(hub: Hub, ids: list[int], seconds: float) -> None:
    """The rows were owed ``seconds`` earlier than they were."""
    with hub.sessions() as s, s.begin():
        for row in s.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids))):
            row.created_at -= timedelta(seconds=seconds)


def test_a_backlog_drained_slower_than_the_linger_leaves_in_full_calls(hubspot_hub, fake_hubspot):
    """250 deals backfilled into the inbox, drained in chunks of 40, each chunk's writes owed
    longer ago than the linger (a chunk took longer than 2 s): while the inbox still holds
    events the writes keep waiting for others, so 250 writes are ceil(250 / 100) = 3 calls."""
    hub = hubspot_hub
    hub.settings.worker.write_linger_s = 2.0
    hub.settings.worker.write_max_wait_s = 3600.0  # far away: this test is about the linger only
    deal_ids = [fake_hubspot.add("deals", {"dealname": f"Deal {n}", "pipeline": "default"}) for n in range(250)]
    events = inbox_backlog(hub, "hubspot", deal_ids)
    before = writes(fake_hubspot, "/batch/update")
    owed: list[int] = []
    calls_after_chunk = []
    for start in range(0, 250, 40):
        chunk = slice(start, start + 40)
        with hub.sessions() as s, s.begin():  # the chunk's events are processed ...
            s.execute(update(InboxEvent).where(InboxEvent.id.in_(events[chunk])).values(state="done"))
        ids = owe_writes(  # ... and owed their write-backs, 3 s before the worker gets to them
            hub,
            "hubspot",
            "deal",
            "id",
            [{"id": d, "properties": {"partnerhub_partner_id": f"p{d}"}} for d in deal_ids[chunk]],
            tag=f"chunk{start}",
        )
        backdate(hub, ids, 3)
        owed += ids
        dispatch_as_queued(ids)
        calls_after_chunk.append(writes(fake_hubspot, "/batch/update") - before)
    # a full call whenever 100 were waiting; the last 50 once the inbox had nothing left
    assert calls_after_chunk == [0, 0, 1, 1, 2, 2, 3]
    assert states(hub, owed) == {"done": 250}
    assert writes(fake_hubspot, "/batch/update") - before == math.ceil(250 / 100)
    for d in deal_ids:  # each record its own value
        assert fake_hubspot.objects["deals"][d]["partnerhub_partner_id"] == f"p{d}"


def test_a_write_waits_for_the_inbox_no_longer_than_the_max_wait(hubspot_hub, fake_hubspot):
    hub = hubspot_hub
    hub.settings.worker.write_linger_s = 2.0
    hub.settings.worker.write_max_wait_s = 30.0
    deal_ids = [fake_hubspot.add("deals", {"dealname": f"Deal {n}", "pipeline": "default"}) for n in range(12)]
    inbox_backlog(hub, "hubspot", ["stuck-1"])  # an event that stays in the inbox
    ids = owe_writes(hub, "hubspot", "deal", "id", [{"id": d, "properties": {"dealname": "x"}} for d in deal_ids])
    backdate(hub, ids, 10)
    before = writes(fake_hubspot, "/batch/update")
    dispatch_as_queued(ids)
    assert states(hub, ids) == {"pending": 12}  # past the linger, but the inbox is not drained
    with hub.sessions() as s:
        waiting = s.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids))).all()
        oldest = min(r.created_at for r in waiting)
        # their next look: a linger from now, before the max wait ends
        assert all(oldest + timedelta(seconds=10) < r.next_attempt_at < oldest + timedelta(seconds=30) for r in waiting)
    backdate(hub, ids, 30)  # the max wait passes; the event is still in the inbox
    dispatch_as_queued(ids)
    assert states(hub, ids) == {"done": 12}
    assert writes(fake_hubspot, "/batch/update") - before == 1


def test_hubspot_one_refused_record_fails_alone(hubspot_hub, fake_hubspot):
    hub = hubspot_hub
    deal_ids = [fake_hubspot.add("deals", {"dealname": f"Deal {n}", "pipeline": "default"}) for n in range(16)]
    records = [{"id": d, "properties": {"partnerhub_source": "partner_referral"}} for d in deal_ids]
    records[5] = {"id": deal_ids[5], "properties": {"no_such_property": "x"}}  # HubSpot refuses the batch (400)
    ids = owe_writes(hub, "hubspot", "deal", "id", records)
    before = fake_hubspot.request_count
    dispatch_as_queued(ids)
    assert states(hub, ids) == {"done": 15, "dead": 1}
    # the refused batch split in halves down to the one record: 1 + 2 + 2 + 2 + 2 calls at most
    assert fake_hubspot.request_count - before <= 9
    with hub.sessions() as s:
        dead = s.get(OutboxItem, ids[5])
        assert dead.state == "dead" and dead.last_error_kind == "fatal"
        assert "no_such_property" in dead.last_error
    assert all(
        fake_hubspot.objects["deals"][d].get("partnerhub_source") == "partner_referral"
        for n, d in enumerate(deal_ids)
        if n != 5
    )


def test_hubspot_429_retries_the_batch_and_a_lost_answer_writes_each_record_once(hubspot_hub, fake_hubspot):
    hub = hubspot_hub
    tracking = [f"R-BATCH{n:04d}" for n in range(30)]
    records = [
        {"properties": {"partnerhub_tracking_id": t, "dealname": f"Deal {t}", "pipeline": "default"}} for t in tracking
    ]
    ids = owe_writes(hub, "hubspot", "deal", "partnerhub_tracking_id", records)

    fake_hubspot.faults = Faults(1.0, kinds=("429",), retry_after_s=0)
    dispatch_as_queued(ids)
    assert states(hub, ids) == {"retrying": 30}  # each row backs off on its own
    with hub.sessions() as s:
        assert set(s.scalars(select(OutboxItem.attempts).where(OutboxItem.id.in_(ids)))) == {1}

    # the next attempt is carried out but its answer is lost: written again by the unique key
    fake_hubspot.faults = Faults(1.0, kinds=("lost",), hang_s=0.0)
    hub.connectors["hubspot"].close()  # type: ignore[attr-defined]
    for _ in range(2):
        time.sleep(0.05)
        with hub.sessions() as s, s.begin():
            due = take_due(s, OutboxItem, requeue_after_s=60, limit=100)
        dispatch_as_queued(due)
        fake_hubspot.faults = Faults()  # from the third attempt on, the provider answers
    assert states(hub, ids) == {"done": 30}
    with fake_hubspot._lock:
        by_tracking = [
            oid
            for oid, props in fake_hubspot.objects["deals"].items()
            if props.get("partnerhub_tracking_id") in tracking
        ]
    assert len(by_tracking) == 30  # one deal per tracking id: the retried upserts made no second one


def test_salesforce_450_writes_are_3_collection_calls_and_a_refused_record_fails_alone(
    database_url, redis_url, monkeypatch, fake_salesforce
):
    hub = open_hub(database_url, redis_url, monkeypatch, fake_salesforce.settings_env())
    try:
        opp_ids = [
            fake_salesforce.add(
                "Opportunity", {"Name": f"Opp {n}", "StageName": "Prospecting", "CloseDate": "2030-01-01"}
            )
            for n in range(450)
        ]
        records = [{"Id": o, "Description": f"partner {n % 5}"} for n, o in enumerate(opp_ids)]
        records[17] = {"Id": opp_ids[17], "No_Such_Field__c": "x"}
        ids = owe_writes(hub, "salesforce", "deal", "Id", records)
        dispatch_as_queued(ids)
        assert states(hub, ids) == {"done": 449, "dead": 1}
        calls = {path: n for path, n in fake_salesforce.requests_by_path.items() if "/oauth2/" not in path}
        assert list(calls.values()) == [3] and next(iter(calls)).endswith("/composite/sobjects")  # 200 + 200 + 50
        assert fake_salesforce.violations == []
        with hub.sessions() as s:
            assert "No_Such_Field__c" in s.get(OutboxItem, ids[17]).last_error
            prints = s.scalar(
                select(func.count()).where(
                    EchoFingerprint.connector == "salesforce", EchoFingerprint.field == "Description"
                )
            )
            assert prints == 449
        assert fake_salesforce.records["Opportunity"][opp_ids[3]]["Description"] == "partner 3"
    finally:
        set_current(None)
        hub.close()
