"""Partner lifecycle (issue 15) through the real entry points on SQLite and PostgreSQL: the
public application API (no key), the admin API, the partner API, the program's timed rules
(``hub.program.tick``) and the real outbox job for e-mail, with SendGrid faked at the provider
boundary."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.api.app import create_app
from hub.asgi import build_app
from hub.pipeline.models import OutboxItem, WorkState
from hub.pipeline.store import utcnow
from hub.program import access, onboarding, segments
from hub.program import tick as program_tick
from hub.program.models import (
    Application,
    AuditEntry,
    Credential,
    Deal,
    DealRegistration,
    LedgerEntry,
    Notification,
    OnboardingTask,
    Partner,
    Referral,
)
from hub.program.partners import add_partner, rotate_key
from hub.runtime.context import Hub
from hub.runtime.jobs import run_outbox_item
from tests.support.program_hub import cli, open_program_hub
from tests.support.web import csrf_of, session_cookie

TOKEN = "admin-token-made-up-for-the-lifecycle-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PROGRAM = """\
version: 1
segments:
  rules:
    - segment: enterprise
      when: {company_size: ["1000+"]}
    - segment: certified-smb
      when: {company_size: ["1-10"], certifications: [sales-basics]}
applications:
  eligibility:
    countries: [DE, AT, US]
    website_required: true
  recommend:
    - {partner_type: [reseller]}
onboarding:
  agreement_version: "2026-1"
  escalate_after_days: 3
  tracks:
    - name: standard
      steps:
        - {name: agreement, kind: agreement, due_days: 7}
        - {name: sales-basics, kind: training, module: sales-basics, due_days: 14}
        - {name: first-referral, kind: first_referral, due_days: 30}
compliance:
  remind_days_before: [30, 7]
registrations:
  requires: {certifications: [sales-basics]}
owners:
  rules:
    - {segment: enterprise, owner_id: owner-ent}
    - {segment: smb, owner_id: owner-smb}
  default_owner_id: owner-default
commissions:
  - name: enterprise-deals
    segment: enterprise
    percent: "20"
  - name: certified
    requires: {certifications: [sales-basics]}
    percent: "15"
  - name: smb-deals
    segment: smb
    percent: "12"
  - name: standard
    percent: "10"
