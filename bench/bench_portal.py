"""Portal page latency with a big program: 1,000 partners, 100,000 referrals, 100,000 ledger
entries (bench/README.md, "Portal pages"), plus one big partner with --big referrals and --big
ledger entries (default 5,000 each). Seeds a fresh SQLite file (or --database-url), then times
each portal page for a typical partner (100 of each) and for the big one through the real ASGI
app in this process.

    .venv/bin/python bench/bench_portal.py [--requests 40] [--big 5000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select
from starlette.testclient import TestClient

from hub.asgi import build_app
from hub.pipeline.store import upgrade, utcnow
from hub.program import access
from hub.program.models import LedgerEntry, Partner, Referral
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings
from hub.web import security

PARTNERS, REFERRALS, ENTRIES = 1_000, 100_000, 100_000
STATUSES = ["received", "submitted", "contacted", "demo_scheduled", "proposal_sent", "closed_won", "closed_lost"]


def seed(hub: Hub, big: int) -> None:
    now = utcnow()
    rnd = random.Random(7)
    with hub.sessions() as s, s.begin():
        s.execute(
            insert(Partner),
            [
                {"name": f"Partner {i}", "email": f"p{i}@bench.example", "status": "active", "created_at": now}
                for i in range(PARTNERS)
            ],
        )
        ids = list(s.scalars(select(Partner.id)))
        # the big partner's rows come after everyone else's ids (REFERRALS + i): one more partner
        s.execute(
            insert(Partner), [{"name": "Big", "email": "big@bench.example", "status": "active", "created_at": now}]
        )
        big_id = s.scalars(select(Partner.id).where(Partner.email == "big@bench.example")).one()
        total = REFERRALS + big
        for start in range(0, total, 10_000):
            s.execute(
                insert(Referral),
                [
                    {
                        "tracking_id": f"R-B{i:09d}",
                        "partner_id": ids[i % PARTNERS] if i < REFERRALS else big_id,
                        "company_name": f"Company {i}",
                        "company_domain": f"c{i}.example",
                        "status": (st := rnd.choice(STATUSES)),
                        "history": [
                            {"status": "received", "at": now.isoformat()},
                            {"status": st, "at": now.isoformat()},
                        ],
                        "created_at": now - timedelta(minutes=i),
                        "updated_at": now,
                    }
                    for i in range(start, min(total, start + 10_000))
                ],
            )
        total = ENTRIES + big
        for start in range(0, total, 10_000):
            s.execute(
                insert(LedgerEntry),
                [
                    {
                        "natural_key": f"bench:{i}",
                        "partner_id": ids[i % PARTNERS] if i < ENTRIES else big_id,
                        "kind": "commission",
                        "amount_minor": rnd.randint(100, 100_000),
                        "currency": rnd.choice(["EUR", "USD"]),
                        "status": rnd.choice(["pending", "approved", "paid"]),
                        "rule_snapshot": {"rule_name": "bench"},
                        "expected_payment_date": (now + timedelta(days=rnd.randint(1, 60))).date(),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(total, start + 10_000))
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--big", type=int, default=5_000, help="referrals and ledger entries of the big partner")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    url = args.database_url or f"sqlite:///{tmp / 'hub.sqlite3'}"
    os.environ.update(
        DATABASE_URL=url, PARTNERHUB_DATA_DIR=str(tmp / "data"), PARTNERHUB_WEB__SECRET="bench-secret-" + "0" * 32
    )
    upgrade(url)
    hub = Hub.open(load_settings())
    t0 = time.perf_counter()
    seed(hub, args.big)
    print(
        f"seeded {PARTNERS} partners, {REFERRALS} referrals, {ENTRIES} ledger entries and a big partner"
        f" with {args.big} of each in {time.perf_counter() - t0:.1f}s"
    )
    app = build_app(hub)
    print(f"{'partner':8} {'page':50} {'p50 ms':>8} {'p95 ms':>8}")
    for who, email in (("typical", "p500@bench.example"), ("big", "big@bench.example")):
        with hub.sessions() as s, s.begin():
            person = access.find_by_email(s, email)
            assert person is not None
            sid = access.open_session(s, person, now=utcnow(), max_age=timedelta(hours=1))
            tracking = s.scalars(select(Referral.tracking_id).where(Referral.partner_id == person.partner_id)).first()
        cookie = {security.session_cookie_name(False): security.sign_sid(security_secret(hub), sid)}
        pages = [
            "/portal",
            "/portal/referrals",
            "/portal/referrals?status=closed_won&q=company",
            f"/portal/referrals/{tracking}",
            f"/portal/referrals/{tracking}/status",
            "/portal/money",
            "/portal/statement.csv",
            "/portal/onboarding",
            "/portal/profile",
        ]
        with TestClient(app, cookies=cookie) as client:
            for path in pages:
                assert client.get(path).status_code == 200, path
                times = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - start) * 1000)
                    assert answer.status_code == 200
                times.sort()
                p95 = times[int(len(times) * 0.95) - 1]
                print(f"{who:8} {path:50} {statistics.median(times):8.1f} {p95:8.1f}", flush=True)
    hub.close()


def security_secret(hub: Hub) -> bytes:
    from hub.runtime.web_secret import web_secret

    return web_secret(hub.settings)


if __name__ == "__main__":
    main()
