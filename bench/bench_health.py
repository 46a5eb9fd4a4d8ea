"""The health score's daily pass for many partners: time and SQL statements.

    .venv/bin/python bench/bench_health.py [--partners 10000] [--database-url URL]

Builds ``--partners`` active partners, each with referrals (a mix over the last 180 days, some
won), a three-step onboarding track (most done), a certification (a tenth expired) and e-mails of
the last 90 days (some opened), its last activity spread over 0..120 days. Then times
``health.run`` (the health part of the lifecycle's daily pass) three times, counting SQL
statements: the first day (every partner scored, the at-risk tasks opened: one CRM task each),
the same day again (nothing written: the history is one row per partner per day), and the next
day (a new history row each; a few more partners cross the threshold). SQLite in a temporary folder by default;
no Redis (owed rows are found by the reconciler).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select

from hub.pipeline.store import upgrade
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import health
from hub.program.models import Credential, Notification, OnboardingTask, Partner, Referral
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
PROGRAM = """\
version: 1
compliance:
  remind_days_before: [30, 7]
health:
  at_risk_below: 40
"""


def build(hub: Hub, partners: int, now: datetime) -> None:
    joined = now - timedelta(days=400)
    with hub.sessions() as s, s.begin():
        s.execute(
            insert(Partner),
            [
                {
                    "name": f"P{n}",
                    "email": f"p{n}@partners.example",
                    "status": "active",
                    "created_at": joined,
                    "last_activity_at": now - timedelta(days=(n * 7) % 121),
                    "payouts_enabled": False,
                    "email_status": "bounced" if n % 50 == 0 else "ok",
                    "partner_manager": f"pm{n % 20}@vendor.example",
                }
                for n in range(partners)
            ],
        )
        ids = list(s.scalars(select(Partner.id).order_by(Partner.id)))
        steps: list[dict[str, Any]] = []
        creds: list[dict[str, Any]] = []
        refs: list[dict[str, Any]] = []
        mails: list[dict[str, Any]] = []
        for n, pid in enumerate(ids):
            for pos, name in enumerate(("agreement", "training", "first-referral")):
                steps.append(
                    {
                        "partner_id": pid,
                        "track": "standard",
                        "step": name,
                        "kind": "task",
                        "module": None,
                        "position": pos,
                        "due_at": joined + timedelta(days=30),
                        "completed_at": joined + timedelta(days=10) if (n + pos) % 4 else None,
                        "created_at": joined,
                    }
                )
            creds.append(
                {
                    "partner_id": pid,
                    "kind": "certification",
                    "name": "sales-basics",
                    "version": None,
                    "granted_at": joined,
                    "expires_at": now + (timedelta(days=-3) if n % 10 == 0 else timedelta(days=200)),
                    "accepted_by": "lms",
                    "source": "lms",
                    "updated_at": joined,
                }
            )
            for r in range(n % 6):  # 0..5 referrals, spread over the last 180 days
                refs.append(
                    {
                        "tracking_id": f"T{n}-{r}",
                        "partner_id": pid,
                        "company_name": "Lead",
                        "status": "closed_won" if r == 1 else "received",
                        "history": [],
                        "created_at": now - timedelta(days=(n + 37 * r) % 180),
                        "updated_at": now,
                    }
                )
            for m in range(3):
                mails.append(
                    {
                        "natural_key": f"bench:{pid}:{m}",
                        "partner_id": pid,
                        "kind": "referral_received",
                        "to_email": f"p{n}@partners.example",
                        "subject": "s",
                        "status": "delivered",
                        "created_at": now - timedelta(days=10 + 20 * m),
                        "updated_at": now,
                        "engaged_at": now if (n + m) % 3 == 0 else None,
                    }
                )
        s.execute(insert(OnboardingTask), steps)
        s.execute(insert(Credential), creds)
        s.execute(insert(Referral), refs)
        s.execute(insert(Notification), mails)


def timed_pass(hub: Hub, now: datetime) -> tuple[float, int, dict[str, Any] | None]:
    count = [0]

    def before(*_: Any) -> None:
        count[0] += 1

    event.listen(hub.engine, "before_cursor_execute", before)
    try:
        started = time.perf_counter()
        with unit_of_work(hub) as session:
            summary = health.run(session, hub, now)
        return time.perf_counter() - started, count[0], summary
    finally:
        event.remove(hub.engine, "before_cursor_execute", before)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-health-")
    mappings = Path(folder) / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    (mappings / "program.yaml").write_text(PROGRAM)
    url = args.database_url or f"sqlite:///{folder}/hub.sqlite3"
    os.environ.update(DATABASE_URL=url, PARTNERHUB_DATA_DIR=folder, PARTNERHUB_MAPPINGS_DIR=str(mappings))
    upgrade(url)
    hub = Hub.open(load_settings(), start_redis=False)
    now = datetime.now(UTC)
    started = time.perf_counter()
    build(hub, args.partners, now)
    print(f"built {args.partners} partners in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
    for label, moment in (
        ("first day", now),
        ("same day again", now + timedelta(hours=1)),
        ("next day", now + timedelta(days=1)),
    ):
        took, queries, summary = timed_pass(hub, moment)
        print(f"{label:15} {took:.2f} s, {queries} SQL statements; {summary}")
    hub.close()


if __name__ == "__main__":
    main()
