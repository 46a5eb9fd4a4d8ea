"""Polling into the inbox (``hub.sync``): one transaction per page with its cursor, so a sync
killed halfway resumes from the last saved page and nothing is stored twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.errors import ConfigurationError
from connectors.values import Cursor, Page, Record
from hub.pipeline.models import InboxEvent, SyncCursor
from hub.pipeline.store import upgrade
from hub.pipeline.sync import PollBusy, load_cursor, poll, reset_cursor
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings


class PagedProvider:
    """A provider boundary stand-in: ``total`` records, ``size`` per page, cursor = next offset.
    ``fail_after`` pages, it raises (a process killed mid-sync, a provider outage)."""

    name = "pagedcrm"
    poll_objects = ("deal",)

    def __init__(self, total: int, size: int, fail_after: int | None = None, overlap: int = 0):
        self.total, self.size, self.fail_after, self.overlap = total, size, fail_after, overlap
        self.started_from: list[Any] = []

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        offset = int(cursor.value["offset"]) if cursor else 0
        self.started_from.append(offset)
        served = 0
        # an overlap window re-reads the last records of the previous page (as SOQL/search cursors do)
        offset = max(0, offset - self.overlap)
        while offset < self.total:
            if self.fail_after is not None and served == self.fail_after:
                raise RuntimeError("killed")
            records = tuple(
                Record(
                    object_type=obj,
                    id=str(i),
                    properties={"n": i},
                    version_ms=1_000 + i,
                    raw={"id": str(i), "properties": {"n": i}},
                )
                for i in range(offset, min(offset + self.size, self.total))
            )
            offset += len(records)
            served += 1
            yield Page(records=records, cursor=Cursor({"offset": offset}))

    def close(self) -> None:
        pass


@pytest.fixture
def hub(sqlite_url: str, redis_url: str, tmp_path: Any) -> Iterator[Hub]:
    upgrade(sqlite_url)
    hub = Hub.open(load_settings(database_url=sqlite_url, redis_url=redis_url, data_dir=tmp_path))
    yield hub
    hub.close()


def _stored(hub: Hub) -> list[str]:
    with hub.sessions() as s:
        return [e.object_id for e in s.scalars(select(InboxEvent).order_by(InboxEvent.id))]


def test_a_killed_sync_resumes_from_its_last_page_and_stores_each_record_once(hub: Hub) -> None:
    hub.connectors["pagedcrm"] = PagedProvider(total=25, size=10, fail_after=2, overlap=3)  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="killed"):
        poll(hub, "pagedcrm", "deal")
    assert _stored(hub) == [str(i) for i in range(20)]  # two whole pages, each with its cursor
    assert load_cursor(hub, "pagedcrm", "deal") == Cursor({"offset": 20})

    provider = PagedProvider(total=25, size=10, overlap=3)
    hub.connectors["pagedcrm"] = provider  # type: ignore[assignment]
    result = poll(hub, "pagedcrm", "deal")
    assert provider.started_from == [20]
    assert result.finished and result.records == 8 and result.new_events == 5  # 17..19 again: collapsed
    assert _stored(hub) == [str(i) for i in range(25)]
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent).where(InboxEvent.state == "received")) == 25
        row = s.scalars(select(InboxEvent).where(InboxEvent.object_id == "7")).one()
        assert (row.event_type, row.version_ms, row.payload) == (
            "deal.polled",
            1_007,
            {"id": "7", "properties": {"n": 7}},
        )


def test_max_pages_stops_early_and_the_next_poll_carries_on(hub: Hub) -> None:
    provider = PagedProvider(total=30, size=10)
    hub.connectors["pagedcrm"] = provider  # type: ignore[assignment]
    first = poll(hub, "pagedcrm", "deal", max_pages=1)
    assert (first.pages, first.finished) == (1, False)
    second = poll(hub, "pagedcrm", "deal")
    assert second.finished and provider.started_from == [0, 10] and len(_stored(hub)) == 30
    reset_cursor(hub, "pagedcrm", "deal")
    third = poll(hub, "pagedcrm", "deal")
    assert third.records == 30 and third.new_events == 0  # a full re-read stores nothing new
    with hub.sessions() as s:
        assert s.scalars(select(SyncCursor)).one().cursor == {"offset": 30}


def test_one_poll_per_object_at_a_time_and_clear_errors(hub: Hub) -> None:
    hub.connectors["pagedcrm"] = PagedProvider(total=30, size=10)  # type: ignore[assignment]
    seen: list[int] = []

    def nested(result: Any, count: int) -> None:
        with pytest.raises(PollBusy):
            poll(hub, "pagedcrm", "deal")
        seen.append(count)

    poll(hub, "pagedcrm", "deal", on_page=nested)
    assert seen == [10, 10, 10]
    with pytest.raises(ConfigurationError, match="cannot poll 'invoice'"):
        poll(hub, "pagedcrm", "invoice")
    with pytest.raises(ConfigurationError, match="unknown connector"):
        poll(hub, "nope", "deal")


def test_backfill_cli_killed_halfway_resumes_from_its_last_page(
    make_harness, sqlite_url: str, fake_hubspot: Any
) -> None:
    """`partnerhub sync backfill` against the fake HubSpot: SIGKILLed mid-run, the next run
    starts at the saved cursor and the inbox ends with every record exactly once."""
    import signal
    import subprocess
    import sys
    import time

    total = 3000
    h = make_harness.with_api(
        sqlite_url, fake_hubspot, PARTNERHUB_HUBSPOT__POLL_LAG_S="0", PARTNERHUB_SYNC__INTERVAL_S="0"
    )
    fake_hubspot.seed_records("deals", total)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "sync", "backfill", "hubspot", "-o", "deal"],
        env=h.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while len(h.inbox()) < 600 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished
    stored = len(h.inbox())
    assert 600 <= stored < total
    status = json.loads(h.cli("sync", "status", "--json").stdout)
    assert [(s["connector"], s["object"]) for s in status] == [("hubspot", "deal")]

    out = h.cli("sync", "backfill", "hubspot", "-o", "deal", "-q").stdout
    resumed = int(out.split(": ")[1].split(" records")[0])
    assert resumed <= total - stored + 200  # it carried on from the saved page, not from the start
    assert "done" in out
    ids = [e.object_id for e in h.inbox()]
    assert len(ids) == len(set(ids)) == total

    bad = h.cli("sync", "backfill", "hubspot", "-o", "invoice", check=False)
    assert bad.returncode == 1 and "cannot poll 'invoice'" in bad.stderr
