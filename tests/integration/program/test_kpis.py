"""KPIs against a hand-computed fixture, through the function, the admin API
(``GET /api/v1/admin/kpis``) and the CLI (``partnerhub report --csv``), on SQLite and PostgreSQL.

The fixture, as of 2026-05-20 12:00 UTC (this month May, last month April; this quarter Q2,
previous quarter Q1):

=====  ========  ===========================================================  ======
who    joined    referrals (status)                                           status
=====  ========  ===========================================================  ======
P1     01-01     01-11 won, 04-10 submitted, 05-05 won, 05-15 declined        active
P2     02-01     02-21 lost, 03-01 submitted                                  active
P3     03-01     05-01 submitted                                              active
P4     04-01     none                                                         active
P5     01-01     05-02 submitted                                              paused
=====  ========  ===========================================================  ======

* partners 4 (P1-P4); active (a referral since 02-19 12:00) P1 P2 P3 = 3; share 0.7500
* referrals this month 4 (05-05, 05-15, 05-01, 05-02), last month 1 (04-10), change +3
* conversion P1 2/4 = 0.5000, P2 0/2, P3 0/1, P4 none, P5 0/1
* ledger: P1 USD 100.00 paid, USD 50.00 approved, USD -20.00 pending (a reversal), EUR 7.00
  paid; P2 EUR 30.00 pending; P3 JPY 500 cancelled (left out); an entry dated 06-01 (after
  ``at``, left out) -> USD owed 30.00 paid 100.00; EUR owed 30.00 paid 7.00
* days to first referral P1 10, P2 20, P3 61, P5 121 -> median (low) 20
* retention: Q1 active P1 P2; of them active in Q2: P1 -> 1/2 = 0.5000

The lifecycle block (this month: 05-01 00:00 to ``at``):

* onboarded this month: P2 05-06 00:00 (application approved 04-30 00:00: 6.0 days), P3 05-04
  00:00 (no application: from joining 03-01, 64.0 days), P4 05-10 12:00 (approved 03-31 12:00:
  40.0 days); P1 onboarded 02-01 (left out) -> 3 partners, median (low) "40.0"
* registrations first decided this month: 05-02 10:00 -> 16:00 by the check (6 h), 04-30 20:00 ->
  05-01 08:00 by a person (12 h), 05-10 00:00 -> 05-13 00:00 by the check (72 h); one decided
  04-20 and one still held left out -> 3, median "12.0"
* engagement: active P1-P4; P1 signed in 05-03 (last sign-in), P2 by a sign-in link used 05-10
  (its last sign-in 04-01), P3 a training step completed 05-05; P4 a certification 04-15 (left
  out); P5 signed in but paused -> 3/4 = 0.7500
* automated: reminders 2 (05-02, 05-03; one 04-25 left out), escalation 1 (05-06), re-engagement
  mail 1 (05-07; a referral mail left out), the review's tier change 1 (05-01), registrations
  the check decided 2 -> 7; by a person: the registration approval (05-01) and a tier change
  (05-12); an event replay (not lifecycle) and an application decided 03-31 left out -> 2;
  share 7/9 = 0.7778
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.pipeline.store import upgrade
from hub.program import kpis
from hub.program.models import AtRiskTask, LedgerEntry, Partner, Referral

AT = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
EXPECTED = {
    "at": "2026-05-20T12:00:00+00:00",
    "partners": 4,
    "active_partners": 3,
    "active_share": "0.7500",
    "referrals": {"period": "month", "this_period": 4, "last_period": 1, "change": 3},
    "referrals_per_month": [
        {
            "month": f"{y}-{m:02d}",
            "referrals": {"2026-01": 1, "2026-02": 1, "2026-03": 1, "2026-04": 1, "2026-05": 4}.get(f"{y}-{m:02d}", 0),
        }
        for y, m in [(2025, m) for m in range(6, 13)] + [(2026, m) for m in range(1, 6)]
    ],
    "conversion_by_partner": {
        "1": {"name": "P1", "referrals": 4, "won": 2, "rate": "0.5000"},
        "2": {"name": "P2", "referrals": 2, "won": 0, "rate": "0.0000"},
        "3": {"name": "P3", "referrals": 1, "won": 0, "rate": "0.0000"},
        "4": {"name": "P4", "referrals": 0, "won": 0, "rate": None},
        "5": {"name": "P5", "referrals": 1, "won": 0, "rate": "0.0000"},
    },
    "commission": {"EUR": {"owed": 3_000, "paid": 700}, "USD": {"owed": 3_000, "paid": 10_000}},
    "time_to_first_referral_days": {"by_partner": {"1": 10, "2": 20, "3": 61, "5": 121}, "median": 20},
    "retention": {"previous_quarter_active": 2, "retained": 1, "rate": "0.5000"},
    "lifecycle": {
        "time_to_onboard_days": {"partners": 3, "median": "40.0"},
        "registration_processing_hours": {"registrations": 3, "median": "12.0"},
        "engagement": {"active_partners": 4, "engaged": 3, "rate": "0.7500"},
        "automation": {
            "automated": 7,
            "by_person": 2,
            "share": "0.7778",
            "automated_by_kind": {
                "onboarding_reminders": 2,
                "onboarding_escalations": 1,
                "reengagement_mails": 1,
                "tier_changes": 1,
                "registration_decisions": 2,
            },
        },
    },
    # P1's task open since May 1 and P3's open on May 20 (closed May 25); P2's closed May 10, P4's opened June 1
    "at_risk_partners": 2,
}


def d(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def load_fixture(session) -> None:  # type: ignore[no-untyped-def]
    partners = {}
    for name, joined, status in (
        ("P1", d(1, 1), "active"),
        ("P2", d(2, 1), "active"),
        ("P3", d(3, 1), "active"),
        ("P4", d(4, 1), "active"),
        ("P5", d(1, 1), "paused"),
    ):
        p = Partner(name=name, email=f"{name.lower()}@partners.example", status=status, created_at=joined)
        session.add(p)
        session.flush()
        partners[name] = p.id
    referrals = [
        ("P1", d(1, 11), "closed_won"),
        ("P1", d(4, 10), "submitted"),
        ("P1", d(5, 5), "closed_won"),
        ("P1", d(5, 15), "declined"),
        ("P2", d(2, 21), "closed_lost"),
        ("P2", d(3, 1), "submitted"),
        ("P3", d(5, 1), "submitted"),
        ("P5", d(5, 2), "submitted"),
    ]
    for n, (who, at, status) in enumerate(referrals):
        session.add(
            Referral(
                tracking_id=f"R-KPI{n:07d}",
                partner_id=partners[who],
                company_name=f"C{n}",
                status=status,
                history=[],
                created_at=at,
                updated_at=at,
            )
        )
    ledger = [
        ("P1", 10_000, "USD", "paid", d(2, 1)),
        ("P1", 5_000, "USD", "approved", d(4, 1)),
        ("P1", -2_000, "USD", "pending", d(5, 1)),
        ("P1", 700, "EUR", "paid", d(3, 3)),
        ("P2", 3_000, "EUR", "pending", d(5, 2)),
        ("P3", 500, "JPY", "cancelled", d(5, 3)),
        ("P1", 9_999, "USD", "pending", d(6, 1)),
    ]
    for n, (who, amount, currency, status, at) in enumerate(ledger):
        session.add(
            LedgerEntry(
                natural_key=f"kpi:{n}",
                partner_id=partners[who],
                kind="commission",
                amount_minor=amount,
                currency=currency,
                status=status,
                created_at=at,
                updated_at=at,
            )
        )
    for who, opened, closed in (
        ("P1", d(5, 1), None),
        ("P2", d(4, 1), d(5, 10)),
        ("P3", d(5, 10), d(5, 25)),
        ("P4", d(6, 1), None),
    ):
        session.add(
            AtRiskTask(
                partner_id=partners[who],
                open_partner_id=None if closed else partners[who],
                opened_at=opened,
                opened_score=30,
                closed_at=closed,
                closed_score=60 if closed else None,
            )
        )
    session.flush()
    load_lifecycle(session, partners)


def load_lifecycle(session, partners: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    """The lifecycle block's records (see the module's docstring)."""
    from hub.program.models import (
        Application,
        AuditEntry,
        Credential,
        DealRegistration,
        Notification,
        OnboardingTask,
        PartnerUser,
        SigninToken,
    )

    for who, onboarded in (("P1", d(2, 1)), ("P2", d(5, 6)), ("P3", d(5, 4)), ("P4", d(5, 10, 12))):
        session.get(Partner, partners[who]).onboarded_at = onboarded
    for who, decided in (("P2", d(4, 30)), ("P4", d(3, 31, 12))):
        session.add(
            Application(
                email=f"{who.lower()}@apply.example", contact_name=who, company_name=who, status="approved",
                partner_id=partners[who], decided_by="ops@example.com", decided_at=decided, created_at=d(3, 1),
                updated_at=decided,
            )
        )  # fmt: skip
    for n, (who, submitted, decided, by, status) in enumerate(
        (
            ("P1", d(5, 2, 10), d(5, 2, 16), "program", "approved"),
            ("P2", d(4, 30, 20), d(5, 1, 8), "ops@example.com", "approved"),
            ("P3", d(5, 10), d(5, 13), "program", "declined"),
            ("P1", d(4, 19), d(4, 20), "program", "approved"),
            ("P2", d(5, 11), None, None, "held_for_review"),
        )
    ):
        session.add(
            DealRegistration(
                partner_id=partners[who], company_name=f"Reg{n}", company_key=f"reg{n}", status=status,
                decided_at=decided, decided_by=by, created_at=submitted, updated_at=decided or submitted,
            )
        )  # fmt: skip
    users = {}
    for who, last in (("P1", d(5, 3)), ("P2", d(4, 1)), ("P5", d(5, 10))):
        user = PartnerUser(
            partner_id=partners[who], email=f"user@{who.lower()}.example", created_at=d(1, 1), last_signed_in_at=last
        )
        session.add(user)
        session.flush()
        users[who] = user.id
    for n, (who, used) in enumerate((("P2", d(5, 10)), ("P5", d(5, 10)))):
        session.add(
            SigninToken(
                token_hash=None, nonce=f"n{n}", principal="partner_user", principal_id=users[who],
                created_at=used, expires_at=used, used_at=used,
            )
        )  # fmt: skip
    tasks = [
        ("P3", "training", d(5, 5), d(5, 2), None),
        ("P4", "task", None, d(5, 3), d(5, 6)),
        ("P4", "agreement", d(5, 10, 12), d(4, 25), None),
    ]
    for n, (who, kind, completed, reminded, escalated) in enumerate(tasks):
        session.add(
            OnboardingTask(
                partner_id=partners[who], track="standard", step=f"s{n}", kind=kind, position=n, due_at=d(4, 20),
                completed_at=completed, reminded_at=reminded, escalated_at=escalated, created_at=d(4, 1),
            )
        )  # fmt: skip
    session.add(
        Credential(
            partner_id=partners["P4"], kind="certification", name="sales-basics", granted_at=d(4, 15),
            source="lms", updated_at=d(4, 15),
        )
    )  # fmt: skip
    for n, kind in enumerate(("reengagement_first", "referral_received")):
        session.add(
            Notification(
                natural_key=f"kpi-mail:{n}", partner_id=partners["P4"], kind=kind, to_email="p4@partners.example",
                subject="s", status="sent", created_at=d(5, 7), updated_at=d(5, 7),
            )
        )  # fmt: skip
    for actor, action, at in (
        ("program", "partner.tier", d(5, 1)),
        ("ops@example.com", "registration.approve", d(5, 1, 8)),
        ("ops@example.com", "partner.tier", d(5, 12)),
        ("ops@example.com", "events.replay", d(5, 12)),
        ("ops@example.com", "application.approve", d(3, 31, 12)),
    ):
        session.add(AuditEntry(actor=actor, action=action, subject="kpi", before=None, after=None, at=at))
    session.flush()


def test_kpis_match_the_hand_computed_fixture(db_session):
    load_fixture(db_session)
    assert kpis.compute(db_session, AT) == EXPECTED


def test_the_period_selector_compares_quarters_and_years(db_session):
    load_fixture(db_session)
    # Q2 so far: 04-10, 05-01, 05-02, 05-05, 05-15; Q1: 01-11, 02-21, 03-01
    assert kpis.compute(db_session, AT, period="quarter")["referrals"] == {
        "period": "quarter",
        "this_period": 5,
        "last_period": 3,
        "change": 2,
    }
    assert kpis.compute(db_session, AT, period="year")["referrals"] == {
        "period": "year",
        "this_period": 8,
        "last_period": 0,
        "change": 8,
    }
    with pytest.raises(ValueError):
        kpis.compute(db_session, AT, period="week")  # type: ignore[arg-type]


def test_kpis_are_a_few_grouped_queries_not_a_load_of_every_row(db_session):
    from sqlalchemy import event

    load_fixture(db_session)
    statements: list[str] = []

    def seen(conn, cursor, statement, *rest):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = db_session.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        kpis.compute(db_session, AT)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # partners; referrals per partner (all time, won, recent windows); per month (one statement
    # of range counts); ledger; at-risk tasks: a fixed number whatever the rows, each grouped or a count
    # + the lifecycle block: onboarded, registrations decided, one statement of counts
    assert len(statements) == 10
    assert all("GROUP BY" in s or "count(*)" in s for s in statements if "referrals" in s or "ledger_entries" in s)
    assert not [s for s in statements if "referrals.history" in s or "ledger_entries.rule_snapshot" in s]


@pytest.fixture
def loaded(database_url, monkeypatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    for key in [k for k in os.environ if k.startswith("PARTNERHUB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PARTNERHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARTNERHUB_ADMIN_TOKEN", "admin-token-made-up-32-characters-or-more")
    # the program clock at AT: the console's dashboard computes "now" from it
    monkeypatch.setenv("PARTNERHUB_MODE", "test")
    monkeypatch.setenv("PARTNERHUB_PROGRAM__CLOCK_NOW", AT.isoformat())
    monkeypatch.setenv("PARTNERHUB_WEB__SECRET", "web-secret-made-up-for-tests-0000000000000000")
    upgrade(database_url)
    engine = create_engine(database_url, hide_parameters=True)
    with Session(engine) as session, session.begin():
        load_fixture(session)
    engine.dispose()
    return database_url


def report(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "report", "--at", AT.isoformat(), *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_kpis_through_the_admin_api_and_the_report_command(loaded, redis_url, monkeypatch):
    from fastapi.testclient import TestClient

    from hub.asgi import build_app
    from hub.program import access
    from hub.runtime.context import Hub
    from hub.runtime.settings import load_settings
    from tests.support.web import session_cookie

    monkeypatch.setenv("REDIS_URL", redis_url)
    hub = Hub.open(load_settings())
    try:
        with hub.sessions() as session, session.begin():
            access.add_operator(session, "ops@example.com", role="viewer")
            viewer = access.find_by_email(session, "ops@example.com")
        assert viewer is not None
        with TestClient(build_app(hub)) as client:
            assert client.get("/api/v1/admin/kpis").status_code == 401
            answer = client.get(
                "/api/v1/admin/kpis",
                params={"at": AT.isoformat()},
                headers={"Authorization": "Bearer admin-token-made-up-32-characters-or-more"},
            )
            assert answer.status_code == 200 and answer.json() == EXPECTED
            quarterly = client.get(
                "/api/v1/admin/kpis",
                params={"at": AT.isoformat(), "period": "quarter"},
                headers={"Authorization": "Bearer admin-token-made-up-32-characters-or-more"},
            )
            assert quarterly.status_code == 200 and quarterly.json()["referrals"]["this_period"] == 5
            bad = client.get(
                "/api/v1/admin/kpis",
                params={"period": "week"},
                headers={"Authorization": "Bearer admin-token-made-up-32-characters-or-more"},
            )
            assert bad.status_code == 422
            # the console's dashboard: the same computation, its CSV the report's CSV
            client.cookies.set(*session_cookie(hub, viewer))
            dashboard = client.get("/console", params={"period": "quarter"})
            assert dashboard.status_code == 200
            assert '<div class="value">5</div><div class="sub">last quarter 3 (+2)</div>' in dashboard.text
            assert '<div class="value">3 / 4</div>' in dashboard.text
            assert '<div class="label">At-risk partners</div><div class="value">2</div>' in dashboard.text
            monthly = client.get("/console")
            block = monthly.text.split('id="lifecycle-kpis"', 1)[1].split("</section>", 1)[0]
            assert '<div class="value">40.0 days</div>' in block and '<div class="value">12.0 h</div>' in block
            assert '<div class="value">75 %</div>' in block and "3 of 4 active partners" in block
            assert "7 automated, 2 by a person" in block
            dashboard_csv = client.get("/console/kpis.csv").text
            dashboard_quarter_csv = client.get("/console/kpis.csv", params={"period": "quarter"}).text
    finally:
        hub.close()
    assert json.loads(report("--json", "--period", "quarter")) == quarterly.json()
    report_csv = report("--csv")
    # (the subprocess reads its output with universal newlines)
    assert dashboard_csv.replace("\r\n", "\n") == report_csv
    assert "referrals this quarter,5" in dashboard_quarter_csv
    rows = dict(csv.reader(io.StringIO(report_csv)))
    assert rows["active partners"] == "3" and rows["active share"] == "0.7500"
    assert (rows["referrals this month"], rows["referrals last month"]) == ("4", "1")

    assert rows["commission owed USD"] == "$30.00" and rows["commission paid USD"] == "$100.00"
    assert rows["commission paid EUR"] == "€7.00" and rows["median days to first referral"] == "20"
    assert rows["retention (previous quarter)"] == "0.5000" and rows["at-risk partners"] == "2"
    assert rows["conversion partner 1 (P1)"] == "2/4 = 0.5000"
    # the lifecycle block, as the dashboard and the API show it
    assert rows["median days to onboard (this month)"] == "40.0"
    assert rows["median hours to decide a registration (this month)"] == "12.0"
    assert rows["engagement rate (this month)"] == "0.7500"
    assert rows["lifecycle actions automated (this month)"] == "0.7778"
