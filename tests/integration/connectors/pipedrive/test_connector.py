"""The Pipedrive connector against the fake Pipedrive behind two Prism proxies (v2 and v1 specs):
every request it sends is validated against Pipedrive's OpenAPI spec (the ``pipedrive`` fixture
fails a test on any Prism violation), and every answer it reads is spec-checked on its way back."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis as redis_lib

from connectors.errors import MalformedPayload, SignatureInvalid
from connectors.pipedrive import field_name
from connectors.pipedrive.webhooks import basic_auth_header
from connectors.ratelimit import RateBudgetExhausted
from connectors.values import InboundRequest
from tests.support.fake_pipedrive import HUB_USER_ID
from tests.support.pipedrive_fixtures import WEBHOOK_PASSWORD, WEBHOOK_USER


def referral_payload(
    tracking_id: str, email: str = "jane@acme-corp.com", domain: str = "acme-corp.com"
) -> dict[str, Any]:
    return {
        "tracking_id": tracking_id,
        "deal": {
            "title": "Acme Corp",
            "stage_id": "1",
            "pipeline_id": "1",
            "custom_fields": {"partnerhub_partner_id": "7", "partnerhub_source": "partner_referral"},
        },
        "contact": {
            "email": email,
            "first_name": "Jane",
            "last_name": "Doe",
            "custom_fields": {"partnerhub_partner_id": "7", "partnerhub_tracking_id": tracking_id},
        },
        "company": {"domain": domain, "name": "Acme Corp", "custom_fields": {"partnerhub_partner_id": "7"}},
        "owner_id": None,
    }


def request(body: dict[str, Any], auth: str | None) -> InboundRequest:
    headers = {"content-type": "application/json"}
    if auth is not None:
        headers["authorization"] = auth
    return InboundRequest("POST", "https://hooks.example.com/webhooks/pipedrive", headers, json.dumps(body).encode())


def test_setup_creates_custom_fields_resolved_by_name(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    assert "deal.custom_fields.partnerhub_tracking_id is missing" in crm.missing_setup()
    lines = crm.ensure_setup()
    assert "deal.custom_fields.partnerhub_tracking_id: created ('Partnerhub tracking ID', text)" in lines
    assert crm.missing_setup() == []
    assert all(line.endswith(": present") for line in pipedrive_connector().ensure_setup())
    key = pipedrive.fake.field_key("deal", "partnerhub_tracking_id")
    assert len(key) == 40 and field_name("Partnerhub tracking ID") == "partnerhub_tracking_id"
    # a deal written with names lands under the hash key; read back, it is addressed by name again
    deal_id = crm.create_referral_deal(referral_payload("R-AAAA"), idempotency_key="k1")["deal_id"]
    assert pipedrive.fake.records["deal"][int(deal_id)]["custom_fields"][key] == "R-AAAA"
    [record] = crm.read_many("deal", [deal_id])
    assert record.raw["custom_fields"]["partnerhub_tracking_id"] == "R-AAAA"
    assert record.raw["stage_or_outcome"] == "1" and record.version_ms
    assert crm.read_many("deal", ["999999"]) == []  # gone: absent, not an error
    other = pipedrive.fake.add("deal", {"title": "Other"})
    assert sorted(r.id for r in crm.read_many("deal", [deal_id, str(other), "999999"])) == sorted([deal_id, str(other)])
    assert pipedrive.fake.requests_by_path[f"GET /api/v2/deals/{deal_id}"] == 1  # one id: the 1-token call


def test_referral_deal_is_created_once_and_reports_what_it_wrote(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    crm.ensure_setup()
    first = crm.create_referral_deal(referral_payload("R-BBBB"), idempotency_key="k")
    again = crm.create_referral_deal(referral_payload("R-BBBB"), idempotency_key="k")
    fake = pipedrive.fake
    assert (
        len(fake.records["deal"]) == 1 and len(fake.records["person"]) == 1 and len(fake.records["organization"]) == 1
    )
    assert (again["deal_id"], again["contact_id"], again["company_id"]) == (
        first["deal_id"],
        first["contact_id"],
        first["company_id"],
    )
    assert first["created"] == {
        "company": [first["company_id"]],
        "contact": [first["contact_id"]],
        "deal": [first["deal_id"]],
    }
    assert again["created"] == {} and again["written"] == {}
    deal = fake.records["deal"][int(first["deal_id"])]
    assert deal["person_id"] == int(first["contact_id"]) and deal["org_id"] == int(first["company_id"])
    assert deal["stage_id"] == 1 and deal["title"] == "Acme Corp"
    key = fake.field_key("deal", "partnerhub_tracking_id")
    assert first["written"]["deal"][first["deal_id"]][f"custom_fields.{key}"] == "R-BBBB"
    person = fake.records["person"][int(first["contact_id"])]
    assert person["name"] == "Jane Doe" and person["emails"][0]["value"] == "jane@acme-corp.com"
    # conflicts: the open deal through the domain and through the email
    both = crm.find_conflicts(email="jane@acme-corp.com", domain="acme-corp.com")
    assert [(m.kind, m.object_id, m.matched_on) for m in both] == [("open_deal", first["deal_id"], "email")]
    by_domain = crm.find_conflicts(email=None, domain="acme-corp.com")
    assert [(m.kind, m.object_id, m.matched_on) for m in by_domain] == [("open_deal", first["deal_id"], "domain")]
    assert crm.find_conflicts(email="nobody@else.com", domain="else.com") == []
    parties = crm.deal_parties(first["deal_id"])
    assert parties.emails == ("jane@acme-corp.com",) and parties.domains == ("acme-corp.com",)


def test_update_deal_and_task_once(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    crm.ensure_setup()
    deal_id = crm.create_referral_deal(referral_payload("R-CCCC"), idempotency_key="k")["deal_id"]
    result = crm.update_deal(
        {"tracking_id": "R-CCCC", "custom_fields": {"partnerhub_partner_id": "9"}}, idempotency_key="u"
    )
    key = pipedrive.fake.field_key("deal", "partnerhub_partner_id")
    assert result == {"deal_id": deal_id, "written": {"deal": {deal_id: {f"custom_fields.{key}": "9"}}}}
    assert pipedrive.fake.records["deal"][int(deal_id)]["custom_fields"][key] == "9"
    task = {
        "subject": "Call Alpha Partners",
        "body": "They went quiet",
        "owner_id": str(HUB_USER_ID),
        "due_at": "2026-12-01T09:30:00Z",
    }
    one = crm.create_task(task, idempotency_key="task-1")
    two = crm.create_task(task, idempotency_key="task-1")
    assert one["task_id"] == two["task_id"] and len(pipedrive.fake.activities) == 1
    activity = pipedrive.fake.activities[int(one["task_id"])]
    assert (activity["type"], activity["due_date"], activity["due_time"]) == ("task", "2026-12-01", "09:30")


def test_polling_streams_v2_cursor_pages_and_v1_lead_offsets(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    crm.ensure_setup()
    pipedrive.fake.seed_records("deals", 1_200)
    pages = crm.fetch_changes("deal", None)
    first = next(pages)  # streamed: one request per page, made when the page is asked for
    assert len(first.records) == 500 and first.cursor.value["cursor"]
    assert pipedrive.fake.requests_by_path["GET /api/v2/deals"] == 1
    # killed here, resumed from the saved cursor: the rest, nothing twice
    rest = list(crm.fetch_changes("deal", first.cursor))
    ids = [r.id for r in first.records] + [r.id for p in rest for r in p.records]
    assert ids == [str(i) for i in range(1, 1_201)]
    assert pipedrive.fake.requests_by_path["GET /api/v2/deals"] == 3
    final = rest[-1].cursor.value
    assert final == {"since": "2024-01-01T00:20:00Z"}  # the newest update_time seen
    # next poll from there: only the boundary record and what changed since
    fresh = pipedrive.fake.add("deal", {"title": "New one"})
    later = [r.id for p in crm.fetch_changes("deal", rest[-1].cursor) for r in p.records]
    assert later == ["1200", str(fresh)]
    query = pipedrive.fake.requests[-1]["query"]
    assert query["sort_by"] == "update_time" and query["limit"] == "500" and query["updated_since"] == final["since"]

    # leads: v1 offset paging, custom fields by name
    for n in range(3):
        pipedrive.fake.add_lead(f"Lead {n}", custom={"partnerhub_tracking_id": f"R-L{n}"})
    crm_small = pipedrive_connector(page_size=2)
    lead_pages = list(crm_small.fetch_changes("lead", None))
    assert [len(p.records) for p in lead_pages] == [2, 1]
    assert lead_pages[0].cursor.value["start"] == 2
    assert [r.raw["custom_fields"]["partnerhub_tracking_id"] for p in lead_pages for r in p.records] == [
        "R-L0",
        "R-L1",
        "R-L2",
    ]
    assert [q["query"].get("start") for q in pipedrive.fake.requests if q["path"] == "/v1/leads"] == ["0", "2"]


def test_token_budget_is_shared_through_redis(pipedrive, pipedrive_connector, redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    a = pipedrive_connector(daily_token_budget=25, rate_max_wait_s=0)
    b = pipedrive_connector(daily_token_budget=25, rate_max_wait_s=0)
    a.use_redis(client)
    b.use_redis(client)
    list(a.fetch_changes("deal", None))  # GET /deals: 10 tokens
    list(b.fetch_changes("company", None))  # GET /organizations: 10 tokens, from the same budget
    with pytest.raises(RateBudgetExhausted) as exc:
        list(a.fetch_changes("contact", None))  # 10 more would make 30 > 25
    assert exc.value.retry_after and exc.value.retry_after > 0
    assert pipedrive.fake.request_count == 2  # the third call never left
    client.close()


def test_a_429_pauses_the_burst_budget_for_every_worker(pipedrive, pipedrive_connector, redis_url):
    from connectors.errors import RetriableError

    client = redis_lib.Redis.from_url(redis_url)
    a, b = pipedrive_connector(rate_max_wait_s=0), pipedrive_connector(rate_max_wait_s=0)
    a.use_redis(client)
    b.use_redis(client)
    pipedrive.fake.script.append((429, {"retry-after": "30"}, {"success": False, "error": "Too many requests"}))
    with pytest.raises(RetriableError) as exc:
        list(a.fetch_changes("deal", None))
    assert exc.value.retry_after == 30
    with pytest.raises(RateBudgetExhausted):
        list(b.fetch_changes("deal", None))
    assert pipedrive.fake.request_count == 1
    client.close()


def test_webhooks_register_idempotent_and_health_reregisters(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    lines = crm.register_webhooks("https://hooks.example.com")
    assert len(lines) == 4 and all(line.endswith("(created)") for line in lines)
    hooks = pipedrive.fake.webhooks
    assert {h["event_object"] for h in hooks.values()} == {"deal", "person", "organization", "lead"}
    assert all(
        h["http_auth_user"] == WEBHOOK_USER
        and h["http_auth_password"] == WEBHOOK_PASSWORD
        and h["version"] == "2.0"
        and h["subscription_url"] == "https://hooks.example.com/webhooks/pipedrive"
        for h in hooks.values()
    )
    assert all(line.endswith("(present)") for line in crm.register_webhooks("https://hooks.example.com"))
    assert len(hooks) == 4 and crm.check_webhooks("https://hooks.example.com") == []
    by_object = {h["event_object"]: h["id"] for h in hooks.values()}
    pipedrive.fake.ban_webhook(by_object["deal"])
    pipedrive.fake.drop_webhook(by_object["person"])
    problems = crm.check_webhooks("https://hooks.example.com")
    assert len(problems) == 2 and any("inactive" in p for p in problems) and any("gone" in p for p in problems)
    assert len(pipedrive.fake.webhooks) == 4 and all(h["is_active"] == 1 for h in pipedrive.fake.webhooks.values())
    assert crm.check_webhooks("https://hooks.example.com") == []


def test_webhook_basic_auth_and_parsing(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    person = pipedrive.fake.add("person", {"name": "Jane Doe", "emails": [{"value": "Jane@Acme.com", "primary": True}]})
    body = pipedrive.fake.delete("person", person)
    good = basic_auth_header(WEBHOOK_USER, WEBHOOK_PASSWORD)
    crm.verify_webhook(request(body, good))
    for bad in (
        None,
        basic_auth_header(WEBHOOK_USER, "wrong"),
        basic_auth_header("other", WEBHOOK_PASSWORD),
        "Basic !!!",
        "Bearer x",
    ):
        with pytest.raises(SignatureInvalid):
            crm.verify_webhook(request(body, bad))
    [change] = crm.parse_webhook(request(body, good)).changes
    assert (change.object_type, change.event_type, change.object_id) == ("contact", "contact.deletion", str(person))
    assert change.payload["email"] == "jane@acme.com" and change.event_key == body["meta"]["id"]
    with pytest.raises(MalformedPayload):
        crm.parse_webhook(request({"v": 1, "current": {}}, good))
    with pytest.raises(MalformedPayload):
        crm.parse_webhook(InboundRequest("POST", "u", {}, b"[1]"))
    note = {
        "meta": {"id": "n1", "action": "create", "entity": "note", "entity_id": "5"},
        "data": {"id": 5},
        "previous": None,
    }
    assert crm.parse_webhook(request(note, good)).changes == ()


def test_changed_fields_say_what_changed_and_app_changes_are_never_echoes(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    crm.ensure_setup()
    deal = pipedrive.fake.add("deal", {"title": "X"})
    key = pipedrive.fake.field_key("deal", "partnerhub_partner_id")
    by_api = pipedrive.fake.change("deal", deal, source="api", stage_id=3, custom={"partnerhub_partner_id": "P1"})
    assert crm.changed_fields(by_api) == {"stage_id": 3, f"custom_fields.{key}": "P1"}
    by_person = pipedrive.fake.change("deal", deal, source="app", stage_id=4)
    assert crm.changed_fields(by_person) is None
    record, partial = crm.record_from_event(by_api)
    assert partial and record["stage_or_outcome"] == "3" and record["custom_fields"][key] == "P1"
    [change] = crm.parse_webhook(
        request(pipedrive.fake.change("deal", deal, person_id=9), basic_auth_header(WEBHOOK_USER, WEBHOOK_PASSWORD))
    ).changes
    assert change.event_type == "associationChange"


def test_upsert_many_creates_and_updates_one_request_each(pipedrive, pipedrive_connector):
    crm = pipedrive_connector()
    crm.ensure_setup()
    results = crm.upsert_many(
        "company",
        [{"name": "Initech", "custom_fields": {"partnerhub_company_domain": "initech.com"}}, {"name": "Umbrella"}],
        key="id",
    )
    assert [r.created for r in results] == [True, True] and all(r.id for r in results)
    updated = crm.upsert_many("company", [{"id": results[1].id, "name": "Umbrella Corp"}], key="id")
    assert updated[0].created is False
    assert pipedrive.fake.records["organization"][int(results[1].id)]["name"] == "Umbrella Corp"
    bad = crm.upsert_many("company", [{"name": "X", "custom_fields": {"no_such_field": "1"}}], key="id")
    assert bad[0].error and "no custom field named 'no_such_field'" in bad[0].error


def test_prism_refuses_a_request_that_breaks_the_spec(pipedrive, pipedrive_connector):
    """The contract check is live: a body the spec refuses never reaches the fake."""
    from connectors.errors import FatalError

    crm = pipedrive_connector()
    with pytest.raises(FatalError, match="422"):
        crm._api.send("POST", "v2", "/deals", body={"title": "x", "stage_id": "not a number"})
    assert pipedrive.fake.request_count == 0
    assert pipedrive.violations()
    pipedrive.v2.log_path.write_text("")  # seen and expected: not a failure of this test
