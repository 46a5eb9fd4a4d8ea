"""The health score through the real entry points on SQLite and PostgreSQL: the program's timed
rules (``hub.program.tick``, the lifecycle's daily pass), the admin API, the CLI, the console and
the portal. A certification that expires drops a partner's score below the at-risk threshold:
one at-risk task (the console queue, one CRM task, one support e-mail), however often the pass
runs or the hub restarts; renewing it closes the task. Partners never see any of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.api.app import create_app
from hub.asgi import build_app
from hub.mapping import Canonical
from hub.pipeline.models import OutboxItem
from hub.pipeline.store import utcnow
from hub.program import access, health, lifecycle, onboarding, review_queues
from hub.program import tick as program_tick
from hub.program.email import events
from hub.program.models import AtRiskTask, Notification, Partner, PartnerHealth
from hub.program.partners import add_partner, rotate_key
from hub.runtime.context import Hub
from tests.support.program_hub import cli, open_program_hub
from tests.support.web import session_cookie

TOKEN = "admin-token-made-up-for-the-health-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
#: only compliance and onboarding count: an expired certification alone takes a partner to 40
PROGRAM = """\
version: 1
onboarding:
  tracks: []
compliance:
  remind_days_before: [7]
health:
  weights: {recency: 0, referrals: 0, conversion: 0, onboarding: 40, compliance: 60, email: 0}
  at_risk_below: 50
  task_owner_id: owner-7
  support_sequence: true
