"""HubSpot records in bulk, against the fake HubSpot API over real HTTP on loopback (request and
answer bodies checked with hubspot-api-client's models): polling through CRM search with a
cursor that loses nothing on stamp boundaries, batch upserts of 100, create_task once per key,
search and association lookups paged through, merges and privacy deletions in the webhook
parser."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.errors import FatalError, RetriableError
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.values import Cursor, InboundRequest, Merge
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.hubspot_hub import TOKEN


def connector_for(fake: FakeHubSpot, *, clock: Any = time.time, **settings: Any) -> HubSpotConnector:
    base: dict[str, Any] = {"access_token": SecretStr(TOKEN), "api_base_url": fake.url, "poll_lag_s": 0}
    base.update(settings)
    return HubSpotConnector(HubSpotSettings(**base), clock=clock)


@pytest.fixture
def hubspot(fake_hubspot: FakeHubSpot) -> Any:
    connector = connector_for(fake_hubspot)
    connector.ensure_setup()
    yield connector
    connector.close()


def searches(fake: FakeHubSpot, obj: str) -> int:
    return fake.request_counts[f"POST /crm/v3/objects/{obj}/search"]


def search_bodies(fake: FakeHubSpot, obj: str) -> list[dict[str, Any]]:
    return [r["body"] for r in fake.requests_to(f"/crm/v3/objects/{obj}/search", "POST")]


# -- polling --------------------------------------------------------------------------------


def test_polling_streams_every_record_once_in_stamp_order_with_a_resumable_cursor(fake_hubspot, hubspot):
    first, last = fake_hubspot.seed_records("deals", 1_000)
    pages = list(hubspot.fetch_changes("deal", None))
    ids = [r.id for p in pages for r in p.records]
    assert ids == [str(i) for i in range(int(first), int(last) + 1)]  # each once, oldest first
    assert all(len(p.records) <= 200 for p in pages)
    assert searches(fake_hubspot, "deals") <= 6  # the bench's target: <= 6 calls per 1,000 records
    body = search_bodies(fake_hubspot, "deals")[1]
    assert body["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert body["limit"] == 200 and "after" not in body  # pages by key: never near the 10,000 cap
    record = pages[0].records[0]
    assert record.raw["properties"]["dealname"] == f"Seeded deal {first}" and record.version_ms

    # resuming from any page's cursor yields exactly what came after that page
    third = pages[2].cursor
    assert third is not None
    stored = Cursor(json.loads(json.dumps(dict(third.value))))  # the hub keeps it as JSON
    rest = [r.id for p in hubspot.fetch_changes("deal", stored) for r in p.records]
    assert rest == ids[sum(len(p.records) for p in pages[:3]) :]

    # nothing new: the last cursor yields nothing; a change after it comes next
    assert list(hubspot.fetch_changes("deal", pages[-1].cursor)) == []
    fake_hubspot.set_deal(first, datetime.now(UTC) + timedelta(seconds=1), dealstage="closedwon", pipeline="default")
    later = connector_for(fake_hubspot, clock=lambda: time.time() + 5)
    again = [r for p in later.fetch_changes("deal", pages[-1].cursor) for r in p.records]
    assert [(r.id, r.properties["dealstage"]) for r in again] == [(first, "closedwon")]
    later.close()


def test_records_sharing_a_stamp_across_page_boundaries_are_neither_lost_nor_repeated(fake_hubspot, hubspot):
    # 450 contacts, 7 per millisecond stamp: every page boundary falls inside a stamp
    first, _ = fake_hubspot.seed_records("contacts", 450, per_stamp=7, step_ms=1)
    seen: list[str] = []
    cursor = None
    while True:  # one page per call, as a sync killed after each page would resume
        page = next(iter(hubspot.fetch_changes("contact", cursor)), None)
        if page is None:
            break
        seen.extend(r.id for r in page.records)
        cursor = page.cursor
    assert sorted(seen, key=int) == [str(int(first) + i) for i in range(450)]
    assert len(seen) == len(set(seen))
    assert all(
        b["filterGroups"][0]["filters"][0]["propertyName"] == "lastmodifieddate"
        for b in search_bodies(fake_hubspot, "contacts")
    )


def test_a_stamp_holding_more_than_a_page_is_drained_in_id_order(fake_hubspot, hubspot):
    # a bulk import: 500 deals modified in the same millisecond, then 30 more later
    first, _ = fake_hubspot.seed_records("deals", 530, per_stamp=500, step_ms=1_000)
    pages = list(hubspot.fetch_changes("deal", None))
    ids = [r.id for p in pages for r in p.records]
    assert ids == [str(int(first) + i) for i in range(530)]
    drains = [b for b in search_bodies(fake_hubspot, "deals") if b["sorts"][0]["propertyName"] == "hs_object_id"]
    assert drains and all({f["operator"] for f in b["filterGroups"][0]["filters"]} == {"EQ", "GT"} for b in drains)
    assert pages[0].cursor is not None and pages[0].cursor.value["id"] == str(int(first) + 199)


def test_polling_stays_behind_the_search_index(fake_hubspot):
    fake_hubspot.add("deals", {"dealname": "just changed", "pipeline": "default"})
    lagging = connector_for(fake_hubspot, poll_lag_s=60)
    assert list(lagging.fetch_changes("deal", None)) == []  # changed < 60 s ago: next poll
    lagging.close()


def test_polling_refuses_a_cursor_it_did_not_make(hubspot):
    with pytest.raises(FatalError, match="not a HubSpot polling cursor"):
        list(hubspot.fetch_changes("deal", Cursor({"ts": "yesterday"})))


def test_the_fake_refuses_paging_past_the_search_cap(fake_hubspot, hubspot):
    fake_hubspot.seed_records("companies", 10_400)
    body = {"filterGroups": [], "limit": 200, "after": "10000"}
    status, _, answer = fake_hubspot.serve(
        "POST", "/crm/v3/objects/companies/search", {"authorization": f"Bearer {TOKEN}"}, json.dumps(body).encode()
    )
    assert status == 400 and "10000" in answer["message"]
    # ...and polling 10,400 records never asks for it
    assert sum(len(p.records) for p in hubspot.fetch_changes("company", None)) == 10_400


# -- batch writes ---------------------------------------------------------------------------


def test_upsert_many_writes_100_a_call_keyed_on_a_unique_property(fake_hubspot, hubspot):
    existing = fake_hubspot.add("contacts", {"email": "old@acme.example", "firstname": "Old"})
    records = [{"properties": {"email": f"p{i}@acme.example", "firstname": f"P{i}"}} for i in range(249)]
    records.append({"properties": {"email": "OLD@acme.example", "firstname": "Renewed"}})
    results = hubspot.upsert_many("contact", records, key="email")
    assert [r.key for r in results] == [f"p{i}@acme.example" for i in range(249)] + ["OLD@acme.example"]
    assert all(r.error is None and r.id for r in results)
    assert sum(r.created for r in results) == 249
    assert results[-1].id == existing and not results[-1].created
    assert fake_hubspot.contacts[existing]["firstname"] == "Renewed"
    calls = fake_hubspot.requests_to("/crm/v3/objects/contacts/batch/upsert", "POST")
    assert [len(c["body"]["inputs"]) for c in calls] == [100, 100, 50]
    assert all(i["idProperty"] == "email" for c in calls for i in c["body"]["inputs"])

    again = hubspot.upsert_many("contact", records, key="email")  # a retry writes, creates nothing
    assert [r.id for r in again] == [r.id for r in results] and not any(r.created for r in again)
    assert len([c for c in fake_hubspot.contacts.values() if c.get("email", "").endswith("acme.example")]) == 250


def test_upsert_many_on_deals_by_tracking_id_and_by_object_id(fake_hubspot, hubspot):
    by_tracking = hubspot.upsert_many(
        "deal",
        [
            {"properties": {"partnerhub_tracking_id": "R-1", "dealname": "One", "pipeline": "default"}},
            {"properties": {"partnerhub_tracking_id": "R-2", "dealname": "Two", "pipeline": "default"}},
            {"properties": {"partnerhub_tracking_id": "R-1", "amount": "100"}},  # the same deal: merged
        ],
        key="partnerhub_tracking_id",
    )
    assert by_tracking[0].id == by_tracking[2].id != by_tracking[1].id
    assert fake_hubspot.deals[by_tracking[0].id] == {
        "partnerhub_tracking_id": "R-1",
        "dealname": "One",
        "pipeline": "default",
        "amount": "100",
    }

    results = hubspot.upsert_many(
        "deal",
        [
            {"id": by_tracking[1].id, "properties": {"dealstage": "closedwon"}},
            {"properties": {"dealname": "Brand new", "pipeline": "default"}},
            {"id": "999999", "properties": {"dealstage": "closedwon"}},
        ],
        key="id",
    )
    assert (results[0].id, results[0].created, results[0].error) == (by_tracking[1].id, False, None)
    assert results[1].created and fake_hubspot.deals[results[1].id]["dealname"] == "Brand new"
    assert results[2].id is None and "999999" in (results[2].error or "")
    assert fake_hubspot.deals[by_tracking[1].id]["dealstage"] == "closedwon"


def test_upsert_many_refuses_a_record_without_its_key_before_writing(fake_hubspot, hubspot):
    sent = fake_hubspot.request_count
    with pytest.raises(FatalError, match="no 'email'"):
        hubspot.upsert_many(
            "contact", [{"properties": {"email": "a@b.example"}}, {"properties": {"firstname": "X"}}], key="email"
        )
    assert fake_hubspot.request_count == sent


def test_writing_1000_records_takes_at_most_11_calls(fake_hubspot, hubspot):
    sent = fake_hubspot.request_count
    records = [
        {"properties": {"partnerhub_tracking_id": f"R-B{i}", "dealname": f"D{i}", "pipeline": "default"}}
        for i in range(1_000)
    ]
    results = hubspot.upsert_many("deal", records, key="partnerhub_tracking_id")
    assert len({r.id for r in results}) == 1_000
    assert fake_hubspot.request_count - sent <= 11


# -- tasks ----------------------------------------------------------------------------------


def test_create_task_makes_one_task_per_idempotency_key(fake_hubspot, hubspot):
    payload = {
        "subject": "Call Alpha Partners",
        "body": "No referral in 60 days",
        "owner_id": "77",
        "due_at": "2026-12-01T09:00:00Z",
    }
    first = hubspot.create_task(payload, idempotency_key="reengage:5:2026-11")
    again = hubspot.create_task(payload, idempotency_key="reengage:5:2026-11")
    assert first["task_id"] == again["task_id"] and first["created"] == {"task": [first["task_id"]]}
    assert again["created"] == {} and len(fake_hubspot.tasks) == 1
    task = fake_hubspot.tasks[first["task_id"]]
    assert task["hs_task_subject"] == "Call Alpha Partners" and task["hubspot_owner_id"] == "77"
    assert task["hs_timestamp"] == str(int(datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp() * 1000))
    assert task["hs_task_status"] == "NOT_STARTED" and task["partnerhub_task_key"] == "reengage:5:2026-11"
    other = hubspot.create_task({**payload, "owner_id": None}, idempotency_key="reengage:6:2026-11")
    assert other["task_id"] != first["task_id"] and "hubspot_owner_id" not in fake_hubspot.tasks[other["task_id"]]


def test_create_task_whose_answer_was_lost_is_found_not_made_again(fake_hubspot, hubspot):
    fake_hubspot.lose_next_answer("/crm/v3/objects/tasks")  # HubSpot makes it; the answer is lost
    with pytest.raises(RetriableError) as caught:
        hubspot.create_task({"subject": "Call Beta"}, idempotency_key="k-1")
    assert caught.value.retry_after is not None and caught.value.retry_after >= 60  # once search has it
    assert len(fake_hubspot.tasks) == 1
    retried = hubspot.create_task({"subject": "Call Beta"}, idempotency_key="k-1")
    assert retried["task_id"] in fake_hubspot.tasks and retried["created"] == {}
    assert len(fake_hubspot.tasks) == 1
    sent = fake_hubspot.request_count
    with pytest.raises(FatalError, match="bad payload"):
        hubspot.create_task({"subject": ""}, idempotency_key="k-2")
    assert fake_hubspot.request_count == sent


# -- lookups paged through ------------------------------------------------------------------


def test_conflict_search_and_association_reads_page_past_the_first_answer(fake_hubspot, hubspot):
    fake_hubspot.assoc_page_size = 3
    companies = [fake_hubspot.add("companies", {"name": f"Acme {i}", "domain": "acme.example"}) for i in range(205)]
    last = companies[-1]
    deals = [
        fake_hubspot.add("deals", {"dealname": f"Deal {i}", "dealstage": "closedlost", "pipeline": "default"})
        for i in range(7)
    ]
    for deal in deals:
        fake_hubspot.associate("companies", last, "deals", deal)
    open_deal = deals[-1]
    fake_hubspot.deals[open_deal]["dealstage"] = "appointmentscheduled"
    matches = hubspot.find_conflicts(email=None, domain="acme.example")
    assert [m.object_id for m in matches if m.kind == "open_deal"] == [open_deal]  # the 205th company's 7th deal
    assert len(fake_hubspot.requests_to("/crm/v3/objects/companies/search")) == 2
    assert fake_hubspot.requests_to(f"/crm/v4/objects/companies/{last}/associations/deals", "GET")


# -- webhooks: merges and privacy deletions -------------------------------------------------


def _parse(events: list[dict[str, Any]]) -> Any:
    return HubSpotConnector.parse_webhook(
        None,
        InboundRequest(  # type: ignore[arg-type]
            method="POST", url="https://hub.example/webhooks/hubspot", headers={}, body=json.dumps(events).encode()
        ),
    )


def test_merge_and_privacy_events_become_changes_the_hub_acts_on(fake_hubspot, hubspot):
    a = fake_hubspot.add("deals", {"dealname": "Acme", "pipeline": "default"})
    b = fake_hubspot.add("deals", {"dealname": "Acme (dup)", "amount": "5000", "pipeline": "default"})
    event = fake_hubspot.merge("deals", a, b, new_id=True)
    [change] = _parse([event]).changes
    survivor = str(event["newObjectId"])
    assert (change.event_type, change.object_type, change.object_id) == ("deal.merge", "deal", survivor)
    assert hubspot.merge_of(change.payload) == Merge(from_ids=(a, b), into_id=survivor)
    assert fake_hubspot.deals[survivor]["amount"] == "5000" and a not in fake_hubspot.deals
    record, partial = HubSpotConnector.record_from_event(change.payload)
    assert record["id"] == survivor and partial

    privacy = {
        "objectId": 123,
        "eventId": 9,
        "subscriptionId": 3,
        "portalId": 62515,
        "occurredAt": 1_700_000_000_000,
        "eventType": "contact.privacyDeletion",
        "email": "gone@acme.example",
    }
    deletion = {**privacy, "eventId": 10, "eventType": "contact.deletion"}
    changes = _parse([privacy, deletion]).changes
    assert [(c.object_type, c.event_type, c.object_id) for c in changes] == [
        ("contact", "contact.privacyDeletion", "123"),
        ("contact", "contact.deletion", "123"),
    ]
    assert changes[0].payload["email"] == "gone@acme.example"
    assert HubSpotConnector.record_from_event(changes[0].payload)[0]["archived"] is True

    broken = {**event, "mergedObjectIds": [], "primaryObjectId": None, "newObjectId": None}
    with pytest.raises(Exception, match="names no merged ids"):
        _parse([broken])


def test_the_fake_merges_through_the_api_as_the_sdk_models_say(fake_hubspot):
    a = fake_hubspot.add("companies", {"name": "Acme", "domain": "acme.example"})
    b = fake_hubspot.add("companies", {"name": "Acme Inc", "country": "DE"})
    headers = {"authorization": f"Bearer {TOKEN}"}
    bad = json.dumps({"primaryObjectId": a, "objectIdToMerge": b, "keep": "both"}).encode()
    status, _, answer = fake_hubspot.serve("POST", "/crm/v3/objects/companies/merge", headers, bad)
    assert status == 400 and "keep" in answer["message"] and b in fake_hubspot.companies
    body = json.dumps({"primaryObjectId": a, "objectIdToMerge": b}).encode()
    status, _, answer = fake_hubspot.serve("POST", "/crm/v3/objects/companies/merge", headers, body)
    assert status == 200 and answer["id"] == a and b not in fake_hubspot.companies
    assert fake_hubspot.companies[a] == {"name": "Acme", "domain": "acme.example", "country": "DE"}