"""

APPLICANT = {
    "email": "Jane@Newco.example",
    "contact_name": "Jane Doe",
    "company_name": "Newco",
    "website": "https://www.newco.example",
    "country": "de",
    "company_size": "1-10",
    "partner_type": "reseller",
}


class FakeMail:
    """SendGrid's ``send_email`` at the provider boundary: what was sent."""

    name = "sendgrid"
    actions = frozenset({"send_email"})

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_email(self, payload: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        self.sent.append(dict(payload))
        return {"message_id": f"msg-{len(self.sent)}"}

    def outbox_actions(self) -> dict[str, Any]:
        return {"send_email": self.send_email}

    def close(self) -> None:
        pass


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    h = open_program_hub(database_url, redis_url, tmp_path, monkeypatch, program=PROGRAM, admin_token=TOKEN)
    h.connectors["sendgrid"] = FakeMail()  # type: ignore[assignment]
    yield h
    h.close()


def send_mail(h: Hub) -> list[dict[str, Any]]:
    """Carry out every e-mail owed, through the real outbox job; what SendGrid got."""
    with h.sessions() as s:
        ids = list(
            s.scalars(
                select(OutboxItem.id).where(OutboxItem.action == "send_email", OutboxItem.state == WorkState.PENDING)
            )
        )
    for item_id in ids:
        assert run_outbox_item(h, item_id) == WorkState.DONE
    fake = h.connectors["sendgrid"]
    assert isinstance(fake, FakeMail)
    return fake.sent


def kinds(h: Hub, natural_key_like: str = "%") -> list[str]:
    with h.sessions() as s:
        return list(
            s.scalars(
                select(Notification.kind)
                .where(Notification.natural_key.like(natural_key_like))
                .order_by(Notification.id)
            )
        )


def make_partner(h: Hub, email: str, **attrs: Any) -> int:
    with h.sessions() as s, s.begin():
        p = add_partner(s, name=email.split("@")[0], email=email, segment=attrs.pop("segment", None)).partner
        for k, v in attrs.items():
            setattr(p, k, v)
        segments.apply_segment(s, h.program, p, utcnow())
        return p.id


def key_for(h: Hub, partner_id: int) -> dict[str, str]:
    with h.sessions() as s, s.begin():
        p = s.get(Partner, partner_id)
        assert p is not None
        return {"Authorization": f"Bearer {rotate_key(s, p)}"}


@contextmanager
def portal_client(h: Hub, email: str) -> Iterator[TestClient]:
    """The portal pages (``hub.asgi``), signed in as the partner user ``email``."""
    with h.sessions() as s, s.begin():  # the partner's own address: its first user, made now
        person = access.find_by_email(s, email)
    assert person is not None
    name, value = session_cookie(h, person)
    with TestClient(build_app(h), cookies={name: value}) as client:
        yield client


def register_on_the_page(pages: TestClient, fields: dict[str, str]) -> Any:
    """The portal's deal registration form, filled in and sent."""
    got = pages.get("/portal/registrations/new")
    assert got.status_code == 200, (got.status_code, got.text[:800])
    form = got.text
    idem = re.search(r'name="idem" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return pages.post(
        "/portal/registrations", data={"csrf": csrf_of(form), "idem": idem, **fields}, follow_redirects=False
    )


def test_confirmed_and_approved_application_becomes_a_partner_who_completes_onboarding(hub: Hub) -> None:
    h = hub
    with TestClient(create_app(h)) as client:
        r = client.post("/api/v1/applications", json=APPLICANT)
        assert r.status_code == 202, r.text
        # unconfirmed: not in the queue; only the token's hash is stored
        assert client.get("/api/v1/admin/applications", headers=ADMIN).json() == []
        with h.sessions() as s:
            app_row = s.scalars(select(Application)).one()
            assert app_row.status == "unconfirmed" and app_row.recommended is True
            assert app_row.email == "jane@newco.example" and app_row.company_domain == "newco.example"
        sent = send_mail(h)
        assert [m["kind"] for m in sent] == ["application_confirm"]
        token = re.search(r"token=([A-Za-z0-9_-]+)", sent[0]["text"]).group(1)  # type: ignore[union-attr]
        with h.sessions() as s:
            assert s.scalars(select(Application.confirm_token_hash)).one() != token
            stored = s.scalars(select(OutboxItem).where(OutboxItem.action == "send_email")).one()
            assert token not in str(stored.payload)  # erased once SendGrid took it

        assert client.post("/api/v1/applications/confirm", json={"token": token}).json() == {"status": "pending"}
        assert client.post("/api/v1/applications/confirm", json={"token": token}).status_code == 404  # one time
        queue = client.get("/api/v1/admin/applications", headers=ADMIN).json()
        assert [(a["company_name"], a["recommended"], a["duplicate_of"]) for a in queue] == [("Newco", True, None)]

        r = client.post(
            f"/api/v1/admin/applications/{queue[0]['id']}/approve",
            headers=ADMIN,
            json={"by": "ops@hub.example", "reason": "good fit"},
        )
        assert r.status_code == 200, r.text
        partner_id = r.json()["partner_id"]
        assert r.json()["status"] == "approved"
        assert kinds(h, "application-approved:%") == ["application_approved"]
        mailed = {m["kind"]: m["text"] for m in send_mail(h)[-2:]}
        assert "/signin" in mailed["application_approved"]
        assert "/signin/link?t=" in mailed["signin_link"]  # the one-time portal sign-in link
        with h.sessions() as s:
            audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "application.approve")).one()
            assert audit.actor == "ops@hub.example"
            p = s.get(Partner, partner_id)
            assert p is not None and p.country == "DE" and p.company_size == "1-10" and p.onboarded_at is None

        key = key_for(h, partner_id)
        checklist = client.get("/api/v1/onboarding", headers=key).json()
        assert [st["step"] for st in checklist["steps"]] == ["agreement", "sales-basics", "first-referral"]
        assert client.post("/api/v1/onboarding/steps/sales-basics/complete", headers=key).status_code == 409
        assert (
            client.post(
                "/api/v1/onboarding/agreement", headers=key, json={"version": "2025-9", "accepted_by": "Jane"}
            ).status_code
            == 422
        )
        # the partner signs in with the mailed link and accepts the agreement on the portal
        link = re.search(r"/signin/link\?t=([A-Za-z0-9_.-]+)", mailed["signin_link"]).group(1)  # type: ignore[union-attr]
        with TestClient(build_app(h)) as pages:
            landing = pages.get(f"/signin/link?t={link}")
            signed = pages.post("/signin/link", data={"t": link, "csrf": csrf_of(landing.text)}, follow_redirects=False)
            assert signed.status_code == 303 and signed.headers["location"] == "/portal"
            onboarding_page = pages.get("/portal/onboarding").text
            assert "version 2026-1" in onboarding_page
            r = pages.post(
                "/portal/onboarding/agreement",
                data={"csrf": csrf_of(onboarding_page), "accept": "yes", "version": "2026-1"},
                follow_redirects=False,
            )
            assert r.status_code == 303
            assert "Version 2026-1 accepted by jane@newco.example" in pages.get("/portal/onboarding").text
        agreement = client.get("/api/v1/onboarding", headers=key).json()["agreement"]
        assert (agreement["version"], agreement["accepted_by"]) == ("2026-1", "jane@newco.example")

        with h.sessions() as s, s.begin():  # the LMS webhook's event, as the inbox hands it on
            assert (
                onboarding.lms_event(
                    s, h, {"type": "module.completed", "partner_email": "jane@newco.example", "subject": "sales-basics"}
                )
                == "lms:module_completed:1"
            )
            s.add(Referral(tracking_id="t-newco-1", partner_id=partner_id, company_name="Lead", status="received",
                           history=[], created_at=utcnow(), updated_at=utcnow()))  # fmt: skip
        program_tick.tick(h, utcnow() + timedelta(days=1))
        checklist = client.get("/api/v1/onboarding", headers=key).json()
        assert checklist["complete"] is True
        assert all(st["completed_at"] for st in checklist["steps"])
        with portal_client(h, "jane@newco.example") as pages:
            assert 'id="onboarding-complete"' in pages.get("/portal/onboarding").text
        kpi = client.get(
            "/api/v1/admin/kpis/lifecycle", headers=ADMIN, params={"at": (utcnow() + timedelta(days=2)).isoformat()}
        ).json()
        assert kpi["time_to_onboard_days"]["median"] == 1
        assert kpi["time_to_first_referral_days"]["median"] == 0


