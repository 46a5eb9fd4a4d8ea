"""Retriable failures retry with backoff and complete; permanent ones go dead with an alert, and
``partnerhub replay`` completes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from hub.program.models import Deal
from tests.support.hubspot_hub import TOKEN, deal_event
from tests.support.servers import wait_until

READ = "/crm/v3/objects/deals/batch/read"  # scripted failures hit the engine's read, not start-up checks


def test_rate_limited_call_retries_after_retry_after_and_completes(make_harness, database_url, fake_hubspot):
    fake_hubspot.set_deal("7", datetime(2026, 11, 3, tzinfo=UTC), dealname="Initech", dealstage="contractsent")
    fake_hubspot.fail_next(429, times=2, headers={"Retry-After": "1"}, path=READ)
    h = make_harness.with_api(database_url, fake_hubspot)
    h.start_web()
    h.start_worker()
    h.deliver([deal_event(7, event_id=1)])
    wait_until(lambda: h.states() == ["done"], 40, what="done after 429s")
    row = h.inbox()[0]
    assert row.attempts == 3
    assert row.last_error_kind == "retriable" and "429" in row.last_error  # history of the last failure
    read_calls = fake_hubspot.requests_to(READ)
    assert len(read_calls) == 3  # two refused, one answered (then, once, the deal's parties)
    with h.hub.sessions() as s:
        assert s.scalars(select(Deal)).one().stage == "contractsent"
    assert h.alerts() == []


def test_retries_give_up_after_max_attempts(make_harness, sqlite_url, fake_hubspot):
    fake_hubspot.fail_next(500, times=10, path=READ)
    h = make_harness.with_api(sqlite_url, fake_hubspot, PARTNERHUB_WORKER__MAX_ATTEMPTS="3")
    h.start_web()
    h.start_worker()
    h.deliver([deal_event(8, event_id=1)])
    wait_until(lambda: h.states() == ["dead"], 40, what="dead after max attempts")
    assert h.inbox()[0].attempts == 3
    assert [a.key for a in h.alerts()] == ["dead_letter:inbox:hubspot:retriable"]


def test_permanent_failure_dead_letters_with_alert_and_replay_completes(make_harness, database_url, fake_hubspot):
    fake_hubspot.set_deal("55", datetime(2026, 11, 4, tzinfo=UTC), dealname="Umbrella", dealstage="closedwon")
    fake_hubspot.fail_next(400, path=READ)  # the provider refuses the request: retrying cannot help
    h = make_harness.with_api(database_url, fake_hubspot)
    h.start_web()
    h.start_worker()
    h.deliver([deal_event(55, event_id=1)])
    wait_until(lambda: h.states() == ["dead"], 30, what="dead")
    row = h.inbox()[0]
    assert row.attempts == 1
    assert row.last_error_kind == "fatal"
    assert "hubspot answered 400" in row.last_error
    assert "FatalError" in row.last_traceback
    [alert] = h.alerts()
    assert alert.kind == "dead_letter" and alert.state == "open"
    assert f"#{row.id}" in alert.message

    status = json.loads(h.cli("status", "--json").stdout)
    assert status["inbox"] == {"dead": 1}
    assert status["dead_letters"][0]["id"] == row.id
    assert status["alerts"][0]["key"] == "dead_letter:inbox:hubspot:fatal"

    out = h.cli("replay", "--dead").stdout  # the provider has recovered meanwhile
    assert "replayed 1 inbox event" in out
    wait_until(lambda: h.states() == ["done"], 30, what="done after replay")
    with h.hub.sessions() as s:
        assert s.scalars(select(Deal)).one().name == "Umbrella"
    wait_until(lambda: [a.state for a in h.alerts()] == ["resolved"], 15, what="alert resolved")


def test_auth_failure_raises_connector_alert(make_harness, sqlite_url, fake_hubspot):
    fake_hubspot.fail_next(401, path=READ)
    h = make_harness.with_api(sqlite_url, fake_hubspot)
    h.start_web()
    h.start_worker()
    h.deliver([deal_event(3, event_id=1)])
    wait_until(lambda: h.states() == ["dead"], 30, what="dead")
    assert h.inbox()[0].last_error_kind == "auth"
    keys = sorted(a.key for a in h.alerts())
    assert keys == ["connector_auth:hubspot", "dead_letter:inbox:hubspot:auth"]
    # the token never appears in what is stored or shown
    assert TOKEN not in (h.inbox()[0].last_error + h.inbox()[0].last_traceback)
    assert TOKEN not in h.cli("status", "--json").stdout


def test_replay_by_id_and_time_range(make_harness, sqlite_url):
    h = make_harness(sqlite_url)
    h.start_web()
    h.deliver([deal_event(1, event_id=1), deal_event(2, event_id=2)])
    h.start_worker()
    wait_until(lambda: set(h.states()) == {"done"}, 30, what="done")
    first = h.inbox()[0].id
    assert "replayed 1 inbox event" in h.cli("replay", "--id", str(first)).stdout
    wait_until(
        lambda: h.inbox()[0].state == "done" and h.inbox()[0].attempts == 1 and h.inbox()[0].finished_at,
        30,
        what="replayed",
    )
    assert "replayed 2 inbox event" in h.cli("replay", "--connector", "hubspot", "--since", "1h").stdout
    assert "replayed 0 inbox event" in h.cli("replay", "--until", "2000-01-01T00:00:00").stdout
    bad = h.cli("replay", check=False)
    assert bad.returncode != 0 and "choose what to replay" in (bad.stdout + bad.stderr)
