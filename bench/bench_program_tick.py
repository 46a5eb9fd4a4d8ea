"""How long one program pass takes (approvals, payout run, re-engagement) on SQLite.

    .venv/bin/python bench/bench_program_tick.py [--partners 2000]

Builds ``--partners`` partners, each with one won deal's commission due for approval and half
of them quiet for 61 days, then times ``program_tick.tick`` at the payout day: every entry is
approved, a payout per partner is made (and its transfer and email owed), half the partners get
their first re-engagement email. Then times a second pass (nothing left to do: the steady state
the scheduler runs every minute). No Redis: owed rows are found by the reconciler.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

from hub.pipeline.store import upgrade
from hub.program import tick as program_tick
from hub.program.models import LedgerEntry, Partner
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partners", type=int, default=2000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-program-")
    url = f"sqlite:///{folder}/hub.sqlite3"
    os.environ.update(DATABASE_URL=url, PARTNERHUB_DATA_DIR=folder)
    upgrade(url)
    hub = Hub.open(load_settings(), start_redis=False)
    run_at = datetime(2026, 12, 15, 8, tzinfo=UTC)
    with hub.sessions() as s, s.begin():
        for n in range(args.partners):
            joined = run_at - timedelta(days=61 if n % 2 else 10)
            p = Partner(
                name=f"P{n}",
                email=f"p{n}@partners.example",
                status="active",
                created_at=joined,
                stripe_account_id=f"acct_{n}",
                payouts_enabled=True,
            )
            s.add(p)
            s.flush()
            s.add(
                LedgerEntry(
                    natural_key=f"commission:bench:{n}",
                    partner_id=p.id,
                    kind="commission",
                    source_key=f"deal:{n}",
                    amount_minor=10_000 + n,
                    currency="USD",
                    status="pending",
                    approve_after=run_at - timedelta(days=1),
                    created_at=joined,
                    updated_at=joined,
                )
            )
    started = time.perf_counter()
    first = program_tick.tick(hub, run_at)
    busy = time.perf_counter() - started
    started = time.perf_counter()
    program_tick.tick(hub, run_at)
    idle = time.perf_counter() - started
    hub.close()
    print(
        f"partners={args.partners} approved={first['approved']} payouts={len(first['payout_run']['payouts'])} "
        f"reengaged={first['reengagement']['started']}"
    )
    print(f"first pass {busy:.2f} s ({busy / args.partners * 1000:.2f} ms per partner); steady pass {idle:.2f} s")


if __name__ == "__main__":
    main()