#: addresses a loose "x@y.z" check lets through and SendGrid refuses (found by schemathesis: the
#: confirmation mail was built in the request and its address check raised, a 500)
UNMAILABLE = [
    "a<b@newco.example",
    "jane@newco.example.",
    "a,b@newco.example",
    "jane@new;co.example",
    "jane@new\u2028co.example",
]


@pytest.mark.parametrize("address", UNMAILABLE)
def test_an_application_with_an_address_sendgrid_refuses_is_a_422_and_stores_nothing(hub: Hub, address: str) -> None:
    with TestClient(create_app(hub)) as client:
        r = client.post("/api/v1/applications", json={**APPLICANT, "email": address})
        assert r.status_code == 422, r.text
    with TestClient(build_app(hub)) as pages:
        form = {**dict.fromkeys(("industry", "specialization", "message"), ""), **APPLICANT, "email": address}
        r = pages.post("/apply", data={**form, "csrf": csrf_of(pages.get("/apply").text)})
        assert r.status_code == 422 and "Not an e-mail address." in r.text
    with hub.sessions() as s:
        assert s.scalars(select(Application)).all() == []
        assert s.scalars(select(OutboxItem)).all() == []


def test_ineligible_application_is_refused_with_the_reason_and_stores_nothing(hub: Hub) -> None:
    with TestClient(create_app(hub)) as client:
        r = client.post("/api/v1/applications", json={**APPLICANT, "country": "FR"})
        assert r.status_code == 422
        assert "DE, AT, US" in str(r.json()["detail"])
        r = client.post("/api/v1/applications", json={k: v for k, v in APPLICANT.items() if k != "website"})
        assert r.status_code == 422 and "website is required" in str(r.json()["detail"])
        # the honeypot: answered like a success, nothing stored, no mail
        assert client.post("/api/v1/applications", json={**APPLICANT, "website_url": "http://spam"}).status_code == 202
    with TestClient(build_app(hub)) as pages:  # the public page: the same refusal, named on the page
        form = {**dict.fromkeys(("industry", "specialization", "message"), ""), **APPLICANT, "country": "FR"}
        r = pages.post("/apply", data={**form, "csrf": csrf_of(pages.get("/apply").text)})
        assert r.status_code == 422 and 'id="apply-error"' in r.text and "DE, AT, US" in r.text
        assert 'value="Newco"' in r.text  # what was typed stays
        r = pages.post("/apply", data={**form, "country": "DE", "website_url": "x", "csrf": csrf_of(r.text)})
        assert r.status_code == 200 and "Check your mailbox" in r.text  # the honeypot: looks sent, is not
    with hub.sessions() as s:
        assert s.scalars(select(Application)).all() == []
        assert s.scalars(select(OutboxItem)).all() == []


