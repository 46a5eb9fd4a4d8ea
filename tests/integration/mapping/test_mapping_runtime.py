"""Mapping files at run time: a broken file stops start-up with file:line; an unknown stage
dead-letters its event with an alert naming the value and the file, until the map is fixed and
the event replayed; edits reload in running workers, and a broken edit leaves the old set in force."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlalchemy import select

from hub.program.models import Deal
from tests.support.hubspot_hub import deal_event
from tests.support.servers import REPO, wait_until


def copy_mappings(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", target)
    return target


def test_unknown_stage_waits_as_dead_letter_until_map_fixed_and_replayed(make_harness, sqlite_url, tmp_path):
    mappings = copy_mappings(tmp_path)
    h = make_harness(sqlite_url, PARTNERHUB_MAPPINGS_DIR=str(mappings))
    h.start_web()
    worker = h.start_worker()
    h.deliver([deal_event(31, event_id=1, stage="partnerreview")])
    wait_until(lambda: h.states() == ["dead"], 30, what="dead letter")
    row = h.inbox()[0]
    assert row.last_error_kind == "mapping_unknown_value"
    assert "deals.yaml" in row.last_error and "'status'" in row.last_error and "'partnerreview'" in row.last_error
    alert = next(a for a in h.alerts() if a.kind == "mapping_unknown_value")
    assert "partnerreview" in alert.key and "deals.yaml" in alert.key and alert.state == "open"

    deals = mappings / "hubspot" / "deals.yaml"
    deals.write_text(
        deals.read_text().replace(
            "        closedlost: closed_lost\n",
            "        closedlost: closed_lost\n        partnerreview: demo_scheduled\n",
        )
    )
    wait_until(lambda: "mapping files reloaded" in worker.output(), 15, what="reload logged")
    assert "replayed 1 inbox event" in h.cli("replay", "--dead").stdout
    wait_until(lambda: h.states() == ["done"], 30, what="done after fix")
    with h.hub.sessions() as s:
        deal = s.scalars(select(Deal)).one()
    assert deal.stage == "partnerreview" and deal.properties["status"] == "demo_scheduled"
    wait_until(lambda: all(a.state == "resolved" for a in h.alerts()), 15, what="alerts resolved")


def test_broken_edit_keeps_the_set_in_force(make_harness, sqlite_url, tmp_path):
    mappings = copy_mappings(tmp_path)
    h = make_harness(sqlite_url, PARTNERHUB_MAPPINGS_DIR=str(mappings))
    h.start_web()
    worker = h.start_worker()
    wait_until(lambda: "worker started" in worker.output(), 30, what="worker up")
    deals = mappings / "hubspot" / "deals.yaml"
    deals.write_text(deals.read_text().replace("    value_map:\n", "    value_mapp:\n", 1))
    wait_until(lambda: "not reloaded" in worker.output(), 15, what="broken edit reported")
    assert re.search(r"deals\.yaml:\d+:\d+: .*value_mapp", worker.output())
    h.deliver([deal_event(32, event_id=1, stage="closedwon")])
    wait_until(lambda: h.states() == ["done"], 30, what="processed with the old set")
    with h.hub.sessions() as s:
        assert s.scalars(select(Deal)).one().properties["status"] == "closed_won"


def test_broken_mapping_file_stops_startup(make_harness, sqlite_url, tmp_path):
    mappings = copy_mappings(tmp_path)
    deals = mappings / "hubspot" / "deals.yaml"
    lines = deals.read_text().splitlines()
    line_no = next(i for i, line in enumerate(lines, 1) if line.startswith("target:"))
    lines[line_no - 1] = "target: opportunity"
    deals.write_text("\n".join(lines) + "\n")
    h = make_harness(sqlite_url, PARTNERHUB_MAPPINGS_DIR=str(mappings))
    for command in (["worker", "--burst"], ["web"], ["run"]):
        result = h.cli(*command, check=False)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert re.search(rf"deals\.yaml:{line_no}:\d+: .*opportunity", result.stderr), result.stderr
