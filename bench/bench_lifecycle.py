"""The lifecycle's daily pass (segments, onboarding, compliance) for many partners: time and
query count.

    .venv/bin/python bench/bench_lifecycle.py [--partners 10000] [--database-url URL]

Builds ``--partners`` active partners with attributes (a third match the ``enterprise`` segment
rule), each with an onboarding track of three steps started 8 days ago (the 7-day agreement
step overdue: one reminder each; half have a referral, completing their ``first_referral``
step) and a certification: a tenth expiring within 7 days (one reminder), a tenth expired
yesterday (the partner and manager told), the rest valid for a year. Then times
``lifecycle.run`` (the daily pass) once with all that to do and once more the next day (the
reminders sent: only the overdue-step escalation is due later), counting the SQL statements.
SQLite in a temporary folder by default; no Redis (owed rows are found by the reconciler).
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

from sqlalchemy import event, insert

from hub.pipeline.store import upgrade
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import lifecycle
from hub.program.models import Credential, OnboardingTask, Partner, Referral
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
PROGRAM = """\
version: 1
segments:
  rules:
    - segment: enterprise
      when: {company_size: ["1000+"]}
    - segment: certified-smb
      when: {company_size: ["1-10"], certifications: [sales-basics]}
onboarding:
  tracks:
    - name: standard
      steps:
        - {name: agreement, kind: agreement, due_days: 7}
        - {name: sales-basics, kind: training, module: sales-basics, due_days: 14}
        - {name: first-referral, kind: first_referral, due_days: 30}
compliance:
  remind_days_before: [30, 7]
"""


def build(hub: Hub, partners: int, now: datetime) -> None:
    started = now - timedelta(days=8)
    sizes = ["1000+", "1-10", "11-50"]
    with hub.sessions() as s, s.begin():
        s.execute(
            insert(Partner),
            [
                {
                    "name": f"P{n}",
                    "email": f"p{n}@partners.example",
                    "status": "active",
                    "created_at": started,
                    "company_size": sizes[n % 3],
                    "industry": "retail",
                    "country": "DE",
                    "payouts_enabled": False,
                    "email_status": "ok",
                    "partner_manager": f"pm{n % 20}@vendor.example",
                }
                for n in range(partners)
            ],
        )
        ids = list(s.scalars(Partner.__table__.select().with_only_columns(Partner.id).order_by(Partner.id)))
        steps: list[dict[str, Any]] = []
        creds: list[dict[str, Any]] = []
        refs: list[dict[str, Any]] = []
        for n, pid in enumerate(ids):
            for pos, (name, kind, days, module) in enumerate(
                [
                    ("agreement", "agreement", 7, None),
                    ("sales-basics", "training", 14, "sales-basics"),
                    ("first-referral", "first_referral", 30, None),
                ]
            ):
                steps.append(
                    {
                        "partner_id": pid,
                        "track": "standard",
                        "step": name,
                        "kind": kind,
                        "module": module,
                        "position": pos,
                        "due_at": started + timedelta(days=days),
                        "created_at": started,
                    }
                )
            expires = now + (
                timedelta(days=5) if n % 10 == 0 else timedelta(days=-1) if n % 10 == 1 else timedelta(days=365)
            )
            creds.append(
                {
                    "partner_id": pid,
                    "kind": "certification",
                    "name": "sales-basics",
                    "version": None,
                    "granted_at": started,
                    "expires_at": expires,
                    "accepted_by": "lms",
                    "source": "lms",
                    "updated_at": started,
                }
            )
            if n % 2 == 0:
                refs.append(
                    {
                        "tracking_id": f"T{n}",
                        "partner_id": pid,
                        "company_name": "Lead",
                        "status": "received",
                        "history": [],
                        "created_at": started,
                        "updated_at": started,
                    }
                )
        s.execute(insert(OnboardingTask), steps)
        s.execute(insert(Credential), creds)
        s.execute(insert(Referral), refs)


def timed_pass(hub: Hub, now: datetime) -> tuple[float, int, dict[str, Any]]:
    count = [0]

    def before(*_: Any) -> None:
        count[0] += 1

    event.listen(hub.engine, "before_cursor_execute", before)
    try:
        started = time.perf_counter()
        with unit_of_work(hub) as session:
            summary = lifecycle.run(session, hub, now)
        return time.perf_counter() - started, count[0], summary
    finally:
        event.remove(hub.engine, "before_cursor_execute", before)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-lifecycle-")
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
    busy, queries, summary = timed_pass(hub, now)
    print(f"first pass: {busy:.2f} s, {queries} SQL statements; {summary}")
    idle, queries, summary = timed_pass(hub, now + timedelta(days=1))
    print(f"next day:   {idle:.2f} s, {queries} SQL statements; {summary}")
    hub.close()


if __name__ == "__main__":
    main()