def test_unconfirmed_application_never_reaches_the_queue_and_gets_one_mail(hub: Hub) -> None:
    with TestClient(create_app(hub)) as client:
        for _ in range(3):
            assert client.post("/api/v1/applications", json=APPLICANT).status_code == 202
        assert client.post("/api/v1/applications/confirm", json={"token": "x" * 43}).status_code == 404
        assert client.get("/api/v1/admin/applications", headers=ADMIN).json() == []
        with hub.sessions() as s:
            app_id = s.scalars(select(Application.id)).one()
        r = client.post(
            f"/api/v1/admin/applications/{app_id}/approve", headers=ADMIN, json={"by": "ops", "reason": "x"}
        )
        assert r.status_code == 409  # a person cannot approve what was never confirmed
    assert kinds(hub) == ["application_confirm"]
    program_tick.tick(hub, utcnow() + timedelta(days=3))  # the link ran out
    with hub.sessions() as s:
        assert s.scalars(select(Application.status)).one() == "expired"
        assert s.scalars(select(Partner)).all() == []


def test_application_throttle_refuses_a_flood_from_one_address(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub.settings, "throttle_failures", 3)
    with TestClient(create_app(hub)) as client:
        codes = [
            client.post("/api/v1/applications", json={**APPLICANT, "email": f"p{i}@x{i}.example"}).status_code
            for i in range(5)
        ]
    assert codes == [202, 202, 202, 429, 429]
    with hub.sessions() as s:
        assert len(s.scalars(select(Application)).all()) == 3


def test_duplicate_application_is_flagged(hub: Hub) -> None:
    make_partner(hub, "boss@newco.example")
    with TestClient(create_app(hub)) as client:
        assert client.post("/api/v1/applications", json=APPLICANT).status_code == 202
        assert (
            client.post(
                "/api/v1/applications", json={**APPLICANT, "email": "jim@gmail.com", "website": "https://newco.example"}
            ).status_code
            == 202
        )
    with hub.sessions() as s:
        flags = [a.duplicate_of or "" for a in s.scalars(select(Application).order_by(Application.id))]
    assert "has an address at newco.example" in flags[0]
    assert "application #1 is open" in flags[1]


def _approved_partner(h: Hub, email: str = "late@partner.example") -> int:
    with TestClient(create_app(h)) as client:
        assert client.post("/api/v1/applications", json={**APPLICANT, "email": email}).status_code == 202
        token = re.search(r"token=([A-Za-z0-9_-]+)", send_mail(h)[-1]["text"]).group(1)  # type: ignore[union-attr]
        assert client.post("/api/v1/applications/confirm", json={"token": token}).status_code == 200
    with h.sessions() as s:
        app_id = s.scalars(select(Application.id).where(Application.email == email)).one()
    result = cli("applications", "approve", str(app_id), "--reason", "fits", "--by", "ops@hub.example")
    assert "approved: partner" in result.stdout
    with h.sessions() as s:
        pid = s.scalars(select(Application.partner_id).where(Application.id == app_id)).one()
        assert pid is not None
        return pid


