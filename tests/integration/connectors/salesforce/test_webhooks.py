"""Salesforce's pushes through the running web app and worker: Flow callouts (secret header) and
Apex callouts (HMAC-SHA256), good and bad; a deleted contact reported by a callout; and a field
mapped both ways that the hub writes and Salesforce echoes back without a loop."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from hub.pipeline.models import OutboxItem
from hub.pipeline.outbox import enqueue_owed, owe
from tests.support.fake_salesforce import outbound_message
from tests.support.salesforce_hub import (
    APEX_SECRET,
    FLOW_SECRET,
    PATH_SECRET,
    post_callout,
    post_outbound,
    salesforce_env,
)
from tests.support.servers import wait_until


@pytest.fixture
def hub_sf(make_harness, sqlite_url, fake_salesforce, salesforce_mappings):  # type: ignore[no-untyped-def]
    h = make_harness(sqlite_url, **salesforce_env(fake_salesforce, salesforce_mappings))
    h.fake_salesforce = fake_salesforce
    h.start_web()
    h.start_worker()
    return h


def _idle(h) -> bool:  # type: ignore[no-untyped-def]
    return all(e.state == "done" for e in h.inbox()) and all(o.state == "done" for o in _outbox(h))


def _outbox(h) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def test_flow_and_apex_callouts_are_authenticated(hub_sf):
    h = hub_sf
    sf = h.fake_salesforce
    deal = sf.add("Opportunity", {"Name": "Callout deal", "StageName": "Qualification", "CloseDate": "2030-01-01"})
    event = {
        "id": "flow-1",
        "sobject": "Opportunity",
        "change": "updated",
        "record": {"Id": deal, "StageName": "Qualification"},
    }
    assert post_callout(h, [event]).status_code == 200  # Flow: Named Credential header
    assert post_callout(h, [{**event, "id": "flow-2"}], flow_secret="wrong-secret-made-up-00000000").status_code == 401
    assert post_callout(h, [{**event, "id": "flow-3"}], flow_secret=None).status_code == 401
    assert post_callout(h, [{**event, "id": "apex-1"}], apex_secret=APEX_SECRET).status_code == 200  # Apex: HMAC
    assert post_callout(h, [{**event, "id": "apex-2"}], apex_secret=FLOW_SECRET).status_code == 401
    stale = int(time.time()) - 3600
    assert post_callout(h, [{**event, "id": "apex-3"}], apex_secret=APEX_SECRET, timestamp=stale).status_code == 401
    assert post_callout(h, [{**event, "id": "flow-1"}]).status_code == 200  # a repeat adds nothing
    bad = post_callout(h, [{**event, "id": "flow-4", "change": "renamed"}])
    assert bad.status_code == 400 and "change" in bad.json()["error"]
    assert [e.event_key for e in h.inbox()] == ["callout:flow-1", "callout:apex-1"]
    wait_until(lambda: _idle(h), 30, what="callouts processed")
    assert {e.outcome for e in h.inbox()} <= {"applied", "stale"}
    assert sf.violations == []


def test_a_contact_deleted_in_salesforce_arrives_as_a_contact_deletion(hub_sf):
    h = hub_sf
    contact = h.fake_salesforce.add("Contact", {"LastName": "Gone", "Email": "gone@acme.com"})
    h.fake_salesforce.delete("Contact", contact)
    deleted = {
        "id": "flow-del-1",
        "sobject": "Contact",
        "change": "deleted",
        "record": {"Id": contact, "Email": "gone@acme.com"},
    }
    assert post_callout(h, [deleted]).status_code == 200
    [row] = h.inbox()
    assert (row.object_type, row.event_type, row.object_id) == ("contact", "contact.deletion", contact)
    assert row.payload["record"]["Email"] == "gone@acme.com"


def test_a_field_mapped_both_ways_does_not_loop(hub_sf):
    h = hub_sf
    sf = h.fake_salesforce
    deal = sf.add("Opportunity", {"Name": "Loop check", "StageName": "Qualification", "CloseDate": "2030-01-01"})
    # the hub writes the partner id (mapped both ways, owned by the hub) to the opportunity
    with h.hub.sessions() as s, s.begin():
        owe(
            s,
            natural_key="test:update-partner",
            connector="salesforce",
            action="update_deal",
            payload={"deal_id": deal, "Partnerhub_Partner_Id__c": "P-9"},
        )
        info = dict(s.info)
    enqueue_owed(h.hub, info)
    wait_until(lambda: [o.state for o in _outbox(h)] == ["done"], 30, what="update written")
    [opp] = sf.find("Opportunity", Id=deal)
    assert opp["Partnerhub_Partner_Id__c"] == "P-9"
    # Salesforce's workflow sends the change back: the hub's own write, dropped
    echo = outbound_message(
        [
            (
                "04l5g0000000E01AAA",
                "Opportunity",
                {"Id": deal, "Partnerhub_Partner_Id__c": "P-9", "SystemModstamp": opp["SystemModstamp"]},
            )
        ]
    )
    assert post_outbound(h, echo).status_code == 200
    wait_until(lambda: _idle(h) and h.inbox()[0].outcome is not None, 30, what="echo processed")
    assert h.inbox()[0].outcome == "echo"
    # a person's change of the same field goes through, and the hub writes nothing back
    changed = sf.update("Opportunity", deal, Partnerhub_Partner_Id__c="P-10")
    person = outbound_message(
        [
            (
                "04l5g0000000E02AAA",
                "Opportunity",
                {"Id": deal, "Partnerhub_Partner_Id__c": "P-10", "SystemModstamp": changed["SystemModstamp"]},
            )
        ]
    )
    assert post_outbound(h, person).status_code == 200
    wait_until(lambda: len(h.inbox()) == 2 and _idle(h), 30, what="change processed")
    assert h.inbox()[1].outcome not in ("echo", None)
    assert len(_outbox(h)) == 1
    writes = [r for r in sf.requests if r["method"] == "PATCH"]
    assert len(writes) == 1
    logs = "".join(p.read_text(errors="replace") for p in h.tmp_path.glob("*.log"))
    assert PATH_SECRET not in logs and "00D5g000004ABCD!" not in logs  # no path secret, no access token


def test_outbound_messages_wait_with_503_until_they_are_configured(
    make_harness, sqlite_url, fake_salesforce, salesforce_mappings
):
    env = salesforce_env(fake_salesforce, salesforce_mappings)
    env.pop("PARTNERHUB_SALESFORCE__OUTBOUND_PATH_SECRET")
    h = make_harness(sqlite_url, **env)
    h.start_web()
    answer = post_outbound(h, outbound_message([("04l5g0000000F01AAA", "Opportunity", {"Id": "0065g0000000001AAA"})]))
    assert answer.status_code == 503 and "not configured" in answer.text
    assert h.inbox() == []
