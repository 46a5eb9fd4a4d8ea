"""Webhook ingest benchmark: ``POST /webhooks/hubspot`` against a bare ASGI endpoint.

    .venv/bin/python bench/bench_webhooks.py [--processes 1] [--duration 10] [--runs 1]

For each backend (SQLite on the embedded defaults, then a throwaway PostgreSQL server) it
starts ``partnerhub web`` on a fresh data directory, and measures

(a) saturation throughput: wrk (closed loop, ``--connections`` connections) replaying signed
    10-event batches, each one unique, against the hub and against ``bench/bare_app.py``
    served by the same ``uvicorn.run`` settings with the same number of processes;
(b) acknowledgement latency at a fixed offered load (default 1,000 requests/s), open loop:
    each request is sent at its scheduled time whether or not earlier ones have answered, on
    a pool of keep-alive connections that grows when all are busy, and its latency is taken
    from the *scheduled* send time (no coordinated omission). A request that fails or is not
    answered counts as infinitely slow.

After each hub phase it counts the inbox (``SELECT count(*) FROM inbox_events``) and checks it
against the acknowledgements: every 200 ``{"received": 10}`` must be 10 committed rows. In the
open-loop phase every request is answered or abandoned before counting, so the check is exact;
in the wrk phase requests still in flight when wrk stops may be committed without their answer
having been read, so there it is ``10*acked <= committed <= 10*(acked + in flight)``.

Workers are not started: jobs wait in Redis. Every server started here is stopped on exit.
Needs ``wrk`` (``apt-get install -y wrk``) and, for PostgreSQL, /usr/lib/postgresql/15/bin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from connectors.hubspot import sign_v3

VENV_BIN = Path(sys.executable).parent
PARTNERHUB = VENV_BIN / "partnerhub"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "bench-client-secret"
EVENTS_PER_REQUEST = 10


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- requests --------------------------------------------------------------------------------


class EventIds:
    """Unique eventIds for the whole run, so no event collapses as a duplicate."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, n: int) -> range:
        r = range(self.next, self.next + n)
        self.next += n
        return r


def signed_requests(ids: EventIds, count: int, url: str) -> list[tuple[str, str, bytes]]:
    """``count`` signed 10-event batches: (timestamp_ms, signature, body)."""
    out = []
    now_ms = int(time.time() * 1000)
    ts = str(now_ms)
    for event_ids in (ids.take(EVENTS_PER_REQUEST) for _ in range(count)):
        events = [
            {
                "objectId": 10_000_000 + eid,
                "propertyName": "dealstage",
                "propertyValue": "closedwon",
                "eventId": eid,
                "subscriptionId": 4242,
                "portalId": 62515,
                "occurredAt": now_ms,
                "eventType": "deal.propertyChange",
                "attemptNumber": 0,
            }
            for eid in event_ids
        ]
        body = json.dumps(events, separators=(",", ":")).encode()
        out.append((ts, sign_v3(SECRET, "POST", url, body, ts), body))
    return out


