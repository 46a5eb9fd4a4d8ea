"""The KPIs' computation in one process, and the share of it the lifecycle block takes.

    .venv/bin/python bench/bench_kpis.py [--partners 1000] [--rows 100000] [--runs 30]
        [--database-url URL]

Seeds a fresh SQLite file (or the ``--database-url`` given) as ``bench_pages.py`` does, then
times, interleaved so both see the same machine load, ``kpis.compute`` (what the dashboard, its
CSV, ``partnerhub report`` and ``GET /api/v1/admin/kpis`` run; it includes the lifecycle block)
and ``lifecycle_kpis.operations`` alone, for the month and the quarter. Reported: p50 / p95 (ms)
and the statements each runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pages import pct, seed
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from hub.pipeline.store import upgrade
from hub.program import kpis, lifecycle_kpis
from hub.program.rules import period_bounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=1_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-kpis-"))
    url = args.database_url or f"sqlite:///{tmp / 'hub.sqlite3'}"
    upgrade(url)
    engine = create_engine(url, hide_parameters=True)
    seed(engine, args.partners, args.rows)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    now = datetime.now(UTC)
    for period in ("month", "quarter"):
        start, end = period_bounds(now, period)
        end = min(end, now + timedelta(microseconds=1))
        times: dict[str, list[float]] = {"kpis.compute": [], "lifecycle block": []}
        counts: dict[str, int] = {}
        with Session(engine) as session:
            for _ in range(args.runs):
                runs: tuple[tuple[str, Callable[[], object]], ...] = (
                    ("kpis.compute", partial(kpis.compute, session, now, period=period)),  # type: ignore[arg-type]
                    ("lifecycle block", partial(lifecycle_kpis.operations, session, start, end)),
                )
                for name, run in runs:
                    statements.clear()
                    t0 = time.perf_counter()
                    run()
                    times[name].append((time.perf_counter() - t0) * 1000)
                    counts[name] = len(statements)
        for name, values in times.items():
            print(
                f"{period:8} {name:16} p50 {statistics.median(values):7.1f}  p95 {pct(values, 95):7.1f} ms"
                f"  ({counts[name]} statements)"
            )
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
