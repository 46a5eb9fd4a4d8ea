"""``partnerhub worker`` with counters, for ``bench/bench_engine.py``: SQL statements (cursor
executions, every thread of the process: jobs, read-ahead, heartbeat, scheduler) and commits made
by this process (SQLAlchemy engine events), written as JSON to ``$BENCH_COUNTS`` every second
while the worker runs (so a worker that has to be killed still leaves its counts) and once more,
marked ``"complete": true``, when it stops; ``ready-<pid>`` is created next to it once the hub is
open (imports and start-up done), so the benchmark counts CPU from there.

The counts are of cursor executions: an ``executemany`` is one (its rows are counted apart, as
``executemany_rows``), and a savepoint SQLAlchemy never had to emit (an event whose processing
ran no statement of its own) is none."""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event
from sqlalchemy.engine import Engine

counts = {"statements": 0, "commits": 0, "executemany_rows": 0}


def _statement(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    counts["statements"] += 1
    if executemany:
        counts["executemany_rows"] += len(parameters)


def _commit(*_: Any) -> None:
    counts["commits"] += 1


event.listen(Engine, "before_cursor_execute", _statement)
event.listen(Engine, "commit", _commit)
out = Path(os.environ["BENCH_COUNTS"])


writing = threading.Lock()


def _write(complete: bool) -> None:
    with writing:
        partial = out.with_suffix(".tmp")
        partial.write_text(json.dumps({**counts, "complete": complete}))
        partial.replace(out)  # never a half-written file


def _flush_every_second() -> None:
    while not stopped.wait(1.0):
        _write(False)


stopped = threading.Event()
threading.Thread(target=_flush_every_second, name="bench-counts", daemon=True).start()


@atexit.register
def _at_exit() -> None:
    stopped.set()
    _write(True)


import hub.runtime.workers as workers

_run_worker = workers.run_worker


def run_worker(*args: Any, **kwargs: Any) -> None:
    (out.parent / f"ready-{os.getpid()}").touch()
    _run_worker(*args, **kwargs)


workers.run_worker = run_worker

from hub.cli.main import app

app(["worker"])
