"""The short form of the bad-input harness (``bench/bad_input.py``): a few thousand malformed,
unsigned, replayed, oversized and out-of-range requests against the real hub (every webhook
endpoint, the partner API with a key, the admin API with the token, unauthenticated), then a
bounded schemathesis pass over ``/openapi.json`` with each credential. Nothing may be stored and
nothing may answer 5xx (Salesforce's SOAP faults too are 4xx)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.servers import REPO


def test_bad_input_adds_no_row_and_gets_no_5xx(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bad_input.py"),
            "--requests",
            "2500",
            "--time-limit",
            "150",
            "--pool",
            "150",
            "--schemathesis-examples",
            "2",
            "--schemathesis-time",
            "30",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    if not out.exists():
        raise RuntimeError(f"the harness wrote no figures:\n{run.stdout}\n{run.stderr[-3000:]}")
    figures = json.loads(out.read_text())
    table = run.stdout
    categories = {c["category"]: c for c in figures["categories"]}
    ran = (
        set(categories) == {"malformed", "unsigned", "replayed", "oversized", "out-of-range"}
        and sum(c["requests"] for c in categories.values()) >= 2000
        and [s["requests"] > 0 for s in figures["schemathesis"]] == [True, True]
    )
    if not ran:  # not one of the zero checks below: the harness itself did not do its work
        raise RuntimeError(f"the harness did not run in full:\n{table}")
    assert {name: c["rows_added"] for name, c in categories.items()} == dict.fromkeys(categories, 0), table
    assert {name: c["errors"] for name, c in categories.items()} == dict.fromkeys(categories, 0), table
    assert {name: c["c5xx"] for name, c in categories.items()} == dict.fromkeys(categories, 0), table
    assert [(s["5xx"], s["schema_breaks"]) for s in figures["schemathesis"]] == [(0, 0), (0, 0)], table
    assert run.returncode == 0, table + run.stderr[-3000:]
