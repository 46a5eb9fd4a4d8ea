"""The operator console through the real ASGI app (``hub.asgi``) in this process, with signed-in
operator sessions: every page renders and keeps partner-written text inert; the review queues'
decisions are the domain's, audited with the operator; replay from the events page; CSV exports
neutralise formulas; the files page checks and shadow-runs an edited file and writes nothing; a
viewer can never decide, replay or see a secret."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from hub.asgi import build_app
from hub.pipeline.models import Alert, InboxEvent, OutboxItem
from hub.pipeline.store import upgrade
from hub.program import access
from hub.program.models import AuditEntry, LedgerEntry, OnboardingTask, Partner, Payout, Referral
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings
from tests.support.servers import REPO
from tests.support.web import WEB_SECRET, csrf_of, session_cookie

NOW = datetime.now(UTC).replace(microsecond=0)
XSS = "<script>alert('pwned')</script>"
SECRET = "sk_live_made_up_secret_value_1234"


@pytest.fixture
def hub(sqlite_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    for key in [k for k in os.environ if k.startswith("PARTNERHUB_")]:
        monkeypatch.delenv(key)
    mappings = tmp_path / "mappings"
    import shutil

    shutil.copytree(REPO / "mappings", mappings)
    for name, value in {
        "DATABASE_URL": sqlite_url,
        "REDIS_URL": redis_url,
        "PARTNERHUB_DATA_DIR": str(tmp_path / "data"),
        "PARTNERHUB_MAPPINGS_DIR": str(mappings),
        "PARTNERHUB_WEB__SECRET": WEB_SECRET,
        "PARTNERHUB_MODE": "test",
    }.items():
        monkeypatch.setenv(name, value)
    upgrade(sqlite_url)
    opened = Hub.open(load_settings())
    try:
        yield opened
    finally:
        opened.close()


def signed_in(hub: Hub, email: str, role: str) -> TestClient:
    with hub.sessions() as session, session.begin():
        access.add_operator(session, email, role=role)
        person = access.find_by_email(session, email)
        assert person is not None
    client = TestClient(build_app(hub))
    name, value = session_cookie(hub, person)
    client.cookies.set(name, value)
    return client


@pytest.fixture
def admin(hub: Hub) -> Iterator[TestClient]:
    with signed_in(hub, "ada@ops.example", "admin") as client:
        yield client


@pytest.fixture
def viewer(hub: Hub) -> Iterator[TestClient]:
    with signed_in(hub, "vic@ops.example", "viewer") as client:
        yield client


def seed(hub: Hub) -> dict[str, Any]:
    """One partner with a hostile name and what waits for a person: two held referrals (one with a
    hostile company name), a payout in review with a held commission and one clean, a dead inbox
    event whose payload carries a secret, an open alert, an approved payout whose partner's name
    starts a formula."""
    with hub.sessions() as s, s.begin():
        evil = Partner(name=XSS, email="evil@partners.example", status="active", created_at=NOW - timedelta(days=40))
        formula = Partner(
            name='=HYPERLINK("http://x.example")', email="f@partners.example", status="active", created_at=NOW
        )
        s.add_all([evil, formula])
        s.flush()
        refs = []
        for n, company in enumerate((XSS, "Globex")):
            r = Referral(
                tracking_id=f"R-CON{n:05d}",
                partner_id=evil.id,
                company_name=company,
                contact_email=f"buyer{n}@globex.example",
                status="held_for_review",
                history=[{"status": "held_for_review", "reason": "referred by another partner", "at": NOW.isoformat()}],
                created_at=NOW - timedelta(days=1),
                updated_at=NOW,
            )
            s.add(r)
            refs.append(r)
        clean = Payout(
            partner_id=evil.id,
            currency="USD",
            amount_minor=12_345,
            period="2026-10",
            status="review",
            created_at=NOW,
            updated_at=NOW,
        )
        held = Payout(
            partner_id=evil.id,
            currency="EUR",
            amount_minor=5_000,
            period="2026-10",
            status="review",
            created_at=NOW,
            updated_at=NOW,
        )
        manual = Payout(
            partner_id=formula.id,
            currency="USD",
            amount_minor=7_000,
            period="2026-10",
            status="approved",
            method="manual",
            created_at=NOW,
            updated_at=NOW,
        )
        s.add_all([clean, held, manual])
        s.flush()
        for n, (payout, currency, hold) in enumerate(((clean, "USD", None), (held, "EUR", "shares a bank account"))):
            s.add(
                LedgerEntry(
                    natural_key=f"con:{n}",
                    partner_id=evil.id,
                    kind="commission",
                    amount_minor=payout.amount_minor,
                    currency=currency,
                    status="in_payout",
                    payout_id=payout.id,
                    hold_reason=hold,
                    held_at=NOW if hold else None,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        dead = InboxEvent(
            connector="hubspot",
            event_key="con-dead-1",
            event_type="deal.propertyChange",
            object_type="deal",
            object_id="9001",
            payload={"objectId": 9001, "propertyValue": XSS, "client_secret": SECRET},
            received_at=NOW - timedelta(hours=2),
            state="dead",
            attempts=5,
            next_attempt_at=NOW,
            last_error_kind="mapping",
            last_error="mappings/hubspot/deals.yaml:12:5: unknown stage",
            last_traceback="Traceback (most recent call last):\nMappingRuntimeError",
        )
        s.add(dead)
        s.add(
            OutboxItem(
                natural_key="email:signin:77",
                connector="sendgrid",
                action="send_email",
                payload={
                    "to": "a@b.example",
                    "html": "https://hub.example/signin/link?t=abcdefghijklmnopqrstuvwxyz0123",
                },
                idempotency_key="k77",
                created_at=NOW,
                state="dead",
                next_attempt_at=NOW,
            )
        )
        s.add(
            Alert(
                key="dead:inbox:1",
                kind="dead_letter",
                severity="error",
                message=f"dead {XSS}",
                first_seen_at=NOW,
                last_seen_at=NOW,
            )
        )
        s.flush()
        return {
            "evil": evil.id,
            "formula": formula.id,
            "refs": [r.tracking_id for r in refs],
            "clean": clean.id,
            "held": held.id,
            "dead": dead.id,
        }


def pages(ids: dict[str, Any]) -> list[str]:
    return [
        "/console",
        "/console?period=year",
        "/console/queues",
        *[
            f"/console/queues/{q}"
            for q in (
                "referrals",
                "registrations",
                "payouts",
                "unknown",
                "holds",
                "flagged",
                "alerts",
                "applications",
                "onboarding",
            )
        ],
        "/console/money",
        "/console/money?status=review",
        "/console/partners",
        f"/console/partners?q={ids['evil']}",
        f"/console/partners/{ids['evil']}",
        "/console/events",
        "/console/events?table=outbox",
        f"/console/events/inbox/{ids['dead']}",
        "/console/alerts",
        "/console/files",
        "/console/files?name=hubspot/deals.yaml",
        "/console/operators",
    ]


def test_every_console_page_renders_with_partner_text_inert_and_secrets_masked(hub, admin):
    ids = seed(hub)
    for path in pages(ids):
        answer = admin.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert "<script>alert" not in answer.text, path  # partner-written text is escaped
        assert SECRET not in answer.text and "abcdefghijklmnopqrstuvwxyz0123" not in answer.text, path
        assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    escaped = "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"
    for path in (
        "/console",
        "/console/queues/referrals",
        "/console/queues/payouts",
        f"/console/partners/{ids['evil']}",
        "/console/alerts",
    ):
        assert escaped in admin.get(path).text, path
    detail = admin.get(f"/console/events/inbox/{ids['dead']}").text
    assert "\\u003cscript\\u003e" in detail  # the payload as JSON, its markup escaped
    assert "MappingRuntimeError" in detail and "mapping" in detail and "•••" in detail
    dashboard = admin.get("/console").text
    assert "<svg" in dashboard and "Referrals per month" in dashboard
    queues = admin.get("/console/queues").text
    assert re.search(r'data-queue="referrals">2<', queues) and re.search(r'data-queue="payouts">2<', queues)
    assert re.search(r'data-queue="holds">1<', queues) and re.search(r'data-queue="alerts">1<', queues)
    # bad filters are a clear 400, never a 500
    for path in (
        "/console?period=week",
        "/console/events?state=nope",
        "/console/events?since=yesterday",
        "/console/partners?page=0",
        "/console/money?status=x",
    ):
        assert admin.get(path).status_code == 400, path
    assert admin.get("/console/events/inbox/999999").status_code == 404
    assert admin.get("/console/queues/nope").status_code == 404


def post(client: TestClient, page: str, action: str, **data: str) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": token, **data}, follow_redirects=False)


def audit(hub: Hub, action: str) -> list[AuditEntry]:
    with hub.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_an_admin_decides_from_the_review_queues_audited_by_name(hub, admin):
    ids = seed(hub)
    queue = "/console/queues/referrals"
    approve, decline = (f"/console/queues/referrals/{t}" for t in ids["refs"])
    # no reason: refused, nothing changes; no CSRF token: refused
    assert post(admin, queue, f"{approve}/approve", reason="").status_code == 400
    assert admin.post(f"{approve}/approve", data={"reason": "ok"}).status_code == 403
    assert post(admin, queue, f"{approve}/approve", reason="Checked with the rep").status_code == 303
    assert post(admin, queue, f"{decline}/decline", reason="Already a customer").status_code == 303
    with hub.sessions() as s:
        statuses = {r.tracking_id: r.status for r in s.scalars(select(Referral))}
    assert statuses == {ids["refs"][0]: "submitted", ids["refs"][1]: "declined"}
    assert {(a.actor, a.after["reason"]) for a in audit(hub, "referral.approve") + audit(hub, "referral.decline")} == {
        ("operator:ada@ops.example", "Checked with the rep"),
        ("operator:ada@ops.example", "Already a customer"),
    }
    # a decided referral cannot be decided again: 409 with the domain's reason
    again = post(admin, queue, f"{approve}/approve", reason="twice")
    assert again.status_code == 409 and "not held for review" in again.text

    payouts = "/console/queues/payouts"
    refused = post(admin, payouts, f"/console/payouts/{ids['held']}/approve", reason="ok", back="payouts")
    assert refused.status_code == 409 and "held for review" in refused.text
    assert (
        post(
            admin, payouts, f"/console/payouts/{ids['clean']}/approve", reason="Looks right", back="payouts"
        ).status_code
        == 303
    )
    with hub.sessions() as s:
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.payout_id == ids["held"])).one()
        assert s.get(Payout, ids["clean"]).decided_by == "operator:ada@ops.example"  # type: ignore[union-attr]
        assert s.get(Payout, ids["held"]).status == "review"  # type: ignore[union-attr]
    assert (
        post(
            admin, "/console/queues/holds", f"/console/ledger/{entry.id}/release", reason="Same family business"
        ).status_code
        == 303
    )
    assert (
        post(
            admin, payouts, f"/console/payouts/{ids['held']}/approve", reason="Hold released", back="payouts"
        ).status_code
        == 303
    )
    assert [a.actor for a in audit(hub, "payout.approve")] == ["operator:ada@ops.example"] * 2
    badges = admin.get("/console/queues").text
    assert re.search(r'data-queue="referrals">0<', badges) and re.search(r'data-queue="holds">0<', badges)


def test_replay_from_the_events_page_is_the_cli_replay_and_audited(hub, admin):
    ids = seed(hub)
    answer = post(
        admin, "/console/events?state=dead", "/console/events/replay", table="inbox", **{f"id-{ids['dead']}": "on"}
    )
    assert answer.status_code == 303 and "replayed=1" in answer.headers["location"]
    with hub.sessions() as s:
        row = s.get(InboxEvent, ids["dead"])
        assert row is not None and (row.state, row.attempts, row.finished_at) == ("received", 0, None)
    assert audit(hub, "events.replay")[0].after == {"table": "inbox", "ids": [ids["dead"]], "replayed": [ids["dead"]]}
    assert post(admin, "/console/events", "/console/events/replay", table="inbox").status_code == 400  # nothing ticked


def test_a_viewer_sees_but_never_decides_replays_or_sees_a_secret(hub, viewer):
    ids = seed(hub)
    for path in pages(ids):
        answer = viewer.get(path)
        assert answer.status_code == 200, path
        assert SECRET not in answer.text
        assert "Replay" not in answer.text and 'formaction="/console/queues/referrals' not in answer.text, path
    for action, data in (
        (f"/console/queues/referrals/{ids['refs'][0]}/approve", {"reason": "x"}),
        (f"/console/payouts/{ids['clean']}/approve", {"reason": "x"}),
        ("/console/events/replay", {"table": "inbox", "id": str(ids["dead"])}),
        ("/console/money/adjust", {"partner_id": str(ids["evil"]), "amount": "5", "currency": "USD", "reason": "x"}),
        (f"/console/partners/{ids['evil']}/status", {"status": "inactive", "reason": "x"}),
        ("/console/alerts/1/resolve", {}),
    ):
        assert post(viewer, "/console", action, **data).status_code == 403, action
    with hub.sessions() as s:
        assert s.get(InboxEvent, ids["dead"]).state == "dead"  # type: ignore[union-attr]
        assert {r.status for r in s.scalars(select(Referral))} == {"held_for_review"}
        assert not list(s.scalars(select(AuditEntry).where(AuditEntry.actor.like("operator:%"))))


def test_money_partners_and_alerts_actions(hub, admin):
    ids = seed(hub)
    csv_text = admin.get("/console/money/payouts.csv").text
    assert "'=HYPERLINK" in csv_text and "\n=HYPERLINK" not in csv_text and ",=HYPERLINK" not in csv_text
    kpi_csv = admin.get("/console/kpis.csv").text
    assert kpi_csv.startswith("kpi,value") and "=HYPERLINK" in kpi_csv
    cells = [cell for row in csv.reader(io.StringIO(kpi_csv + csv_text)) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@")) or (c.startswith("-") and not c[1:2].isdigit())]
    page = f"/console/partners/{ids['evil']}"
    assert (
        post(
            admin,
            page,
            "/console/money/adjust",
            partner_id=str(ids["evil"]),
            amount="-12.505",
            currency="USD",
            reason="x",
        ).status_code
        == 400
    )
    assert (
        post(
            admin,
            page,
            "/console/money/adjust",
            partner_id=str(ids["evil"]),
            amount="-12.50",
            currency="USD",
            reason="Clawback",
        ).status_code
        == 303
    )
    with hub.sessions() as s:
        adj = s.scalars(select(LedgerEntry).where(LedgerEntry.kind != "commission")).one()
        assert (adj.amount_minor, adj.currency) == (-1250, "USD")
    made = post(
        admin,
        "/console/partners",
        "/console/partners",
        name="Initech",
        email="ops@initech.example",
        tier="gold",
        onboard="1",
    )
    assert made.status_code == 303
    new_id = int(made.headers["location"].split("/")[-1].split("?")[0])
    imported = post(admin, "/console/partners", "/console/partners", name="Globex", email="ops@globex.example")
    assert imported.status_code == 303
    imported_id = int(imported.headers["location"].split("/")[-1].split("?")[0])
    with hub.sessions() as s:  # "Start onboarding" gives the default track's steps; unticked, none
        tasks = s.scalars(select(OnboardingTask).order_by(OnboardingTask.position)).all()
        assert [(t.partner_id, t.step) for t in tasks] == [(new_id, "agreement"), (new_id, "first-referral")]
        assert s.get(Partner, imported_id).onboarded_at is None and s.get(Partner, new_id).onboarded_at is None  # type: ignore[union-attr]
    unmailable = post(admin, "/console/partners", "/console/partners", name="Bad", email="ops<x>@bad.example")
    assert unmailable.status_code == 400 and "not an e-mail address" in unmailable.text
    assert "ops<x>" not in unmailable.text  # named, escaped
    assert (
        post(admin, "/console/partners", "/console/partners", name="Dup", email="ops@initech.example").status_code
        == 409
    )
    assert (
        post(
            admin,
            page,
            f"/console/partners/{new_id}/edit",
            name="Initech Ltd",
            email="ops@initech.example",
            region="EMEA",
            reason="Rename",
        ).status_code
        == 303
    )
    assert (
        post(
            admin, page, f"/console/partners/{new_id}/status", status="inactive", reason="Left the program"
        ).status_code
        == 303
    )
    with hub.sessions() as s:
        p = s.get(Partner, new_id)
        assert p is not None and (p.name, p.region, p.status, p.tier) == ("Initech Ltd", "EMEA", "inactive", "gold")
    assert [a.action for a in audit(hub, "partner.edit")] == ["partner.edit"]
    assert audit(hub, "partner.status")[0].actor == "operator:ada@ops.example"
    detail = admin.get(f"/console/partners/{new_id}").text
    assert "partner.status" in detail and "Left the program" in detail
    with hub.sessions() as s:
        alert_id = s.scalars(select(Alert.id)).one()
    assert (
        post(admin, "/console/alerts", f"/console/alerts/{alert_id}/resolve", reason="fixed the stage").status_code
        == 303
    )
    assert "No open alerts" in admin.get("/console/alerts").text


def test_the_files_page_checks_and_shadow_runs_an_edit_and_writes_nothing(hub, admin):
    folder = hub.settings.mappings_dir
    before = (folder / "hubspot" / "deals.yaml").read_text()
    listing = admin.get("/console/files").text
    assert "hubspot/deals.yaml" in listing and "program.yaml" in listing and "problem" not in listing
    broken = post(
        admin,
        "/console/files",
        "/console/files/check",
        name="hubspot/deals.yaml",
        text=before + "\nfields: [\n",
        since="7d",
    )
    assert broken.status_code == 200 and "does not load" in broken.text
    assert re.search(r"deals\.yaml:\d+:\d+: ", broken.text)
    fine = post(admin, "/console/files", "/console/files/check", name="hubspot/deals.yaml", text=before, since="7d")
    assert fine.status_code == 200 and "The edited file loads" in fine.text
    program = (folder / "program.yaml").read_text()
    checked = post(admin, "/console/files", "/console/files/check", name="program.yaml", text=program, since="30d")
    assert checked.status_code == 200 and "The edited program file loads" in checked.text
    assert post(admin, "/console/files", "/console/files/check", name="../secrets.yaml", text="x").status_code == 400
    assert (folder / "hubspot" / "deals.yaml").read_text() == before
    # a file broken on disk shows its located problems on the next view
    companies = folder / "hubspot" / "companies.yaml"
    companies.write_text(companies.read_text() + "\nfields: [\n")
    relisted = admin.get("/console/files").text
    assert "1 problem" in relisted and re.search(r"companies\.yaml:\d+:\d+: ", relisted)


class FakeStripe:
    """The provider boundary: Stripe's transfers of a payout, as the connector reports them."""

    def __init__(self, transfers: dict[int, list[dict[str, Any]]]) -> None:
        self.transfers = transfers
        self.asked: list[int] = []

    def find_transfers(self, payout_id: int) -> list[dict[str, Any]]:
        self.asked.append(payout_id)
        return self.transfers.get(payout_id, [])

    def close(self) -> None:
        pass