def raw_request(host: str, ts: str, sig: str, body: bytes) -> bytes:
    head = (
        "POST /webhooks/hubspot HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: application/json\r\n"
        f"X-HubSpot-Request-Timestamp: {ts}\r\n"
        f"X-HubSpot-Signature-v3: {sig}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    logfile: Path
    data_dir: Path | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # the embedded valkey-server daemonizes out of our process group: make sure it is gone
        if self.data_dir is not None:
            for pidfile in (self.data_dir / "redis").glob("*.pid"):
                with contextlib.suppress(ValueError, OSError):
                    pid = int(pidfile.read_text().strip())
                    os.kill(pid, signal.SIGTERM)
                    log(f"stopped leftover embedded valkey-server pid {pid}")


def start_server(
    name: str,
    argv: list[str],
    env: dict[str, str],
    port: int,
    workdir: Path,
    ready_path: str,
    data_dir: Path | None = None,
) -> Server:
    logfile = workdir / f"{name}.log"
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, port, proc, logfile, data_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {logfile}:\n" + logfile.read_text()[-2000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not become ready on port {port}; see {logfile}")


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL 15 server on 127.0.0.1 (trust auth); yields the SQLAlchemy URL."""
    pgdir = workdir / "pg"
    pgdir.mkdir()
    shutil.chown(pgdir, "postgres", "postgres")
    data = pgdir / "data"
    port = free_port()

    def as_pg(*argv: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=pgdir,
        )

    as_pg(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
    opts = f"-p {port} -k {pgdir} -c listen_addresses=127.0.0.1 -c max_connections=200"
    as_pg(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(pgdir / "pg.log"), "-w", "start")
    try:
        as_pg(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "partnerhub_bench")
        log(f"postgresql 15 on 127.0.0.1:{port} (fsync=on, synchronous_commit=on: the defaults)")
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/partnerhub_bench"
        POSTMASTERS[url] = int((data / "postmaster.pid").read_text().split()[0])
        yield url
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            as_pg(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        log("postgresql stopped")


def count_inbox(sqlalchemy_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(sqlalchemy_url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM inbox_events")).scalar_one())
    finally:
        engine.dispose()


def settled_count(sqlalchemy_url: str) -> int:
    """The inbox count once the server has finished whatever it still had in hand."""
    last = count_inbox(sqlalchemy_url)
    for _ in range(60):
        time.sleep(1.0)
        now = count_inbox(sqlalchemy_url)
        if now == last:
            return now
        last = now
    return last


def cpu_seconds(*, pgid: int | None = None, parent: int | None = None) -> float:
    """CPU seconds of the live processes in a process group, or of a process, its live children
    and its reaped children (a PostgreSQL postmaster and its backends)."""
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = d.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid, pgrp = int(d.name), int(fields[1]), int(fields[2])
        if (pgid is not None and pgrp == pgid) or (parent is not None and parent in (pid, ppid)):
            total += int(fields[11]) + int(fields[12])
        if parent is not None and pid == parent:  # backends that exited, reaped by the postmaster
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def postmaster_pid(sqlalchemy_url: str | None) -> int | None:
    if not sqlalchemy_url or not sqlalchemy_url.startswith("postgresql"):
        return None
    return POSTMASTERS.get(sqlalchemy_url)


POSTMASTERS: dict[str, int] = {}


# -- (a) saturation with wrk -----------------------------------------------------------------


def run_wrk(
    port: int, requests_file: Path, args: argparse.Namespace, server: Server | None = None, pg_url: str | None = None
) -> dict[str, Any]:
    env = dict(
        os.environ,
        BENCH_REQUESTS=str(requests_file),
        BENCH_HOST=f"127.0.0.1:{port}",
        BENCH_THREADS=str(args.wrk_threads),
    )
    argv = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "presigned.lua"),
        f"http://127.0.0.1:{port}/webhooks/hubspot",
    ]
    pm = postmaster_pid(pg_url)
    cpu0 = cpu_seconds(pgid=server.proc.pid) if server else 0.0
    pg0 = cpu_seconds(parent=pm) if pm else 0.0
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=args.duration + 120)
    cpu1 = cpu_seconds(pgid=server.proc.pid) if server else 0.0
    pg1 = cpu_seconds(parent=pm) if pm else 0.0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    res: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
    secs = res["duration_us"] / 1e6
    server_cpu = (cpu1 - cpu0) / secs if server else math.nan
    pg_cpu = (pg1 - pg0) / secs if pm else math.nan
    res["rps"] = res["completed"] / secs
    res["ok_rps"] = res["ok"] / secs
    res["server_cpu"] = server_cpu  # cores busy in the server's processes (1.0 = one core)
    res["pg_cpu"] = pg_cpu
    return res


def write_requests_file(path: Path, reqs: list[tuple[str, str, bytes]]) -> None:
    with open(path, "wb") as f:
        for ts, sig, body in reqs:
            f.write(ts.encode() + b"\t" + sig.encode() + b"\t" + body + b"\n")


# -- (b) open-loop latency -------------------------------------------------------------------


@dataclass
class OpenLoopResult:
    offered: int
    rate: float
    latencies: list[float]  # seconds from the scheduled send time; inf for a failed request
    ok: int = 0
    fresh: int = 0
    non200: int = 0
    errors: int = 0
    timeouts: int = 0  # not answered within the drain timeout (of which sent_unanswered were sent)
    sent_unanswered: int = 0
    max_conns: int = 0
    late_sends: int = 0  # sent more than 5 ms after their scheduled time (generator lag)
    send_span: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        if not xs:
            return math.inf
        k = min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))
        return xs[k]


async def _open_loop(
    port: int, reqs: list[bytes], rate: float, max_conns: int, drain_timeout: float, fresh_marker: bytes | None
) -> OpenLoopResult:
    n = len(reqs)
    res = OpenLoopResult(offered=n, rate=rate, latencies=[math.inf] * n)
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    opened = 0
    all_writers: list[asyncio.StreamWriter] = []

    async def get_conn() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        nonlocal opened
        try:
            return idle.get_nowait()
        except asyncio.QueueEmpty:
            pass
        if opened < max_conns:
            opened += 1
            res.max_conns = max(res.max_conns, opened)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            all_writers.append(writer)
            return reader, writer
        return await idle.get()

    async def one(i: int, scheduled: float) -> None:
        nonlocal opened
        conn = None
        sent = False
        try:
            conn = await get_conn()
            reader, writer = conn
            writer.write(reqs[i])
            sent = True
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            res.latencies[i] = time.perf_counter() - scheduled
            if status == 200:
                res.ok += 1
                if fresh_marker is None or fresh_marker in body:
                    res.fresh += 1
            else:
                res.non200 += 1
            idle.put_nowait(conn)
        except asyncio.CancelledError:
            res.timeouts += 1
            res.sent_unanswered += sent
            raise
        except Exception as exc:
            res.errors += 1
            res.sent_unanswered += sent
            if len(res.error_samples) < 3:
                res.error_samples.append(f"{type(exc).__name__}: {exc}")
            if conn is not None:
                conn[1].close()
                opened -= 1

    tasks = []
    start = time.perf_counter() + 0.05
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            res.late_sends += 1
        tasks.append(asyncio.create_task(one(i, scheduled)))
    res.send_span = time.perf_counter() - start
    _done, pending = await asyncio.wait(tasks, timeout=drain_timeout)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for w in all_writers:
        w.close()
    return res


def open_loop(port: int, reqs: list[bytes], args: argparse.Namespace, fresh_marker: bytes | None) -> OpenLoopResult:
    import uvloop

    return uvloop.run(_open_loop(port, reqs, args.rate, args.max_conns, args.drain_timeout, fresh_marker))


# -- phases ----------------------------------------------------------------------------------


@dataclass
class Figures:
    backend: str
    bare_rps: float = 0.0
    hub_rps: float = 0.0
    bare_ol: OpenLoopResult | None = None
    hub_ol: OpenLoopResult | None = None
    wrk_bare: dict[str, Any] = field(default_factory=dict)
    wrk_hub: dict[str, Any] = field(default_factory=dict)
    sat_committed: int = 0
    ol_committed: int = 0


def bench_bare(workdir: Path, ids: EventIds, args: argparse.Namespace) -> Figures:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/hubspot"
    fig = Figures("bare")
    server = start_server(
        "bare",
        [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(port), "--processes", str(args.processes)],
        dict(os.environ),
        port,
        workdir,
        "/",
    )
    try:
        # the bare app ignores the content; a small file, cycled, gives the same request sizes
        reqs = signed_requests(ids, 2000, url)
        f = workdir / "bare_requests.tsv"
        write_requests_file(f, reqs)
        run_wrk(port, f, argparse.Namespace(**{**vars(args), "duration": 2}))  # warm-up
        log(f"bare: saturation, wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s")
        fig.wrk_bare = run_wrk(port, f, args, server)
        fig.bare_rps = fig.wrk_bare["rps"]
        log(f"bare: {fig.bare_rps:,.0f} req/s")
        n = int(args.rate * args.ol_duration)
        raw = [raw_request(f"127.0.0.1:{port}", *r) for r in (reqs * (n // len(reqs) + 1))[:n]]
        log(f"bare: open loop {args.rate:,.0f} req/s for {args.ol_duration}s")
        fig.bare_ol = open_loop(port, raw, args, None)
        log(f"bare: p50 {fig.bare_ol.pct(50) * 1e3:.2f} ms  p99 {fig.bare_ol.pct(99) * 1e3:.2f} ms")
    finally:
        server.stop()
    return fig


def bench_hub(
    backend: str, workdir: Path, ids: EventIds, args: argparse.Namespace, database_url: str | None
) -> Figures:
    fig = Figures(backend)
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/hubspot"
    data_dir = workdir / f"data-{backend}"
    env = {
        k: v for k, v in os.environ.items() if not (k.startswith("PARTNERHUB_") or k in ("DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        PARTNERHUB_DATA_DIR=str(data_dir),
        PARTNERHUB_HUBSPOT__CLIENT_SECRET=SECRET,
        PARTNERHUB_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    sqlalchemy_url = database_url or f"sqlite:///{(data_dir / 'partnerhub.sqlite3').resolve()}"
    subprocess.run([str(PARTNERHUB), "db", "upgrade"], env=env, cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    server = start_server(
        f"hub-{backend}",
        [str(PARTNERHUB), "web", "--port", str(port), "--processes", str(args.processes)],
        env,
        port,
        workdir,
        "/readyz",
        data_dir=data_dir,
    )
    marker = b'"received": 10,'
    try:
        # warm-up: a few hundred requests through the whole path (threads, pools, caches)
        warm = [raw_request(f"127.0.0.1:{port}", *r) for r in signed_requests(ids, 300, url)]
        w = open_loop(port, warm, argparse.Namespace(**{**vars(args), "rate": 300.0}), marker)
        if w.fresh != len(warm):
            raise RuntimeError(
                f"hub warm-up: {w.fresh}/{len(warm)} fresh acks, errors {w.error_samples}, see {server.logfile}"
            )

        # (b) open loop at the fixed offered load
        n = int(args.rate * args.ol_duration)
        raw = [raw_request(f"127.0.0.1:{port}", *r) for r in signed_requests(ids, n, url)]
        before = settled_count(sqlalchemy_url)
        log(f"{backend}: open loop {args.rate:,.0f} req/s for {args.ol_duration}s")
        fig.hub_ol = open_loop(port, raw, args, marker)
        fig.ol_committed = settled_count(sqlalchemy_url) - before
        ol = fig.hub_ol
        log(
            f"{backend}: p50 {ol.pct(50) * 1e3:.2f} ms  p99 {ol.pct(99) * 1e3:.2f} ms  "
            f"acked {ol.fresh}/{ol.offered}  committed {fig.ol_committed}"
        )

        # (a) saturation
        count = int(args.presign_rate * args.duration)
        reqs = signed_requests(ids, count, url)
        f = workdir / f"hub_{backend}_requests.tsv"
        write_requests_file(f, reqs)
        del reqs
        before = settled_count(sqlalchemy_url)
        log(f"{backend}: saturation, wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s")
        fig.wrk_hub = run_wrk(port, f, args, server, database_url)
        fig.sat_committed = settled_count(sqlalchemy_url) - before
        f.unlink()
        fig.hub_rps = fig.wrk_hub["rps"]
        r = fig.wrk_hub
        log(
            f"{backend}: {fig.hub_rps:,.0f} req/s  fresh acks {r['fresh']}  committed {fig.sat_committed}  "
            f"in flight at stop {r['sent'] - r['completed']}  wrapped {r['wrapped']}"
        )
    finally:
        server.stop()
    return fig


# -- report ----------------------------------------------------------------------------------


def ms(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x * 1e3:.1f}"


def check_sat(fig: Figures) -> tuple[bool, str]:
    r = fig.wrk_hub
    in_flight = r["sent"] - r["completed"]
    lo, hi = 10 * r["fresh"], 10 * (r["fresh"] + in_flight)
    ok = lo <= fig.sat_committed <= hi and r["wrapped"] == 0
    return ok, f"{fig.sat_committed} committed vs 10x{r['fresh']} acked (+{in_flight} in flight)"


def check_ol(fig: Figures) -> tuple[bool, str]:
    ol = fig.hub_ol
    assert ol is not None
    lo, hi = 10 * ol.fresh, 10 * (ol.fresh + ol.sent_unanswered)
    ok = lo <= fig.ol_committed <= hi
    tail = f" (+{ol.sent_unanswered} sent, unanswered)" if ol.sent_unanswered else ""
    return ok, f"{fig.ol_committed} committed vs 10x{ol.fresh} acked{tail}"


def report(run_no: int, bare: Figures, hubs: list[Figures], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    assert bare.bare_ol is not None
    print()
    print(
        f"== run {run_no}: {args.processes} server process(es) each side; wrk -t{args.wrk_threads} "
        f"-c{args.connections} -d{args.duration}s; open loop {args.rate:,.0f} req/s x {args.ol_duration}s; "
        f"{EVENTS_PER_REQUEST} events/request =="
    )
    hdr = (
        f"{'backend':<10} {'bare rps':>9} {'hub rps':>9} {'ratio':>6}  {'bare p50/p99 ms':>15}  "
        f"{'hub p50/p99 ms':>15}  {'acked/offered':>13}  committed = 10 x acked?"
    )
    print(hdr)
    print("-" * len(hdr))
    for fig in hubs:
        ol = fig.hub_ol
        assert ol is not None
        ratio = fig.hub_rps / bare.bare_rps
        sat_ok, sat_msg = check_sat(fig)
        ol_ok, ol_msg = check_ol(fig)
        print(
            f"{fig.backend:<10} {bare.bare_rps:>9,.0f} {fig.hub_rps:>9,.0f} {ratio:>6.0%}  "
            f"{ms(bare.bare_ol.pct(50)):>6} / {ms(bare.bare_ol.pct(99)):>6}  "
            f"{ms(ol.pct(50)):>6} / {ms(ol.pct(99)):>6}  {ol.fresh:>6}/{ol.offered:<6}  "
            f"(b) {'OK' if ol_ok else 'FAIL'}: {ol_msg}; (a) {'OK' if sat_ok else 'FAIL'}: {sat_msg}"
        )
        rows.append(
            {
                "run": run_no,
                "backend": fig.backend,
                "bare_rps": bare.bare_rps,
                "hub_rps": fig.hub_rps,
                "ratio": ratio,
                "target_ratio_met": ratio >= 0.5,
                "bare_p50_ms": bare.bare_ol.pct(50) * 1e3,
                "bare_p99_ms": bare.bare_ol.pct(99) * 1e3,
                "hub_p50_ms": ol.pct(50) * 1e3,
                "hub_p99_ms": ol.pct(99) * 1e3,
                "hub_p999_ms": ol.pct(99.9) * 1e3,
                "target_p99_met": ol.pct(99) <= 0.050,
                "ol_offered": ol.offered,
                "ol_acked": ol.fresh,
                "ol_non200": ol.non200,
                "ol_errors": ol.errors,
                "ol_timeouts": ol.timeouts,
                "ol_max_conns": ol.max_conns,
                "ol_late_sends": ol.late_sends,
                "ol_committed": fig.ol_committed,
                "ol_check_ok": ol_ok,
                "sat_completed": fig.wrk_hub["completed"],
                "sat_acked": fig.wrk_hub["fresh"],
                "sat_non200": fig.wrk_hub["non200"],
                "sat_in_flight": fig.wrk_hub["sent"] - fig.wrk_hub["completed"],
                "sat_committed": fig.sat_committed,
                "sat_check_ok": sat_ok,
                "wrk_hub_p50_ms": fig.wrk_hub["lat_p50_us"] / 1e3,
                "wrk_hub_p99_ms": fig.wrk_hub["lat_p99_us"] / 1e3,
                "wrk_bare_p50_ms": bare.wrk_bare["lat_p50_us"] / 1e3,
                "wrk_bare_p99_ms": bare.wrk_bare["lat_p99_us"] / 1e3,
                "hub_cpu_sat": fig.wrk_hub["server_cpu"],
                "pg_cpu_sat": fig.wrk_hub["pg_cpu"],
                "bare_cpu_sat": bare.wrk_bare["server_cpu"],
                "ol_sent_unanswered": ol.sent_unanswered,
                "bare_ol_late_sends": bare.bare_ol.late_sends,
                "bare_ol_errors": bare.bare_ol.errors,
            }
        )
    print(
        f"generator check (bare, open loop): {bare.bare_ol.ok}/{bare.bare_ol.offered} answered, "
        f"{bare.bare_ol.late_sends} sends >5 ms late, p99.9 {ms(bare.bare_ol.pct(99.9))} ms, "
        f"max conns {bare.bare_ol.max_conns}"
    )
    for fig in hubs:
        ol = fig.hub_ol
        assert ol is not None
        extra = f"; first errors: {ol.error_samples}" if ol.error_samples else ""
        print(
            f"{fig.backend}: open loop p99.9 {ms(ol.pct(99.9))} ms, max conns {ol.max_conns}, "
            f"non-200 {ol.non200}, errors {ol.errors}, unanswered {ol.timeouts}, "
            f"late sends {ol.late_sends}{extra}; saturation: wrk p50/p99 "
            f"{fig.wrk_hub['lat_p50_us'] / 1e3:.1f}/{fig.wrk_hub['lat_p99_us'] / 1e3:.1f} ms, "
            f"non-200 {fig.wrk_hub['non200']}; CPU during (a): hub {fig.wrk_hub['server_cpu']:.2f} cores"
            + (f", postgres {fig.wrk_hub['pg_cpu']:.2f} cores" if not math.isnan(fig.wrk_hub["pg_cpu"]) else "")
            + f" (bare app {bare.wrk_bare['server_cpu']:.2f})"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1, help="server processes, each side")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk phase")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop offered load, req/s")
    parser.add_argument("--ol-duration", type=float, default=10.0, help="seconds of each open-loop phase")
    parser.add_argument("--max-conns", type=int, default=512, help="open-loop connection cap")
    parser.add_argument(
        "--drain-timeout", type=float, default=60.0, help="seconds to wait for answers after the last open-loop send"
    )
    parser.add_argument(
        "--presign-rate",
        type=float,
        default=4000.0,
        help="unique requests signed per second of wrk phase (must exceed the hub's rate)",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="partnerhub-bench-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)  # the postgres user must reach its data dir inside
        for run_no in range(1, args.runs + 1):
            workdir = root / f"run{run_no}"
            workdir.mkdir()
            os.chmod(workdir, 0o755)
            ids = EventIds()
            bare = bench_bare(workdir, ids, args)
            hubs = []
            for backend in backends:
                if backend == "sqlite":
                    hubs.append(bench_hub("sqlite", workdir, ids, args, None))
                elif backend == "postgres":
                    with postgres(workdir) as url:
                        hubs.append(bench_hub("postgres", workdir, ids, args, url))
                else:
                    raise SystemExit(f"unknown backend {backend!r}")
            rows += report(run_no, bare, hubs, args)
    if args.runs > 1:
        print()
        print(f"== medians over {args.runs} runs ==")
        for backend in backends:
            rs = [r for r in rows if r["backend"] == backend]
            med = {
                k: statistics.median(r[k] for r in rs)
                for k in ("bare_rps", "hub_rps", "ratio", "bare_p50_ms", "bare_p99_ms", "hub_p50_ms", "hub_p99_ms")
            }
            print(
                f"{backend:<10} bare {med['bare_rps']:,.0f} rps, hub {med['hub_rps']:,.0f} rps, "
                f"ratio {med['ratio']:.0%}; at {args.rate:,.0f} rps bare p50/p99 {med['bare_p50_ms']:.1f}/"
                f"{med['bare_p99_ms']:.1f} ms, hub p50/p99 {med['hub_p50_ms']:.1f}/{med['hub_p99_ms']:.1f} ms; "
                f"checks {'all OK' if all(r['ol_check_ok'] and r['sat_check_ok'] for r in rs) else 'FAILED'}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0 if all(r["ol_check_ok"] and r["sat_check_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
