"""`partnerhub mappings diff` (the shadow diff) against a real SQLite inbox: what an edit would change,
new errors, a bad duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hub.cli.mappings import app
from hub.pipeline.models import InboxEvent, WorkState
from hub.pipeline.store import make_engine, upgrade
from tests.support.servers import REPO

MAPPINGS = REPO / "mappings"


DEALS = MAPPINGS / "hubspot" / "deals.yaml"


runner = CliRunner()


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
            session.add(
                InboxEvent(
                    connector="hubspot",
                    event_key=f"e{n}",
                    event_type="propertyChange",
                    object_type="deal",
                    object_id=object_id,
                    version_ms=n,
                    payload={
                        "eventId": n,
                        "subscriptionId": 1,
                        "objectId": int(object_id),
                        "propertyName": prop,
                        "propertyValue": value,
                        "eventType": "deal.propertyChange",
                        "occurredAt": n,
                    },
                    received_at=received,
                    state=WorkState.DONE,
                    attempts=1,
                    next_attempt_at=received,
                )
            )
        session.add(
            InboxEvent(
                connector="sendgrid",
                event_key="s1",
                event_type="delivered",
                object_type="event",
                object_id="x",
                version_ms=1,
                payload={"event": "delivered"},
                received_at=now,
                state=WorkState.DONE,
                attempts=1,
                next_attempt_at=now,
            )
        )
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
