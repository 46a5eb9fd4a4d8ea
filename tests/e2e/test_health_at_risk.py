"""The health score through the running processes, driven by the program clock
(``PARTNERHUB_PROGRAM__CLOCK_NOW``) across worker restarts: a partner whose certification
expires falls below the at-risk threshold in the lifecycle's daily pass, which opens one task for
the partner manager — one CRM task in (fake) HubSpot and one support e-mail through (fake)
SendGrid — however often the worker restarts; a renewal (the CLI) lifts the score and the next
day's pass closes the task."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub.program.models import AtRiskTask, PartnerHealth
from tests.e2e.test_onboarding_overdue import mails_to, run_at, tasks
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL
from tests.support.servers import REPO, wait_until

PROGRAM = """\
version: 1
onboarding:
  tracks: []
compliance:
  remind_days_before: [7]
health:
  weights: {recency: 0, referrals: 0, conversion: 0, onboarding: 40, compliance: 60, email: 0}
  at_risk_below: 50
  support_sequence: true
"""
ADDRESS = "ria@at-risk-partner.example"
SUPPORT = "Can we help, At Risk Partner?"


def at_risk(h: Any) -> list[tuple[bool, int, int | None]]:
    with h.hub.sessions() as s:
        return [
            (t.open_partner_id is not None, t.opened_score, t.closed_score)
            for t in s.scalars(select(AtRiskTask).order_by(AtRiskTask.id))
        ]


def scores(h: Any) -> list[int]:
    with h.hub.sessions() as s:
        return list(s.scalars(select(PartnerHealth.score).order_by(PartnerHealth.day)))


def test_falling_score_opens_one_at_risk_task_and_recovery_closes_it_across_worker_restarts(
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
    started = datetime.now(UTC)
    h.cli("partners", "add", "--name", "At Risk Partner", "--email", ADDRESS, "--manager", "mia@vendor.example")
    expires = (started + timedelta(days=5)).isoformat()
    h.cli("partners", "certify", ADDRESS, "sales-basics", "--expires", expires, "--by", "ops")

    run_at(h, started + timedelta(days=1))  # valid (expiring within 7 days): 70, not at risk
    assert scores(h) == [70] and at_risk(h) == []
    run_at(h, started + timedelta(days=6))  # expired: 40, below 50: one task
    wait_until(lambda: [t.state for t in tasks(h)] == ["done"], 60, what="the at-risk CRM task")
    wait_until(lambda: any(subj == SUPPORT for subj, _ in mails_to(fake_sendgrid, ADDRESS)), 60, what="support")
    run_at(h, started + timedelta(days=7))  # a restart, the next day: still at risk, nothing more
    run_at(h, started + timedelta(days=7, hours=1))  # and again the same day

    assert at_risk(h) == [(True, 40, None)]
    made = tasks(h)
    assert len(made) == 1 and made[0].payload["subject"] == "At-risk partner: At Risk Partner (health 40)"
    assert [t["hs_task_subject"] for t in fake_hubspot.tasks.values()] == [made[0].payload["subject"]]
    assert [subj for subj, _ in mails_to(fake_sendgrid, ADDRESS) if subj == SUPPORT] == [SUPPORT]
    shown = json.loads(h.cli("partners", "health", ADDRESS).stdout)
    assert shown["score"] == 40 and shown["at_risk"]["open"] is True

    renewed = (started + timedelta(days=400)).isoformat()
    h.cli("partners", "certify", ADDRESS, "sales-basics", "--expires", renewed, "--by", "ops")
    run_at(h, started + timedelta(days=8))  # recovered: 100, the task closes
    run_at(h, started + timedelta(days=9))  # restarted again: nothing reopens

    assert at_risk(h) == [(False, 40, 100)]
    assert scores(h) == [70, 40, 40, 100, 100]
    assert len(tasks(h)) == 1 and len(fake_hubspot.tasks) == 1
    assert [subj for subj, _ in mails_to(fake_sendgrid, ADDRESS) if subj == SUPPORT] == [SUPPORT]
