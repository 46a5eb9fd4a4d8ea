"""Every load of the program file (start-up and hot reload) writes an audit entry with the file's
hash and the diff of its money settings — only when the hash changed (issue 12, item 1). Real
``Hub`` processes' wiring on SQLite and PostgreSQL; the admin reads the entries through the CLI's
database like any audit entry."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.pipeline.store import upgrade
from hub.program.models import AuditEntry
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings
from tests.support.servers import REPO

PROGRAM = """\
version: 1
commissions:
  - name: standard
    percent: "10"
payouts:
  auto_approve_up_to: {USD: "500"}
  auto_approve_run_cap: {USD: "5000"}
reengagement:
  first_after_days: 60
"""


@pytest.fixture
def mappings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", folder)
    (folder / "program.yaml").write_text(PROGRAM)
    for key in [k for k in os.environ if k.startswith("PARTNERHUB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PARTNERHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARTNERHUB_MAPPINGS_DIR", str(folder))
    upgrade(database_url)
    yield folder


def loads(h: Hub) -> list[dict[str, Any]]:
    h.wait_for_audits()
    with h.sessions() as s:
        return [
            {"actor": a.actor, "before": a.before, **(a.after or {})}
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "program.load").order_by(AuditEntry.id))
        ]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    stamp = path.stat().st_mtime_ns
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))  # a new stamp whatever the clock's grain


def test_each_changed_load_is_audited_with_its_hash_and_money_diff(mappings: Path) -> None:
    path = mappings / "program.yaml"
    started = Hub.open(load_settings(), start_redis=False, load_mappings=True)  # start-up
    try:
        [first] = loads(started)
        assert first["actor"] == "program-file" and first["before"] == {"hash": None}
        assert first["hash"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert first["money_diff"]["payouts.auto_approve_up_to"] == {"before": None, "after": {"USD": "500"}}
        assert first["money_diff"]["commissions.standard"]["after"]["percent"] == "10"

        # another process starting on the same file, and the same process reading it again: nothing new
        again = Hub.open(load_settings(), start_redis=False, load_mappings=True)
        assert again.program.commissions[0].percent is not None
        again.close()
        assert len(loads(started)) == 1

        # a hot reload of a money change: the diff names exactly what changed
        edit(path, 'percent: "10"', 'percent: "12.5"')
        edit(path, 'auto_approve_up_to: {USD: "500"}', 'auto_approve_up_to: {USD: "750"}')
        assert str(started.program.commissions[0].percent) == "12.5"
        [_, second] = loads(started)
        assert second["before"] == {"hash": first["hash"]} and second["hash"] != first["hash"]
        assert set(second["money_diff"]) == {"commissions.standard", "payouts.auto_approve_up_to"}
        assert second["money_diff"]["payouts.auto_approve_up_to"] == {"before": {"USD": "500"}, "after": {"USD": "750"}}
        assert second["money_diff"]["commissions.standard"]["before"]["percent"] == "10"
        assert second["money_diff"]["commissions.standard"]["after"]["percent"] == "12.5"

        # a change that moves no money is audited (the hash changed) with an empty money diff
        edit(path, "first_after_days: 60", "first_after_days: 45")
        started.program  # noqa: B018  (the reload)
        third = loads(started)[-1]
        assert third["money_diff"] == {} and third["hash"] != second["hash"]

        # a broken edit is not loaded, so not audited; back to a clean file that was seen before: audited
        edit(path, "first_after_days: 45", "first_after_days: -1")
        started.program  # noqa: B018
        assert len(loads(started)) == 3
        edit(path, "first_after_days: -1", "first_after_days: 60")
        started.program  # noqa: B018
        fourth = loads(started)[-1]
        assert fourth["hash"] == second["hash"] and fourth["money_diff"] == {}
    finally:
        started.close()