def unknown_payouts(hub: Hub) -> tuple[int, int]:
    with hub.sessions() as s, s.begin():
        p = Partner(name="Umbrella", email="u@partners.example", status="active", created_at=NOW)
        s.add(p)
        s.flush()
        made = []
        for period in ("2026-09", "2026-10"):
            po = Payout(
                partner_id=p.id,
                currency="EUR",
                amount_minor=4_200,
                period=period,
                status="unknown",
                method="stripe",
                reason="the transfer's outcome is unknown",
                created_at=NOW,
                updated_at=NOW,
            )
            s.add(po)
            s.flush()
            s.add(
                LedgerEntry(
                    natural_key=f"unknown:{period}",
                    partner_id=p.id,
                    kind="commission",
                    amount_minor=4_200,
                    currency="EUR",
                    status="in_payout",
                    payout_id=po.id,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            made.append(po.id)
        return made[0], made[1]


def test_settle_an_unknown_transfer_after_a_lookup(hub, admin, monkeypatch):
    found, missing = unknown_payouts(hub)
    monkeypatch.delitem(hub.connectors, "stripe", raising=False)
    assert 'data-lookup="none"' in admin.get(f"/console/payouts/{found}/lookup").text  # no connector that can
    stripe = FakeStripe({found: [{"id": "tr_made_up_1", "amount": 4_200}]})
    monkeypatch.setitem(hub.connectors, "stripe", stripe)
    queue = admin.get("/console/queues/unknown").text
    assert f'href="/console/payouts/{found}/lookup"' in queue
    page = admin.get(f"/console/payouts/{found}/lookup").text
    assert 'data-lookup="found"' in page and "tr_made_up_1" in page and 'value="tr_made_up_1"' in page
    assert 'data-lookup="empty"' in admin.get(f"/console/payouts/{missing}/lookup").text
    assert stripe.asked == [found, missing]
    with hub.sessions() as s:
        assert {s.get(Payout, i).status for i in (found, missing)} == {"unknown"}  # type: ignore[union-attr]
    lookup = f"/console/payouts/{found}/lookup"
    paid = post(
        admin,
        lookup,
        f"/console/payouts/{found}/paid",
        reason="Found in Stripe",
        transfer_id="tr_made_up_1",
        back="unknown",
    )
    assert paid.status_code == 303 and paid.headers["location"].startswith("/console/queues/unknown")
    failed = post(
        admin,
        f"/console/payouts/{missing}/lookup",
        f"/console/payouts/{missing}/failed",
        reason="No transfer",
        back="unknown",
    )
    assert failed.status_code == 303
    with hub.sessions() as s:
        done = s.get(Payout, found)
        assert done is not None and (done.status, done.transfer_id) == ("paid", "tr_made_up_1")
        assert s.get(Payout, missing).status == "failed"  # type: ignore[union-attr]
        assert {e.status for e in s.scalars(select(LedgerEntry).where(LedgerEntry.payout_id == found))} == {"paid"}
    assert {a.actor for a in audit(hub, "payout.settle")} == {"operator:ada@ops.example"}
    # settled: nothing to look up any more, and an unknown id is a 404
    assert admin.get(f"/console/payouts/{found}/lookup").status_code == 409
    assert admin.get("/console/payouts/999999/lookup").status_code == 404


def test_a_viewer_can_look_up_but_not_settle(hub, viewer, monkeypatch):
    found, _ = unknown_payouts(hub)
    monkeypatch.setitem(hub.connectors, "stripe", FakeStripe({found: [{"id": "tr_made_up_2", "amount": 4_200}]}))
    page = viewer.get(f"/console/payouts/{found}/lookup")
    assert page.status_code == 200 and "tr_made_up_2" in page.text and "viewer: read only" in page.text
    assert 'formaction="/console/payouts/' not in page.text
    refused = post(viewer, "/console", f"/console/payouts/{found}/paid", reason="x", transfer_id="tr_made_up_2")
    assert refused.status_code == 403
    with hub.sessions() as s:
        assert s.get(Payout, found).status == "unknown"  # type: ignore[union-attr]


def test_a_partners_page_shows_each_sign_in_address_and_its_newest_mail(hub, admin):
    from hub.program.models import Notification, PartnerUser

    with hub.sessions() as s, s.begin():
        p = Partner(name="Hooli", email="Owner@Hooli.example", status="active", created_at=NOW, email_status="bounced")
        s.add(p)
        s.flush()
        s.add(PartnerUser(partner_id=p.id, email="dev@hooli.example", name="Dev", active=True, created_at=NOW))
        s.add(PartnerUser(partner_id=p.id, email="gone@hooli.example", active=False, created_at=NOW))
        for n, (to, status) in enumerate(
            (
                ("dev@hooli.example", "delivered"),
                ("dev@hooli.example", "bounced"),
                ("owner@hooli.example", "suppressed"),
            )
        ):
            s.add(
                Notification(
                    natural_key=f"signin:test:{n}",
                    kind="signin_link",
                    to_email=to,
                    subject="Sign in",
                    status=status,
                    status_reason="550 mailbox unavailable" if status == "bounced" else None,
                    created_at=NOW + timedelta(minutes=n),
                    updated_at=NOW,
                )
            )
        partner_id = p.id
    page = admin.get(f"/console/partners/{partner_id}").text
    section = page[page.index("<h2>Sign-in</h2>") : page.index("<h2>Audit trail</h2>")]
    assert "owner@hooli.example" in section and "dev@hooli.example" in section and "gone@hooli.example" not in section
    assert section.count('data-signin-mail="bounced"') == 1 and "550 mailbox unavailable" in section
    assert section.count('data-signin-mail="suppressed"') == 1 and 'data-signin-mail="delivered"' not in section
    assert "bounced" in page[: page.index("<h2>Balance</h2>")]  # the partner's own address status


def fill(hub: Hub, n: int, start: int) -> int:
    """``n`` more rows of everything a console list shows, for one busy partner (returned)."""
    from hub.program.models import (
        Application,
        Credential,
        DealRegistration,
        Notification,
        OnboardingTask,
        PartnerUser,
    )

    with hub.sessions() as s, s.begin():
        busy = s.scalars(select(Partner).where(Partner.email == "busy@partners.example")).first()
        if busy is None:
            busy = Partner(
                name="Busy",
                email="busy@partners.example",
                status="active",
                segment="smb",
                created_at=NOW - timedelta(days=9),
            )
            s.add(busy)
            s.flush()
        for i in range(start, start + n):
            other = Partner(
                name=f"Partner {i:03d}",
                email=f"p{i}@partners.example",
                status="active",
                tier="gold",
                segment="smb",
                created_at=NOW,
                flag_reason="bounced" if i % 2 else None,
                flagged_at=NOW,
            )
            s.add(other)
            s.flush()
            s.add(
                Referral(
                    tracking_id=f"R-N{i:06d}",
                    partner_id=busy.id if i % 2 else other.id,
                    company_name=f"Company {i}",
                    status="held_for_review",
                    history=[{"status": "held_for_review", "at": NOW.isoformat()}],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            s.add(
                DealRegistration(
                    partner_id=other.id,
                    company_name=f"Prospect {i}",
                    company_key=f"prospect {i}",
                    status="held_for_review",
                    reason="registered twice",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            for status, owner in (("review", busy.id), ("approved", other.id), ("unknown", other.id)):
                payout = Payout(
                    partner_id=owner,
                    currency="USD",
                    amount_minor=100,
                    period=f"{status}-{i}",
                    status=status,
                    created_at=NOW,
                    updated_at=NOW,
                )
                s.add(payout)
                s.flush()
                for k in range(2):
                    s.add(
                        LedgerEntry(
                            natural_key=f"fill:{status}:{i}:{k}",
                            partner_id=owner,
                            kind="commission",
                            amount_minor=50,
                            currency="USD",
                            status="in_payout",
                            payout_id=payout.id,
                            hold_reason="shared bank account" if k else None,
                            held_at=NOW if k else None,
                            created_at=NOW,
                            updated_at=NOW,
                        )
                    )
            s.add(
                InboxEvent(
                    connector="hubspot",
                    event_key=f"fill-{i}",
                    event_type="deal.propertyChange",
                    object_type="deal",
                    object_id=str(i),
                    payload={"objectId": i},
                    received_at=NOW - timedelta(minutes=i),
                    state="dead",
                    attempts=5,
                    next_attempt_at=NOW,
                )
            )
            s.add(
                OutboxItem(
                    natural_key=f"fill-out:{i}",
                    connector="sendgrid",
                    action="send_email",
                    payload={"to": f"p{i}@partners.example"},
                    idempotency_key=f"fill-out:{i}",
                    created_at=NOW,
                    state="dead",
                    next_attempt_at=NOW,
                )
            )
            s.add(
                Alert(
                    key=f"fill:{i}",
                    kind="dead_letter",
                    severity="error",
                    message=f"dead {i}",
                    first_seen_at=NOW,
                    last_seen_at=NOW,
                )
            )
            s.add(PartnerUser(partner_id=busy.id, email=f"user{i}@busy.example", active=True, created_at=NOW))
            access.add_operator(s, f"op{i}@ops.example", role="viewer")
            s.add(
                Notification(
                    natural_key=f"fill-mail:{i}",
                    partner_id=busy.id,
                    kind="referral_status",
                    to_email="busy@partners.example",
                    subject=f"Mail {i}",
                    status="delivered",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            s.add(AuditEntry(actor="operator:x", action="partner.edit", subject=f"partner:{busy.id}", at=NOW))
            s.add(
                Application(
                    email=f"applicant{i}@newco{i}.example",
                    contact_name=f"Applicant {i}",
                    company_name=f"Newco {i}",
                    company_domain=f"newco{i}.example",
                    country="DE",
                    status="pending",
                    duplicate_of=f"partner #{other.id} has an address at newco{i}.example" if i % 2 else None,
                    recommended=bool(i % 3),
                    confirmed_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            for owner in (busy.id, other.id):
                s.add(
                    OnboardingTask(
                        partner_id=owner,
                        track="standard",
                        step=f"step-{i}",
                        kind="task",
                        position=i,
                        due_at=NOW - timedelta(days=9),
                        reminded_at=NOW - timedelta(days=6),
                        escalated_at=NOW - timedelta(days=3),
                        created_at=NOW - timedelta(days=20),
                    )
                )
            s.add(
                Credential(
                    partner_id=busy.id,
                    kind="certification",
                    name=f"cert-{i}",
                    granted_at=NOW,
                    expires_at=NOW + timedelta(days=i - 5),
                    source="operator",
                    updated_at=NOW,
                )
            )
        return busy.id


def test_no_console_page_runs_a_query_per_row(hub, admin):
    """Every list page runs as many statements with 50 rows as with 10."""
    from sqlalchemy import event

    busy = fill(hub, 10, 0)
    lists = [
        "/console",
        "/console/queues",
        *[
            f"/console/queues/{q}"
            for q in (
                "referrals",
                "registrations",
                "payouts",
                "unknown",
                "holds",
                "flagged",
                "alerts",
                "applications",
                "onboarding",
            )
        ],
        "/console/money",
        "/console/money?status=review",
        "/console/money/payouts.csv",
        "/console/kpis.csv",
        "/console/partners",
        "/console/partners?tier=gold",
        f"/console/partners/{busy}",
        "/console/events",
        "/console/events?state=dead",
        "/console/events?table=outbox",
        "/console/alerts",
        "/console/operators",
    ]

    def statements() -> dict[str, int]:
        out = {}
        for path in lists:
            seen: list[str] = []

            def listener(conn, cursor, statement, *rest, seen=seen):  # type: ignore[no-untyped-def]
                seen.append(statement)

            event.listen(hub.engine, "before_cursor_execute", listener)
            try:
                answer = admin.get(path)
            finally:
                event.remove(hub.engine, "before_cursor_execute", listener)
            assert answer.status_code == 200, path
            out[path] = len(seen)
        return out

    assert hub.program is not None  # the program file loaded and its load audited (once) before counting
    hub.wait_for_audits()
    ten = statements()
    fill(hub, 40, 10)
    fifty = statements()
    assert fifty == ten
    assert admin.get("/console/partners/" + str(busy)).text.count("user4") >= 10  # the rows are there
    detail = admin.get("/console/partners/" + str(busy)).text
    assert detail.count('data-step="step-') == 50 and detail.count('data-credential="cert-') == 50
    assert 'id="peers"' in detail  # 50 other smb partners: the comparison runs
    assert admin.get("/console/queues/applications").text.count('id="application-') == 50
    assert admin.get("/console/queues/onboarding").text.count('id="step-') == 50


def test_the_operators_page_shows_each_operators_sign_in_mail_status(hub, viewer):
    from hub.program.models import Notification

    with hub.sessions() as s, s.begin():
        access.add_operator(s, "bob@ops.example", role="admin", name="Bob")
        access.deactivate_operator(s, "bob@ops.example")
        for n, (to, status) in enumerate((("vic@ops.example", "delivered"), ("bob@ops.example", "bounced"))):
            s.add(
                Notification(
                    natural_key=f"signin:op:{n}",
                    kind="signin_link",
                    to_email=to,
                    subject="Sign in",
                    status=status,
                    status_reason="550 no such user" if status == "bounced" else None,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    page = viewer.get("/console/operators").text  # a viewer may look
    assert "vic@ops.example" in page and "bob@ops.example" in page and "deactivated" in page
    assert page.count('data-signin-mail="bounced"') == 1 and "550 no such user" in page
    assert page.count('data-signin-mail="delivered"') == 1