def test_overdue_step_reminds_once_then_one_manager_task_across_a_restart(
    hub: Hub, database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner_id = _approved_partner(hub)
    start = utcnow()
    program_tick.tick(hub, start + timedelta(days=8))  # the agreement (7 days) is overdue
    program_tick.tick(hub, start + timedelta(days=8, hours=1))  # the same day: claimed already
    program_tick.tick(hub, start + timedelta(days=9))
    assert kinds(hub, "onboarding-reminder:%") == ["onboarding_reminder"]
    hub.close()
    again = open_program_hub(
        database_url, redis_url, tmp_path / "again", monkeypatch, program=PROGRAM, admin_token=TOKEN
    )
    try:
        program_tick.tick(again, start + timedelta(days=12))
        program_tick.tick(again, start + timedelta(days=13))
        with again.sessions() as s:
            tasks = s.scalars(select(OutboxItem).where(OutboxItem.action == "create_task")).all()
            assert [t.natural_key for t in tasks] == [
                f"crm:task:onboarding:{s.scalars(select(OnboardingTask.id).where(OnboardingTask.step == 'agreement')).one()}"
            ]
            assert "Onboarding overdue" in tasks[0].payload["subject"]
        assert kinds(again, "onboarding-reminder:%") == ["onboarding_reminder"]
        with TestClient(create_app(again)) as client:
            queue = client.get("/api/v1/admin/onboarding/overdue", headers=ADMIN).json()
        assert [(q["partner_id"], q["step"]) for q in queue] == [(partner_id, "agreement")]
        assert '"step": "agreement"' in cli("onboarding", "overdue").stdout
    finally:
        again.close()
        hub.connectors.clear()  # closed above; the fixture's close is a no-op on it


def test_expiring_certification_closes_deal_registration_and_renewal_reopens_it(hub: Hub) -> None:
    now = utcnow()
    pid = make_partner(hub, "cert@partner.example", partner_manager="pm@hub.example")
    reg = {"company_name": "Target Co", "company_domain": "target.example"}
    with TestClient(create_app(hub)) as client, portal_client(hub, "cert@partner.example") as pages:
        key = key_for(hub, pid)
        r = client.post("/api/v1/deal-registrations", headers=key, json=reg)
        assert r.status_code == 403 and "sales-basics" in r.json()["detail"]
        shown = register_on_the_page(pages, reg)  # the portal's form names the unmet condition too
        assert shown.status_code == 403 and "deal registration requires" in shown.text and "sales-basics" in shown.text
        assert 'value="Target Co"' in shown.text  # what was typed stays
        assert "sales-basics" in pages.get("/portal/onboarding").text  # the benefit shown closed, with why
        r = client.post(f"/api/v1/admin/partners/{pid}/certifications", headers=ADMIN,
                        json={"by": "ops", "name": "sales-basics", "expires_at": (now + timedelta(days=40)).isoformat()})  # fmt: skip
        assert r.status_code == 200, r.text
        assert client.post("/api/v1/deal-registrations", headers=key, json=reg).status_code == 202
        assert client.get("/api/v1/features", headers=key).json()["deal_registration"] == {"open": True, "unmet": []}
        assert register_on_the_page(pages, {**reg, "company_name": "Page Co"}).status_code == 303
        for days in (10, 11, 34, 35):  # 30 days before, then 7 days before: one reminder each
            program_tick.tick(hub, now + timedelta(days=days))
        assert kinds(hub, "credential-%") == ["credential_expiring", "credential_expiring"]
        program_tick.tick(hub, now + timedelta(days=41))
        program_tick.tick(hub, now + timedelta(days=42))
        assert kinds(hub, "credential-expired%") == ["credential_expired", "credential_expired_manager"]
        with hub.sessions() as s:
            to = s.scalars(select(Notification.to_email).where(Notification.kind == "credential_expired_manager")).one()
        assert to == "pm@hub.example"

    # the expiry is in the past now: the hub's clock moves past it
    hub.settings.program.clock_now = now + timedelta(days=42)  # type: ignore[misc]
    with TestClient(create_app(hub)) as client, portal_client(hub, "cert@partner.example") as pages:
        r = client.post("/api/v1/deal-registrations", headers=key, json={**reg, "company_name": "Other Co"})
        assert r.status_code == 403 and "a valid sales-basics certification is required" in r.json()["detail"]
        shown = register_on_the_page(pages, {**reg, "company_name": "Other Co"})
        assert shown.status_code == 403 and "a valid sales-basics certification is required" in shown.text
        assert client.get("/api/v1/features", headers=key).json()["deal_registration"]["open"] is False
        result = cli(
            "partners", "certify", str(pid), "sales-basics", "--expires", (now + timedelta(days=400)).isoformat()
        )
        assert "recorded" in result.stdout
        assert (
            client.post("/api/v1/deal-registrations", headers=key, json={**reg, "company_name": "Other Co"}).status_code
            == 202
        )
        assert register_on_the_page(pages, {**reg, "company_name": "Page Co 2"}).status_code == 303
    with hub.sessions() as s:  # nothing was stored for the refused forms
        names = set(s.scalars(select(DealRegistration.company_name).where(DealRegistration.partner_id == pid)))
    assert names == {"Target Co", "Other Co", "Page Co", "Page Co 2"}


def test_commission_condition_is_kept_in_the_snapshot_and_a_later_expiry_never_reverses(hub: Hub) -> None:
    from hub.program.commissions import settle_deal

    now = utcnow()
    pid = make_partner(hub, "earner@partner.example")
    with hub.sessions() as s, s.begin():
        p = s.get(Partner, pid)
        assert p is not None
        onboarding.grant(s, p, kind="certification", name="sales-basics", version=None,
                         expires_at=now + timedelta(days=5), by="lms", source="lms", now=now)  # fmt: skip
        deal = Deal(source="hubspot", external_id="d1", amount_minor=100_000, currency="USD", status="closed_won",
                    partner_id=pid, properties={}, property_versions={}, created_at=now, updated_at=now)  # fmt: skip
        s.add(deal)
        s.flush()
        settle_deal(s, hub.program, deal, p, now=now)
        deal_id = deal.id
    with hub.sessions() as s, s.begin():
        cred = s.scalars(select(Credential)).one()
        cred.expires_at = now - timedelta(days=1)  # expired since
        deal = s.get(Deal, deal_id)
        p = s.get(Partner, pid)
        assert deal is not None and p is not None
        deal.amount_minor = 200_000
        settle_deal(s, hub.program, deal, p, now=now + timedelta(days=6))
    with hub.sessions() as s:
        live = [e for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.id)) if e.status != "cancelled"]
    assert [e.rule_snapshot["rule_name"] for e in live] == ["certified"]
    assert live[0].amount_minor == 30_000 and "requires_met_at" in live[0].rule_snapshot
    # a partner without the certification gets the next rule
    other = make_partner(hub, "plain@partner.example")
    with hub.sessions() as s, s.begin():
        deal = Deal(source="hubspot", external_id="d2", amount_minor=100_000, currency="USD", status="closed_won",
                    partner_id=other, properties={}, property_versions={}, created_at=now, updated_at=now)  # fmt: skip
        s.add(deal)
        s.flush()
        p = s.get(Partner, other)
        assert p is not None
        settle_deal(s, hub.program, deal, p, now=now)
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == other)).one()
        assert entry.rule_snapshot["rule_name"] == "standard"


