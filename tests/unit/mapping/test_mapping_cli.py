"""`partnerhub mappings …` through Typer (CliRunner) and as a real process; the shadow diff
against a real SQLite file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hub.cli.mappings import app
from hub.mapping import mapping_files
from hub.mapping.schema import schema_text
from hub.pipeline.models import InboxEvent, WorkState
from hub.pipeline.store import make_engine, upgrade
from tests.support.servers import REPO

MAPPINGS = REPO / "mappings"
DEALS = MAPPINGS / "hubspot" / "deals.yaml"
runner = CliRunner()


def test_check_default_folder_is_clean() -> None:
    result = runner.invoke(app, ["check", str(MAPPINGS)])
    assert result.exit_code == 0, result.output
    assert f"ok  {DEALS}: hubspot deal -> deal" in result.stdout
    assert result.stdout.rstrip().endswith(f"{len(mapping_files(MAPPINGS))} mapping files OK")


def test_check_uses_the_settings_folder_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "hubspot").mkdir()
    shutil.copy(DEALS, tmp_path / "hubspot" / "deals.yaml")
    monkeypatch.setenv("PARTNERHUB_MAPPINGS_DIR", str(tmp_path))
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "1 mapping file OK" in result.stdout


def test_check_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "hubspot" / "deals.yaml"
    broken.parent.mkdir()
    broken.write_text(
        DEALS.read_text().replace("contractsent: proposal_sent", "contractsent: proposal").replace(
            "target: deal", "target: deal\nfileds: {}"
        )
    )
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{broken}:10:1: fileds: unknown key 'fileds' (did you mean 'fields'?)"
    assert lines[1].startswith(f"{broken}:45:23: fields.status.value_map.values.contractsent: 'proposal' is not")
    assert len(lines) == 2


def test_check_missing_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert f"{tmp_path / 'nowhere'}: no such file or folder" in result.stdout


def test_preview_inbound(tmp_path: Path) -> None:
    sample = tmp_path / "deal.json"
    sample.write_text(json.dumps({"id": "42", "properties": {"dealname": "Acme", "dealstage": "closedwon",
                                  "pipeline": "default", "amount": "99.99", "deal_currency_code": "EUR",
                                  "hs_lastmodifieddate": "2024-05-02T10:00:00.000Z"}}))
    result = runner.invoke(app, ["preview", str(DEALS), "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["key"] == "42"
    assert shown["version_ms"] == 1714644000000
    assert shown["fields"]["status"] == "closed_won"
    assert shown["fields"]["amount"] == 9999
    assert shown["fields"]["modified_at"] == "2024-05-02T10:00:00.000Z"


def test_preview_webhook_event_is_partial(tmp_path: Path) -> None:
    sample = tmp_path / "events.json"
    sample.write_text(json.dumps([{"objectId": 7, "propertyName": "dealstage", "propertyValue": "closedlost",
                                   "eventType": "deal.propertyChange", "occurredAt": 1}]))
    result = runner.invoke(app, ["preview", str(DEALS), "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"target": "deal", "key": "7", "version_ms": None,
         "fields": {"external_id": "7", "stage": "closedlost", "status": "closed_lost"}}
    ]


def test_preview_outbound_prints_the_exact_payload(tmp_path: Path) -> None:
    sample = tmp_path / "deal.json"
    sample.write_text(json.dumps({"external_id": "42", "amount": 1234, "currency": "KWD",
                                  "close_date": "2024-06-30T00:00:00Z", "tracking_id": "T-9"}))
    result = runner.invoke(app, ["preview", str(DEALS), "--sample", str(sample), "--direction", "out"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "id": "42",
        "properties": {"amount": "1.234", "deal_currency_code": "KWD",
                       "closedate": "2024-06-30T00:00:00.000Z", "partnerhub_tracking_id": "T-9"},
    }


def test_preview_reports_a_runtime_error(tmp_path: Path) -> None:
    sample = tmp_path / "deal.json"
    sample.write_text(json.dumps({"id": "1", "properties": {"pipeline": "default", "dealstage": "brand_new"}}))
    result = runner.invoke(app, ["preview", str(DEALS), "--sample", str(sample)])
    assert result.exit_code == 1
    assert "field 'status': not in the value map" in result.stdout
    assert "'brand_new'" in result.stdout


def test_schema_command_prints_the_committed_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == schema_text()
    assert json.loads(result.stdout)["properties"]["version"]["const"] == 1


def test_check_as_a_real_process(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "hub.cli.mappings", "check", "mappings"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{len(mapping_files(MAPPINGS))} mapping files OK" in ok.stdout

    broken = tmp_path / "sendgrid" / "events.yaml"
    broken.parent.mkdir()
    broken.write_text((MAPPINGS / "sendgrid" / "events.yaml").read_text().replace("[email]", "[emial]"))
    bad = subprocess.run(
        [sys.executable, "-m", "hub.cli.mappings", "check", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        f"{broken}:31:17: fields.email.transform.0: unknown transform 'emial' (did you mean 'email'?)"
    ]
    assert bad.stderr.strip() == "1 problem"


# -- shadow diff -----------------------------------------------------------------------------


@pytest.fixture
def inbox_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    upgrade(url)
    now = datetime.now(UTC)
    events = [
        (1, "123", "dealstage", "contractsent", now - timedelta(hours=2)),
        (2, "124", "dealstage", "closedwon", now - timedelta(hours=1)),
        (3, "125", "dealname", "Acme", now - timedelta(minutes=5)),
        (4, "126", "dealstage", "contractsent", now - timedelta(days=3)),  # outside --since 24h
    ]
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        for n, object_id, prop, value, received in events:
            session.add(InboxEvent(
                connector="hubspot", event_key=f"e{n}", event_type="propertyChange", object_type="deal",
                object_id=object_id, version_ms=n,
                payload={"eventId": n, "subscriptionId": 1, "objectId": int(object_id), "propertyName": prop,
                         "propertyValue": value, "eventType": "deal.propertyChange", "occurredAt": n},
                received_at=received, state=WorkState.DONE, attempts=1, next_attempt_at=received,
            ))
        session.add(InboxEvent(
            connector="sendgrid", event_key="s1", event_type="delivered", object_type="event", object_id="x",
            version_ms=1, payload={"event": "delivered"}, received_at=now, state=WorkState.DONE, attempts=1,
            next_attempt_at=now,
        ))
    engine.dispose()
    monkeypatch.setenv("PARTNERHUB_DATABASE_URL", url)
    return url


def test_diff_shows_what_an_edit_would_change(inbox_db: str, tmp_path: Path) -> None:
    edited = tmp_path / "deals.yaml"
    edited.write_text(
        DEALS.read_text()
        .replace("contractsent: proposal_sent", "contractsent: demo_scheduled")
        .replace("transform: [strip]\n  stage:", "transform: [strip, upper]\n  stage:")
    )
    result = runner.invoke(app, ["diff", str(edited), "--since", "24h", "--against", str(MAPPINGS)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hubspot deal 123 (inbox #1, ")
    assert lines[1] == '  status: "proposal_sent" -> "demo_scheduled"'
    assert lines[2].startswith("hubspot deal 125 (inbox #3, ")
    assert lines[3] == '  name: "Acme" -> "ACME"'
    assert lines[4] == "3 events since 24h: 2 would change, 1 unchanged"
    assert len(lines) == 5


def test_diff_reports_new_errors(inbox_db: str, tmp_path: Path) -> None:
    edited = tmp_path / "deals.yaml"
    edited.write_text(DEALS.read_text().replace("        closedwon: closed_won\n", ""))
    result = runner.invoke(app, ["diff", str(edited), "--since", "1d", "--against", str(MAPPINGS)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hubspot deal 124 (inbox #2, ")
    assert lines[1] == (
        "  outcome: mapped -> error: not in the value map; add it to the file (or give the map a default), "
        "then replay the event"
    )
    assert lines[2] == "3 events since 1d: 1 would change, 2 unchanged"


def test_diff_rejects_a_bad_duration(inbox_db: str) -> None:
    result = runner.invoke(app, ["diff", str(DEALS), "--since", "yesterday"])
    assert result.exit_code == 1
    assert "'yesterday' is not a duration like 30m, 24h or 7d" in result.stdout
