"""HubSpot polling through the running hub: ``partnerhub sync backfill hubspot`` reads the deals
through CRM search (the fake HubSpot, requests checked with hubspot-api-client's models) into the
inbox, page by page with its cursor, and the worker processes turn them into deal records; a
second run reads only what changed since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from hub.pipeline.models import InboxEvent
from hub.program.models import Deal
from tests.support.flows import idle
from tests.support.servers import wait_until


def test_backfill_then_catch_up_reads_each_change_once(make_harness, database_url, fake_hubspot):
    first, last = fake_hubspot.seed_records("deals", 230, per_stamp=4)  # stamps shared across page edges
    h = make_harness.with_api(
        database_url, fake_hubspot, PARTNERHUB_HUBSPOT__RATE_LIMIT_PER_10S="100000", PARTNERHUB_SYNC__INTERVAL_S="0"
    )
    out = h.cli("sync", "backfill", "hubspot", "-q").stdout
    assert "hubspot/deal: 230 records in 2 pages, 230 new events" in out, out
    searches = fake_hubspot.request_counts["POST /crm/v3/objects/deals/search"]
    assert searches == 2  # 230 records, 200 a page, by key
    h.start_worker()
    wait_until(lambda: idle(h), 120, what="polled deals processed")
    with h.hub.sessions() as s:
        external = sorted(s.scalars(select(Deal.external_id)), key=int)
        assert external == [str(i) for i in range(int(first), int(last) + 1)]
        outcomes = {o for o in s.scalars(select(InboxEvent.outcome).where(InboxEvent.connector == "hubspot"))}
        assert outcomes == {"applied"}

    # a salesperson wins one deal; the next poll reads that one change and nothing else
    fake_hubspot.set_deal(
        first,
        datetime.now(UTC) - timedelta(minutes=5),
        dealstage="closedwon",
        amount="777.00",
        pipeline="default",
        dealname=f"Seeded deal {first}",
    )
    again = h.cli("sync", "backfill", "hubspot", "-q").stdout
    assert "hubspot/deal: 1 records in 1 pages, 1 new events" in again, again
    wait_until(lambda: idle(h), 60, what="the change processed")
    with h.hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent).where(InboxEvent.connector == "hubspot")) == 231
        won = s.scalars(select(Deal).where(Deal.external_id == first)).one()
        assert (won.stage, won.amount_minor) == ("closedwon", 77_700)