"""


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    h = open_program_hub(database_url, redis_url, tmp_path, monkeypatch, program=PROGRAM, admin_token=TOKEN)
    yield h
    h.close()


def make_partner(h: Hub, email: str, manager: str | None = None) -> int:
    with h.sessions() as s, s.begin():
        p = add_partner(s, name=email.split("@")[0].title(), email=email, partner_manager=manager).partner
        return p.id


def certify(h: Hub, partner_id: int, expires_in_days: int, now: Any) -> None:
    with h.sessions() as s, s.begin():
        p = s.get(Partner, partner_id)
        assert p is not None
        onboarding.record_certification(
            s, h, p, name="sales-basics", expires_at=now + timedelta(days=expires_in_days), by="ops", now=now
        )


def at_risk_state(h: Hub) -> dict[str, Any]:
    with h.sessions() as s:
        return {
            "tasks": [
                (t.partner_id, t.open_partner_id is not None, t.opened_score, t.closed_score)
                for t in s.scalars(select(AtRiskTask).order_by(AtRiskTask.id))
            ],
            "crm_tasks": list(
                s.scalars(
                    select(OutboxItem.natural_key).where(OutboxItem.action == "create_task").order_by(OutboxItem.id)
                )
            ),
            "support_mail": list(
                s.scalars(select(Notification.natural_key).where(Notification.kind == "health_support"))
            ),
            "history": s.scalar(select(func.count()).select_from(PartnerHealth)),
            "queue": review_queues.counts(s)["at_risk"],
        }


def test_falling_score_opens_one_task_and_recovery_closes_it_across_a_restart(
    hub: Hub, database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = utcnow()
    falling = make_partner(hub, "fay@falling.example", manager="mia@vendor.example")
    steady = make_partner(hub, "sam@steady.example")
    certify(hub, falling, 5, start)  # expires on day 5
    certify(hub, steady, 400, start)

    program_tick.tick(hub, start + timedelta(days=1))
    first = at_risk_state(hub)
    assert first["tasks"] == [] and first["history"] == 2
    with hub.sessions() as s:  # expiring within the 7-day reminder: compliance 50, score 40*100+60*50 // 100
        scored = s.scalars(select(PartnerHealth).where(PartnerHealth.partner_id == falling)).one()
        assert (scored.score, scored.parts["compliance"]["value"]) == (70, 50)

    program_tick.tick(hub, start + timedelta(days=6))  # expired: compliance 0, score 40 < 50
    program_tick.tick(hub, start + timedelta(days=6, hours=2))  # the same day: the pass ran already
    with hub.sessions() as s, s.begin():  # the pass itself run again for that day changes nothing
        assert lifecycle.run(s, hub, start + timedelta(days=6, hours=3))["health"] == {
            "scored": 2,
            "written": 0,
            "opened": 0,
            "closed": 0,
        }
    opened = at_risk_state(hub)
    with hub.sessions() as s:
        task_id = s.scalars(select(AtRiskTask.id)).one()
        crm = s.scalars(select(OutboxItem).where(OutboxItem.action == "create_task")).one()
    assert opened["tasks"] == [(falling, True, 40, None)]
    assert opened["crm_tasks"] == [f"crm:task:health:{task_id}"]
    assert crm.payload["subject"] == "At-risk partner: Fay (health 40)"
    assert crm.payload["owner_id"] == "owner-7" and "compliance 0" in crm.payload["body"]
    assert opened["support_mail"] == [f"health-support:{task_id}"]
    assert opened["history"] == 4 and opened["queue"] == 1

    hub.close()  # a restart: a new process, the same database
    again = open_program_hub(
        database_url, redis_url, tmp_path / "again", monkeypatch, program=PROGRAM, admin_token=TOKEN
    )
    try:
        program_tick.tick(again, start + timedelta(days=7))  # still at risk: nothing more
        assert at_risk_state(again)["tasks"] == opened["tasks"]
        assert at_risk_state(again)["crm_tasks"] == opened["crm_tasks"]
        assert at_risk_state(again)["support_mail"] == opened["support_mail"]

        # operators see the score and its parts: the admin API, the CLI, the KPIs
        with TestClient(create_app(again)) as client:
            shown = client.get(f"/api/v1/admin/partners/{falling}/health", headers=ADMIN).json()
            queue = client.get("/api/v1/admin/health/at-risk", headers=ADMIN).json()
            day7 = (start + timedelta(days=7)).isoformat()
            kpi = client.get("/api/v1/admin/kpis", params={"at": day7}, headers=ADMIN).json()
            missing = client.get("/api/v1/admin/partners/999999/health", headers=ADMIN)
            refused = client.get(f"/api/v1/admin/partners/{falling}/health")
        assert shown["score"] == 40 and shown["parts"]["compliance"]["value"] == 0
        assert shown["at_risk"]["open"] is True and shown["at_risk"]["opened_score"] == 40
        assert [h["score"] for h in shown["history"]] == [40, 40, 70]
        assert [(q["partner_id"], q["partner_name"], q["partner_manager"]) for q in queue] == [
            (falling, "Fay", "mia@vendor.example")
        ]
        assert kpi["at_risk_partners"] == 1
        assert missing.status_code == 404 and refused.status_code == 401
        assert json.loads(cli("partners", "health", "fay@falling.example").stdout)["score"] == 40
        unknown = cli("partners", "health", "nobody@falling.example", code=1)
        assert unknown.stderr.strip() == "error: no partner nobody@falling.example"
        report = cli("report", "--csv", "--at", day7).stdout
        assert "at-risk partners,1" in report

        certify(again, falling, 400, start + timedelta(days=7))  # renewed
        program_tick.tick(again, start + timedelta(days=8))
        program_tick.tick(again, start + timedelta(days=9))
        closed = at_risk_state(again)
        assert closed["tasks"] == [(falling, False, 40, 100)]
        assert closed["crm_tasks"] == opened["crm_tasks"] and closed["queue"] == 0
        with again.sessions() as s:
            assert health.at_risk_count(s) == 0
            note = s.scalars(select(AtRiskTask.closed_note)).one()
        assert note == health.RECOVERED_NOTE
        with TestClient(create_app(again)) as client:
            day9 = (start + timedelta(days=9)).isoformat()
            assert client.get("/api/v1/admin/kpis", params={"at": day9}, headers=ADMIN).json()["at_risk_partners"] == 0
            back = client.get("/api/v1/admin/kpis", params={"at": day7}, headers=ADMIN).json()
        assert back["at_risk_partners"] == 1  # the KPI as of day 7: the task was open then
    finally:
        again.close()


def test_email_opens_count_and_a_bounce_zeroes_the_email_signal(hub: Hub) -> None:
    pid = make_partner(hub, "eve@engaged.example")
    now = utcnow()
    with hub.sessions() as s, s.begin():
        for n in range(4):
            s.add(
                Notification(
                    natural_key=f"test-mail:{n}",
                    partner_id=pid,
                    kind="referral_received",
                    to_email="eve@engaged.example",
                    subject="s",
                    status="delivered",
                    created_at=now - timedelta(days=n + 1),
                    updated_at=now,
                )
            )
    with hub.sessions() as s, s.begin():
        first = s.scalars(select(Notification).where(Notification.natural_key == "test-mail:0")).one()
        outcome = events.apply(
            s, _event({"event": "open", "notification_id": str(first.id), "email": "eve@engaged.example"})
        )
        assert "engaged" in outcome
        events.apply(s, _event({"event": "click", "notification_id": str(first.id)}))
    with hub.sessions() as s:
        signals = health.gather(s, hub, now)[pid]
        assert (signals.mails, signals.engaged, signals.email_stopped) == (4, 1, False)
        assert health.parts(signals, hub.program.health)["email"] == 100  # 1 of 4 opened: 25 %, the target
    with hub.sessions() as s, s.begin():
        events.apply(
            s,
            _event({"event": "bounce", "notification_id": str(first.id), "email": "eve@engaged.example"}),
        )
    with hub.sessions() as s:
        signals = health.gather(s, hub, now)[pid]
        assert signals.email_stopped and health.parts(signals, hub.program.health)["email"] == 0


def _event(fields: dict[str, Any]) -> Canonical:
    return Canonical(target="notification_event", key=f"test:{fields['event']}", fields=fields, version_ms=None)


#: every page and partner API route without a path parameter (those with one show a single record)
PORTAL_PAGES = (
    "/portal",
    "/portal/referrals",
    "/portal/referrals/new",
    "/portal/registrations",
    "/portal/registrations/new",
    "/portal/money",
    "/portal/statement.csv",
    "/portal/profile",
    "/portal/onboarding",
)
PARTNER_API = (
    "/api/v1/referrals",
    "/api/v1/commissions",
    "/api/v1/onboarding",
    "/api/v1/peers",
    "/api/v1/features",
    "/api/v1/deal-registrations",
    "/api/v1/statement",
)
WORDS = ("health", "at-risk", "at_risk", "at risk")


def test_no_portal_page_or_partner_api_shows_the_score(hub: Hub) -> None:
    start = utcnow()
    pid = make_partner(hub, "pia@private.example")
    certify(hub, pid, 1, start)
    program_tick.tick(hub, start + timedelta(days=2))  # scored 40 and at risk
    with hub.sessions() as s:
        assert s.scalars(select(AtRiskTask.partner_id)).one() == pid
    with hub.sessions() as s, s.begin():
        person = access.find_by_email(s, "pia@private.example")
        p = s.get(Partner, pid)
        assert person is not None and p is not None
        key = rotate_key(s, p)
    app = build_app(hub)
    name, value = session_cookie(hub, person)
    paths = [*PORTAL_PAGES, *PARTNER_API]
    seen = 0
    with TestClient(app, cookies={name: value}) as client:
        for path in paths:
            got = client.get(path, headers={"Authorization": f"Bearer {key}"})
            if got.status_code != 200:
                continue
            seen += 1
            text = got.text.lower()
            assert not any(word in text for word in WORDS), (path, [w for w in WORDS if w in text])
            assert '"score"' not in text, path
    assert seen == len(paths)
    with TestClient(app) as client:  # the operators' route refuses a partner's key
        got = client.get(f"/api/v1/admin/partners/{pid}/health", headers={"Authorization": f"Bearer {key}"})
        assert got.status_code in (401, 403)