def test_an_operator_adds_a_partner_with_onboarding_or_without(hub: Hub) -> None:
    started = cli("partners", "add", "--name", "Onb Co", "--email", "ops@onb.example", "--onboard").stdout
    assert "onboarding started: 3 step(s)" in started
    cli("partners", "add", "--name", "Import Co", "--email", "ops@import.example")
    refused = cli("partners", "add", "--name", "Bad Co", "--email", "ops@bad;co.example", code=1)
    assert "not an e-mail address" in refused.stderr
    with hub.sessions() as s:
        by_email = {p.email: p.id for p in s.scalars(select(Partner))}
        assert set(by_email) == {"ops@onb.example", "ops@import.example"}
        tasks = s.scalars(select(OnboardingTask).order_by(OnboardingTask.position)).all()
        assert [(t.partner_id, t.step) for t in tasks] == [
            (by_email["ops@onb.example"], "agreement"),
            (by_email["ops@onb.example"], "sales-basics"),
            (by_email["ops@onb.example"], "first-referral"),
        ]


def test_segment_rules_resegment_partners_and_existing_rules_keep_working(hub: Hub) -> None:
    old = make_partner(hub, "old@partner.example", segment="smb")  # a free-text segment from before
    with hub.sessions() as s:
        p = s.get(Partner, old)
        assert p is not None and p.segment == "smb"  # no rule matches: its own segment is kept
        assert hub.program.owners.owner_for(region=p.region, segment=p.segment, turn=1) == "owner-smb"
        assert hub.program.rule_for("deal_won", p).name == "smb-deals"  # type: ignore[union-attr]
    result = cli("partners", "attributes", "old@partner.example", "company_size=1000+", "industry=retail")
    assert "segment: enterprise" in result.stdout
    with hub.sessions() as s:
        p = s.get(Partner, old)
        assert p is not None and p.segment == "enterprise" and p.segment_attribute == "smb"
        assert hub.program.owners.owner_for(region=None, segment=p.segment, turn=1) == "owner-ent"
        assert hub.program.rule_for("deal_won", p).name == "enterprise-deals"  # type: ignore[union-attr]
    with TestClient(create_app(hub)) as client:
        r = client.patch(
            f"/api/v1/admin/partners/{old}/attributes",
            headers=ADMIN,
            json={"by": "ops", "values": {"company_size": None}},
        )
        assert r.json()["segment"] == "smb"
        assert (
            client.patch(
                f"/api/v1/admin/partners/{old}/attributes",
                headers=ADMIN,
                json={"by": "ops", "values": {"colour": "red"}},
            ).status_code
            == 422
        )
    # a certification (from the LMS) moves a small partner into certified-smb at the next pass
    small = make_partner(hub, "small@partner.example", company_size="1-10")
    with hub.sessions() as s, s.begin():
        p = s.get(Partner, small)
        assert p is not None and p.segment is None
        onboarding.grant(
            s,
            p,
            kind="certification",
            name="sales-basics",
            version=None,
            expires_at=None,
            by="lms",
            source="lms",
            now=utcnow(),
        )
    assert "1 of 2 partners changed segment" in cli("partners", "resegment").stdout
    with hub.sessions() as s:
        assert s.get(Partner, small).segment == "certified-smb"  # type: ignore[union-attr]


