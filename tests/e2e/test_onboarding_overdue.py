"""An overdue onboarding step through the running processes, driven by the program clock
(``PARTNERHUB_PROGRAM__CLOCK_NOW``) across worker restarts: an application sent to the web app,
confirmed by the mailed link and approved by the CLI starts the track; once the agreement step is
overdue the partner gets one reminder (fake SendGrid), and ``escalate_after_days`` later one CRM
task for the partner manager (fake HubSpot) — however often the worker restarts."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from hub.pipeline.models import OutboxItem
from hub.program.models import Application, OnboardingTask, ProgramRun
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL
from tests.support.servers import REPO, wait_until

PROGRAM = """\
version: 1
onboarding:
  agreement_version: "1"
  escalate_after_days: 3
  tracks:
    - name: standard
      steps:
        - {name: agreement, kind: agreement, due_days: 7}
"""
ADDRESS = "dana@overdue-partner.example"
REMINDER = "Onboarding: agreement is due"


def mails_to(fake: Any, address: str) -> list[tuple[str, str]]:
    """(subject, text) of each mail the fake SendGrid accepted for ``address``."""
    out = []
    for r in fake.accepted:
        if any(t["email"] == address for p in r.body["personalizations"] for t in p["to"]):
            subject = r.body.get("subject") or r.body["personalizations"][0].get("subject", "")
            out.append((subject, " ".join(part["value"] for part in r.body["content"])))
    return out


def ran_on(h: Any, day: datetime) -> bool:
    with h.hub.sessions() as s:
        return (
            s.scalars(
                select(ProgramRun).where(ProgramRun.kind == "lifecycle", ProgramRun.period == day.date().isoformat())
            ).first()
            is not None
        )


def run_at(h: Any, when: datetime) -> None:
    """(Re)start the web app and the worker (with its elected scheduler), the clock reading ``when``."""
    for proc in h.procs:
        proc.stop()
    h.procs.clear()
    h.env["PARTNERHUB_PROGRAM__CLOCK_NOW"] = when.isoformat()
    h.start_web()
    h.start_worker()
    wait_until(lambda: ran_on(h, when), 60, what=f"the lifecycle pass of {when.date()}")


def tasks(h: Any) -> list[OutboxItem]:
    with h.hub.sessions() as s:
        return list(s.scalars(select(OutboxItem).where(OutboxItem.action == "create_task")))


def test_overdue_step_reminds_once_then_one_manager_task_across_worker_restarts(
    make_harness: Any, database_url: str, fake_hubspot: Any, fake_sendgrid: Any, tmp_path: Any
) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    (mappings / "program.yaml").write_text(PROGRAM)
    h = make_harness.with_api(
        database_url,
        fake_hubspot,
        PARTNERHUB_MAPPINGS_DIR=str(mappings),
        PARTNERHUB_SENDGRID__API_KEY=API_KEY,
        PARTNERHUB_SENDGRID__API_BASE_URL=fake_sendgrid.url,
        PARTNERHUB_SENDGRID__FROM_EMAIL=FROM_EMAIL,
        PARTNERHUB_PROGRAM__TICK_INTERVAL_S="0.3",
    )
    h.cli("crm", "setup")  # the CRM fields the hub's tasks carry (partnerhub_task_key)
    h.start_web()
    h.start_worker()
    applied = httpx.post(
        h.web_url + "/api/v1/applications",
        json={"email": ADDRESS, "contact_name": "Dana", "company_name": "Overdue Partner"},
        timeout=30,
    )
    assert applied.status_code == 202, applied.text
    mail = wait_until(lambda: mails_to(fake_sendgrid, ADDRESS), 60, what="the confirmation mail")
    token = re.search(r"/apply/confirm\?token=([A-Za-z0-9_-]+)", mail[0][1]).group(1)  # type: ignore[union-attr]
    confirmed = httpx.post(h.web_url + "/api/v1/applications/confirm", json={"token": token}, timeout=30)
    assert confirmed.json() == {"status": "pending"}
    with h.hub.sessions() as s:
        app_id = s.scalars(select(Application.id).where(Application.email == ADDRESS)).one()
    assert "approved" in h.cli("applications", "approve", str(app_id), "--reason", "fit", "--by", "ops").stdout
    started = datetime.now(UTC)

    run_at(h, started + timedelta(days=8))  # the agreement (due on day 7) is overdue: one reminder
    wait_until(lambda: any(REMINDER in subj for subj, _ in mails_to(fake_sendgrid, ADDRESS)), 60, what="reminder")
    run_at(h, started + timedelta(days=9))  # a restart, the next day: no second reminder, no task yet
    run_at(h, started + timedelta(days=12))  # 3 days after the reminder: one task for the manager
    wait_until(lambda: [t.state for t in tasks(h)] == ["done"], 60, what="the manager's CRM task")
    run_at(h, started + timedelta(days=13))  # restarted again: nothing more

    assert [subj for subj, _ in mails_to(fake_sendgrid, ADDRESS) if REMINDER in subj] == [REMINDER]
    made = tasks(h)
    with h.hub.sessions() as s:
        step = s.scalars(select(OnboardingTask).where(OnboardingTask.step == "agreement")).one()
    assert [t.natural_key for t in made] == [f"crm:task:onboarding:{step.id}"]
    assert "Overdue Partner" in made[0].payload["subject"] and step.completed_at is None
    assert [t["hs_task_subject"] for t in fake_hubspot.tasks.values()] == [made[0].payload["subject"]]
