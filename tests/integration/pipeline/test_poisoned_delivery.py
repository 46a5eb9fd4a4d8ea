"""One poisoned delivery among many innocent ones: the poison alone is refused (400, nothing of
it stored), every innocent delivery is stored and answered 200, through the real app on a port
(HubSpot webhooks, group commit) and in the group commit itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from connectors.errors import MalformedPayload, WebhookRejected
from connectors.values import Change
from hub.pipeline.inbox import Stored
from hub.pipeline.ingest import InboxWriter, _Pending
from tests.support import aio
from tests.support.hubspot_hub import deal_event
from tests.support.servers import free_port


def test_a_poisoned_event_is_refused_alone_and_every_innocent_delivery_is_stored(make_harness, database_url):
    h = make_harness(database_url)
    h.start_web()
    now = int(time.time() * 1000)
    innocents = [[deal_event(20_000 + n, event_id=n, occurred_at=now)] for n in range(160)]
    # the poison: a signed, well-formed HubSpot event whose occurredAt no 64-bit column holds
    poisons = [[deal_event(999_000 + n, event_id=90_000 + n, occurred_at=10**30)] for n in range(4)]
    bodies = [*innocents[:40], poisons[0], *innocents[40:80], poisons[1], *innocents[80:120]]
    bodies += [poisons[2], *innocents[120:], poisons[3]]
    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = list(pool.map(h.deliver, bodies))

    by_body = {id(b): a for b, a in zip(bodies, answers, strict=True)}
    poisoned = [by_body[id(p)] for p in poisons]
    assert [a.status_code for a in poisoned] == [400] * 4
    assert all("out of range" in a.json()["error"] for a in poisoned)
    innocent = [by_body[id(b)] for b in innocents]
    assert [a.status_code for a in innocent] == [200] * len(innocents)
    assert all(a.json() == {"received": 1, "duplicates": 0} for a in innocent)

    rows = h.inbox()
    assert sorted(int(r.object_id) for r in rows) == [20_000 + n for n in range(160)]
    assert {r.version_ms for r in rows} == {now}


def _change(n: int, version_ms: int = 1_700_000_000_000) -> Change:
    return Change(f"k{n}", "deal.propertyChange", "deal", str(n), version_ms, {"n": n})


def _poison(n: int) -> Change:
    """A change that slipped past every connector's checks and that the database refuses."""
    change = _change(n)
    object.__setattr__(change, "version_ms", 10**30)  # past Change's own check, as a bug would
    return change


async def _group(writer: InboxWriter, requests: list[tuple[Change, ...]]) -> list[Stored | BaseException]:
    """``requests`` committed as ONE group, as concurrent webhook requests are."""
    loop = asyncio.get_running_loop()
    batch = [_Pending("hubspot", changes, loop, loop.create_future()) for changes in requests]
    await loop.run_in_executor(None, writer._write, batch)
    return list(await asyncio.gather(*(p.future for p in batch), return_exceptions=True))


def test_a_group_whose_commit_fails_isolates_the_failing_request(make_harness, database_url):
    hub = make_harness(database_url).hub
    writer = InboxWriter(hub)
    try:
        requests = [(_change(n), _change(n + 1000)) for n in range(12)]
        requests[5] = (_change(5), _poison(6))
        requests[9] = (_poison(9),)
        results = aio.run(_group(writer, requests))
    finally:
        writer.close()
    for n, result in enumerate(results):
        if n in (5, 9):
            assert isinstance(result, MalformedPayload) and result.status == 400, result
        else:
            assert isinstance(result, Stored) and len(result.new_ids) == 2 and result.duplicates == 0, result
    from hub.pipeline.models import InboxEvent

    with hub.sessions() as s:
        keys = sorted(s.query(InboxEvent.event_key))
    expected = sorted(f"k{m}" for n in range(12) if n not in (5, 9) for m in (n, n + 1000))
    assert [k for (k,) in keys] == expected  # nothing of the refused requests, all of the others


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:{port}/gone"])
def test_a_database_that_is_down_is_a_503_for_every_request_of_the_group(make_harness, sqlite_url, url):
    hub = make_harness(sqlite_url).hub
    dead = create_engine(url.format(port=free_port()), pool_pre_ping=False, hide_parameters=True)
    writer = InboxWriter(SimpleNamespace(engine=dead, settings=hub.settings, redis=hub.redis))  # type: ignore[arg-type]
    try:
        results = aio.run(_group(writer, [(_change(n),) for n in range(6)]))
    finally:
        writer.close()
        dead.dispose()
    assert all(isinstance(r, WebhookRejected) and r.status == 503 for r in results), results