def test_peer_comparison_only_with_five_other_partners_in_the_segment(hub: Hub) -> None:
    ids = [make_partner(hub, f"p{i}@ent.example", company_size="1000+") for i in range(5)]
    with hub.sessions() as s, s.begin():
        for n, pid in enumerate(ids):
            for k in range(n):
                s.add(Referral(tracking_id=f"t{pid}-{k}", partner_id=pid, company_name="x", status="received",
                               history=[], created_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    with TestClient(create_app(hub)) as client:
        seen = client.get(f"/api/v1/admin/partners/{ids[0]}/peers", headers=ADMIN).json()
        assert seen["shown"] is False and seen["figures"] == {}  # four others only
        with portal_client(hub, "p4@ent.example") as pages:  # nor in the portal
            home = pages.get("/portal").text
            assert 'id="peers"' not in home and "median" not in home
        sixth = make_partner(hub, "p5@ent.example", company_size="1000+")
        seen = client.get("/api/v1/peers", headers=key_for(hub, sixth)).json()
        with portal_client(hub, "p4@ent.example") as pages:
            home = pages.get("/portal").text
    assert seen["shown"] is True and seen["peers"] == 5
    assert seen["figures"]["referrals"] == {"you": 0, "median": 1}  # 0 0 1 2 3 4: the low median
    shown = re.search(r'data-figure="referrals">(.*?)</div></div>', home, re.S)
    assert shown is not None and ">4<" in shown.group(1) and "segment median: 1" in shown.group(1)
    assert "enterprise segment (5 other partners)" in home


def test_the_migration_keeps_each_partners_free_text_segment(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    from hub.pipeline.store import upgrade

    upgrade(database_url, "0005gt")
    engine = create_engine(database_url, hide_parameters=True)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO partners (name, email, segment, status, created_at, payouts_enabled, email_status) "
                    "VALUES ('Old', 'old@partner.example', 'smb', 'active', CURRENT_TIMESTAMP, false, 'ok')"
                )
            )
        upgrade(database_url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT segment, segment_attribute FROM partners")).one()
        assert tuple(row) == ("smb", "smb")
    finally:
        engine.dispose()


def test_csv_import_completes_training_steps_and_skips_unknown_partners(hub: Hub, tmp_path: Path) -> None:
    pid = _approved_partner(hub, "csv@partner.example")
    bad = tmp_path / "bad.csv"
    bad.write_text("email,course\ncsv@partner.example,sales-basics\n")
    assert "partner_email and module" in cli("onboarding", "import", str(bad), code=2).stderr
    good = tmp_path / "lms-export.csv"
    good.write_text("partner_email,module\nCSV@partner.example,sales-basics\nnobody@x.example,sales-basics\n")
    result = cli("onboarding", "import", str(good), "--by", "lms-export")
    assert "1 training step(s) completed from 2 row(s)" in result.stdout
    assert "skipped: no partner nobody@x.example" in result.stderr
    with hub.sessions() as s:
        step = s.scalars(
            select(OnboardingTask).where(OnboardingTask.partner_id == pid, OnboardingTask.step == "sales-basics")
        ).one()
        assert step.completed_by == "lms-export"
