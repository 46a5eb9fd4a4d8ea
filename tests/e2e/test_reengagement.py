"""Re-engagement through the running processes, driven by the program clock
(``PARTNERHUB_PROGRAM__CLOCK_NOW``) across worker restarts: a quiet partner gets the first
email, the second, then is flagged with a CRM task owed; a partner who uses the partner API
after the first email is left alone. Emails go to the fake SendGrid (Prism-checked)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from hub.pipeline.models import OutboxItem
from hub.program import lifecycle
from hub.program.models import Partner, ProgramRun, ReengagementSequence
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL
from tests.support.servers import wait_until

FIRST = "We miss your referrals"
SECOND = "Can we help you refer"


def subjects_to(fake, address: str) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for r in fake.accepted:
        if any(t["email"] == address for p in r.body["personalizations"] for t in p["to"]):
            out.append(r.body.get("subject") or r.body["personalizations"][0].get("subject", ""))
    return out


def add_partner(h, name: str, email: str) -> str:  # type: ignore[no-untyped-def]
    out = h.cli("partners", "add", "--name", name, "--email", email, "--manager", "pm@vendor.example").stdout
    return re.search(r"(ph_live_\S+)", out).group(1)  # type: ignore[union-attr]


def sequence(h, email: str) -> ReengagementSequence | None:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        partner = s.scalars(select(Partner).where(Partner.email == email)).one()
        return s.scalars(
            select(ReengagementSequence)
            .where(ReengagementSequence.partner_id == partner.id)
            .order_by(ReengagementSequence.id.desc())
        ).first()


def passed_on(h, when: datetime) -> bool:  # type: ignore[no-untyped-def]
    """A whole program pass ran at ``when``: its last step, the lifecycle's daily pass, claims
    that day's run (the monthly payout run would only on or after the payout day)."""
    with h.hub.sessions() as s:
        run = select(ProgramRun).where(
            ProgramRun.kind == lifecycle.RUN_KIND, ProgramRun.period == when.date().isoformat()
        )
        return s.scalars(run).first() is not None


def run_at(h, when: datetime) -> None:  # type: ignore[no-untyped-def]
    """(Re)start the deployment — web app and worker with its elected scheduler — with the
    program clock reading ``when``."""
    for proc in h.procs:
        proc.stop()
    h.env["PARTNERHUB_PROGRAM__CLOCK_NOW"] = when.isoformat()
    h.start_web()
    h.start_worker()


def test_sequence_across_restarts_and_one_stopped_by_activity(make_harness, database_url, fake_hubspot, fake_sendgrid):
    h = make_harness.with_api(
        database_url,
        fake_hubspot,
        PARTNERHUB_SENDGRID__API_KEY=API_KEY,
        PARTNERHUB_SENDGRID__API_BASE_URL=fake_sendgrid.url,
        PARTNERHUB_SENDGRID__FROM_EMAIL=FROM_EMAIL,
        PARTNERHUB_PROGRAM__TICK_INTERVAL_S="0.3",
    )
    quiet, replies = "quiet@partners.example", "replies@partners.example"
    add_partner(h, "Quiet Co", quiet)
    key = add_partner(h, "Replies Co", replies)
    joined = datetime.now(UTC)

    # day 59: nothing yet
    run_at(h, joined + timedelta(days=59))
    wait_until(lambda: passed_on(h, joined + timedelta(days=59)), 60, what="a program pass")
    assert sequence(h, quiet) is None and subjects_to(fake_sendgrid, quiet) == []

    # day 61: both get the first email
    run_at(h, joined + timedelta(days=61))
    wait_until(
        lambda: all(any(FIRST in x for x in subjects_to(fake_sendgrid, a)) for a in (quiet, replies)),
        60,
        what="first emails",
    )

    # one partner answers: it uses the partner API (its sign of life, on the program clock)
    r = httpx.get(h.web_url + "/api/v1/referrals", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200

    # restart at day 68: the second email to the quiet one only; the other sequence stops
    run_at(h, joined + timedelta(days=68))
    wait_until(
        lambda: any(SECOND in x for x in subjects_to(fake_sendgrid, quiet)) and sequence(h, replies).state == "stopped",
        60,
        what="second email and a stopped sequence",
    )
    assert sequence(h, replies).stopped_reason == "partner activity"

    # restart at day 76: flagged, a CRM task owed for the partner manager; nothing sent twice
    run_at(h, joined + timedelta(days=76))
    wait_until(lambda: sequence(h, quiet).state == "done", 60, what="flagged")
    assert [s.split("!")[0] for s in subjects_to(fake_sendgrid, quiet)] == [
        "We miss your referrals, Quiet Co",
        "Can we help you refer, Quiet Co?",
    ]
    assert [s for s in subjects_to(fake_sendgrid, replies)] == ["We miss your referrals, Replies Co"]
    with h.hub.sessions() as s:
        flagged = s.scalars(select(Partner).where(Partner.email == quiet)).one()
        assert flagged.flag_reason and "re-engagement" in flagged.flag_reason
        assert s.scalars(select(Partner).where(Partner.email == replies)).one().flag_reason is None
        tasks = list(s.scalars(select(OutboxItem).where(OutboxItem.action == "create_task")))
    # the quiet partner's health score fell below the default threshold too: its at-risk task is
    # the health score's own (tests/e2e/test_health_at_risk.py); one re-engagement task
    by_kind = {t.natural_key.split(":")[2]: t for t in tasks}
    assert sorted(by_kind) == ["health", "reengagement"] and len(tasks) == 2
    assert "At-risk partner: Quiet Co" in by_kind["health"].payload["subject"]
    task = by_kind["reengagement"]
    assert task.connector == "hubspot" and task.natural_key == f"crm:task:reengagement:{sequence(h, quiet).id}"
    assert set(task.payload) == {"subject", "body", "owner_id", "due_at"}
    assert "Quiet Co" in task.payload["subject"] and quiet in task.payload["body"]
