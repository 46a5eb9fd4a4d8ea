"""Pipedrive webhooks and polling through the running web app, worker and CLI: Basic auth (401,
nothing stored), one inbox row per ``meta.id``, out-of-order versions, a deleted person
forgotten, ``sync backfill`` (v2 cursor pages, v1 lead offsets, resumed after a stop),
``webhooks register`` and the scheduler's health check re-registering a dropped webhook with an
alert."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from connectors.pipedrive.webhooks import basic_auth_header
from hub.pipeline.models import InboxEvent, SyncCursor
from hub.program.models import Deal
from tests.support.flows import idle
from tests.support.pipedrive_fixtures import WEBHOOK_PASSWORD, WEBHOOK_USER
from tests.support.pipedrive_hub import deliver, pipedrive_harness
from tests.support.servers import wait_until


def webhook_only(make_harness, database_url, pipedrive, tmp_path, **extra: str):  # type: ignore[no-untyped-def]
    """The hub with webhook credentials but no API token: events are mapped from their own data."""
    env = {k: v for k, v in pipedrive.env().items() if "API" not in k}
    h = make_harness(database_url, PARTNERHUB_CRM="pipedrive", PARTNERHUB_SYNC__INTERVAL_S="0", **env, **extra)
    h.fake = pipedrive.fake
    h.start_web()
    return h


def deal_event(fake, deal_id: int, *, stage_id: int, at: str, event_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    record = {**fake.records["deal"][deal_id], "stage_id": stage_id, "update_time": at}
    event = fake.event("deal", "change", record, {"stage_id": 1})
    event["meta"]["id"] = event_id
    return event


def test_bad_basic_auth_is_refused_and_nothing_is_stored(make_harness, database_url, pipedrive, tmp_path):
    h = webhook_only(make_harness, database_url, pipedrive, tmp_path)
    deal = pipedrive.fake.add("deal", {"title": "Acme"})
    event = pipedrive.fake.change("deal", deal, stage_id=2)
    for auth in (
        "",
        basic_auth_header(WEBHOOK_USER, "not-the-password"),
        basic_auth_header("intruder", WEBHOOK_PASSWORD),
    ):
        answer = deliver(h, event, auth=auth)
        assert answer.status_code == 401
        assert WEBHOOK_PASSWORD not in answer.text
    assert h.inbox() == []
    malformed = httpx.post(
        f"{h.web_url}/webhooks/pipedrive",
        content=b"{not json",
        timeout=10,
        headers={"authorization": basic_auth_header(WEBHOOK_USER, WEBHOOK_PASSWORD)},
    )
    assert malformed.status_code == 400 and h.inbox() == []
    assert deliver(h, event).status_code == 200
    assert [(e.object_type, e.event_type, e.event_key) for e in h.inbox()] == [("deal", "change", event["meta"]["id"])]


def test_duplicates_collapse_and_older_versions_never_overwrite_newer(make_harness, database_url, pipedrive, tmp_path):
    h = webhook_only(make_harness, database_url, pipedrive, tmp_path)
    deal = pipedrive.fake.add("deal", {"title": "Acme", "stage_id": 1})
    newer = deal_event(pipedrive.fake, deal, stage_id=4, at="2026-05-01T10:00:05Z", event_id="evt-new")
    older = deal_event(pipedrive.fake, deal, stage_id=3, at="2026-05-01T10:00:01Z", event_id="evt-old")
    retry = {**newer, "meta": {**newer["meta"], "attempt": 2}}  # Pipedrive's retry: same meta.id
    for event in (newer, retry, newer, older):
        assert deliver(h, event).status_code == 200
    assert [e.event_key for e in h.inbox()] == ["evt-new", "evt-old"]
    h.start_worker()
    wait_until(lambda: idle(h), 60, what="processed")
    with h.hub.sessions() as s:
        record = s.scalars(select(Deal).where(Deal.source == "pipedrive", Deal.external_id == str(deal))).one()
        assert (record.stage, record.status) == ("4", "proposal_sent")
        outcomes = [e.outcome for e in s.scalars(select(InboxEvent).order_by(InboxEvent.id))]
    assert outcomes[0].startswith("applied") and outcomes[1] == "stale"


def test_a_deleted_person_is_forgotten(make_harness, database_url, pipedrive, tmp_path):
    h = webhook_only(make_harness, database_url, pipedrive, tmp_path)
    person = pipedrive.fake.add("person", {"name": "Jane Doe", "emails": [{"value": "jane@acme.com", "primary": True}]})
    assert deliver(h, pipedrive.fake.delete("person", person)).status_code == 200
    [row] = h.inbox()
    assert (row.object_type, row.event_type, row.object_id) == ("contact", "contact.deletion", str(person))
    assert row.payload["email"] == "jane@acme.com"
    h.start_worker()
    wait_until(lambda: idle(h), 60, what="processed")
    assert h.inbox()[0].outcome.startswith("forgotten")


def test_sync_backfill_pages_v2_by_cursor_and_v1_leads_by_offset(make_harness, database_url, pipedrive, tmp_path):
    h = pipedrive_harness(make_harness, database_url, pipedrive, tmp_path, PARTNERHUB_PIPEDRIVE__PAGE_SIZE="500")
    h.cli("crm", "setup")
    pipedrive.fake.seed_records("deals", 1_100)
    stopped = h.cli("sync", "backfill", "pipedrive", "-o", "deal", "--max-pages", "1", "-q").stdout
    assert "500 records in 1 pages" in stopped and "stopped" in stopped
    with h.hub.sessions() as s:
        cursor = s.scalars(select(SyncCursor).where(SyncCursor.connector == "pipedrive")).one().cursor
    assert cursor["cursor"] and cursor["since"] == "1970-01-01T00:00:00Z"
    done = h.cli("sync", "backfill", "pipedrive", "-o", "deal", "-q").stdout
    assert "600 records in 2 pages" in done and "done" in done
    deals = [e for e in h.inbox() if e.object_type == "deal"]
    assert len(deals) == 1_100 and len({e.object_id for e in deals}) == 1_100
    assert pipedrive.fake.requests_by_path["GET /api/v2/deals"] == 3  # 1,100 records: 3 pages of <= 500

    for n in range(3):
        pipedrive.fake.add_lead(f"Lead {n}", custom={"partnerhub_tracking_id": f"R-L{n}"})
    h2 = pipedrive_harness(make_harness, database_url, pipedrive, tmp_path / "h2", PARTNERHUB_PIPEDRIVE__PAGE_SIZE="2")
    leads = h2.cli("sync", "backfill", "pipedrive", "-o", "lead", "-q").stdout
    assert "3 records in 2 pages" in leads
    rows = [e for e in h.inbox() if e.object_type == "lead"]
    assert sorted(r.payload["custom_fields"]["partnerhub_tracking_id"] for r in rows) == ["R-L0", "R-L1", "R-L2"]
    assert [r["query"].get("start") for r in pipedrive.fake.requests if r["path"] == "/v1/leads"] == ["0", "2"]


def test_webhooks_register_and_the_scheduler_re_registers_a_dropped_one(
    make_harness, database_url, pipedrive, tmp_path
):
    h = pipedrive_harness(
        make_harness,
        database_url,
        pipedrive,
        tmp_path,
        PARTNERHUB_PUBLIC_BASE_URL="https://hooks.example.com",
        PARTNERHUB_PIPEDRIVE__WEBHOOK_CHECK_INTERVAL_S="1",
    )
    out = h.cli("webhooks", "register", "pipedrive").stdout
    assert out.count("(created)") == 4 and WEBHOOK_PASSWORD not in out
    assert h.cli("webhooks", "register", "pipedrive").stdout.count("(present)") == 4
    hooks = pipedrive.fake.webhooks
    assert {h_["event_object"] for h_ in hooks.values()} == {"deal", "person", "organization", "lead"}
    dropped = next(i for i, hook in hooks.items() if hook["event_object"] == "deal")
    pipedrive.fake.drop_webhook(dropped)  # Pipedrive deleted it after 3 days of failures
    h.start_worker()
    wait_until(lambda: any(a.key == "webhooks:pipedrive" for a in h.alerts()), 60, what="webhook alert")
    alert = next(a for a in h.alerts() if a.key == "webhooks:pipedrive")
    assert "deal webhook was gone" in alert.message and "re-registered" in alert.message
    assert sorted(h_["event_object"] for h_ in pipedrive.fake.webhooks.values()) == [
        "deal",
        "lead",
        "organization",
        "person",
    ]
    # the next check finds everything healthy and resolves the alert
    wait_until(
        lambda: all(a.state == "resolved" for a in h.alerts() if a.key == "webhooks:pipedrive"),
        60,
        what="alert resolved",
    )
    assert (
        json.dumps([h_["http_auth_password"] for h_ in pipedrive.fake.webhooks.values()]).count(WEBHOOK_PASSWORD) == 4
    )
