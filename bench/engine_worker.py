"""``partnerhub worker`` with counters, for ``bench/bench_engine.py``: SQL statements and commits
made by this process (SQLAlchemy engine events), written as JSON to ``$BENCH_COUNTS`` when the
worker stops; ``ready-<pid>`` is created next to it once the hub is open (imports and start-up
done), so the benchmark counts CPU from there."""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event
from sqlalchemy.engine import Engine

counts = {"statements": 0, "commits": 0}


def _statement(*_: Any) -> None:
    counts["statements"] += 1


def _commit(*_: Any) -> None:
    counts["commits"] += 1


event.listen(Engine, "before_cursor_execute", _statement)
event.listen(Engine, "commit", _commit)
out = Path(os.environ["BENCH_COUNTS"])
atexit.register(lambda: out.write_text(json.dumps(counts)))

import hub.runtime.workers as workers

_run_worker = workers.run_worker


def run_worker(*args: Any, **kwargs: Any) -> None:
    (out.parent / f"ready-{os.getpid()}").touch()
    _run_worker(*args, **kwargs)


workers.run_worker = run_worker

from hub.cli.main import app

app(["worker"])
