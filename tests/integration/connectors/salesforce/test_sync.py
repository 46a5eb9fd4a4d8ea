"""Polling Salesforce through ``partnerhub sync backfill`` and the running worker: pages of 2,000
on a (SystemModstamp, Id) cursor saved after every page, a resumed sync that repeats nothing, and
a contact deleted in Salesforce forgotten by the hub."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.pipeline.models import InboxEvent, SyncCursor
from tests.support.salesforce_hub import salesforce_env
from tests.support.servers import wait_until


@pytest.fixture
def hub_sf(make_harness, sqlite_url, fake_salesforce, salesforce_mappings):  # type: ignore[no-untyped-def]
    h = make_harness(sqlite_url, **salesforce_env(fake_salesforce, salesforce_mappings))
    h.fake_salesforce = fake_salesforce
    return h


def test_backfill_resumes_from_the_last_saved_page_and_repeats_nothing(hub_sf):
    h = hub_sf
    sf = h.fake_salesforce
    sf.seed_records("Opportunity", 4100)
    first = h.cli("sync", "backfill", "salesforce", "--object", "deal", "--max-pages", "1", "--quiet").stdout
    assert "2000 records in 1 pages, 2000 new events — stopped" in first
    with h.hub.sessions() as s:
        [cursor] = s.scalars(select(SyncCursor)).all()
        assert cursor.cursor["id"] == "0069z0000001999AAA"  # the last record of the first page
    rest = h.cli("sync", "backfill", "salesforce", "--object", "deal", "--quiet").stdout
    # the 5-second overlap window re-reads rows before the cursor (here: all, 1 ms apart); they collapse on their key
    assert "2100 new events — done" in rest
    with h.hub.sessions() as s:
        keys = list(s.scalars(select(InboxEvent.event_key)))
    assert len(keys) == len(set(keys)) == 4100
    queries = [r for r in sf.requests if "/query" in r["path"]]
    assert all(r["path"].endswith(("/queryAll/",)) or "-" in r["path"] for r in queries)
    assert sf.violations == []


def test_a_contact_deleted_in_salesforce_is_forgotten(hub_sf):
    h = hub_sf
    sf = h.fake_salesforce
    kept = sf.add("Contact", {"LastName": "Keep", "Email": "keep@acme.com"})
    gone = sf.add("Contact", {"LastName": "Gone", "Email": "gone@acme.com"})
    sf.delete("Contact", gone)
    h.cli("sync", "backfill", "salesforce", "--object", "contact", "--quiet")
    h.start_worker()
    wait_until(lambda: all(e.state == "done" for e in h.inbox()) and len(h.inbox()) == 2, 30, what="processed")
    by_id = {e.object_id: e for e in h.inbox()}
    assert by_id[gone].event_type == "contact.deletion" and by_id[gone].outcome.startswith("forgotten")
    # a CRM contact is a hub record (crm_contacts): the polled one is applied, not just mapped
    assert by_id[kept].event_type == "contact.polled" and by_id[kept].outcome == "applied"
