"""`partnerhub mappings …` through Typer (CliRunner) and as a real process (the shadow diff against
a real SQLite inbox: tests/integration/mapping/test_mapping_diff.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.mappings import app
from hub.mapping import mapping_files
from hub.mapping.schema import schema_text
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
        DEALS.read_text()
        .replace("contractsent: proposal_sent", "contractsent: proposal")
        .replace("target: deal", "target: deal\nfileds: {}")
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
    sample.write_text(
        json.dumps(
            {
                "id": "42",
                "properties": {
                    "dealname": "Acme",
                    "dealstage": "closedwon",
                    "pipeline": "default",
                    "amount": "99.99",
                    "deal_currency_code": "EUR",
                    "hs_lastmodifieddate": "2024-05-02T10:00:00.000Z",
                },
            }
        )
    )
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
    sample.write_text(
        json.dumps(
            [
                {
                    "objectId": 7,
                    "propertyName": "dealstage",
                    "propertyValue": "closedlost",
                    "eventType": "deal.propertyChange",
                    "occurredAt": 1,
                }
            ]
        )
    )
    result = runner.invoke(app, ["preview", str(DEALS), "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "target": "deal",
            "key": "7",
            "version_ms": None,
            "fields": {"external_id": "7", "stage": "closedlost", "status": "closed_lost"},
        }
    ]


def test_preview_outbound_prints_the_exact_payload(tmp_path: Path) -> None:
    sample = tmp_path / "deal.json"
    sample.write_text(
        json.dumps(
            {
                "external_id": "42",
                "amount": 1234,
                "currency": "KWD",
                "close_date": "2024-06-30T00:00:00Z",
                "tracking_id": "T-9",
            }
        )
    )
    result = runner.invoke(app, ["preview", str(DEALS), "--sample", str(sample), "--direction", "out"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "id": "42",
        "properties": {
            "amount": "1.234",
            "deal_currency_code": "KWD",
            "closedate": "2024-06-30T00:00:00.000Z",
            "partnerhub_tracking_id": "T-9",
        },
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
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{len(mapping_files(MAPPINGS))} mapping files OK" in ok.stdout

    broken = tmp_path / "sendgrid" / "events.yaml"
    broken.parent.mkdir()
    broken.write_text((MAPPINGS / "sendgrid" / "events.yaml").read_text().replace("[email]", "[emial]"))
    bad = subprocess.run(
        [sys.executable, "-m", "hub.cli.mappings", "check", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        f"{broken}:31:17: fields.email.transform.0: unknown transform 'emial' (did you mean 'email'?)"
    ]
    assert bad.stderr.strip() == "1 problem"
