"""The console's lifecycle pages through the real ASGI app (``hub.asgi``) with signed-in operator
sessions, under a program file with segment rules, eligibility, a recommendation, a training step
and deal registration gated on a certification: the applications queue (badge, duplicate and
recommended marks, eligibility facts) and its approve / decline, the overdue-onboarding queue and
completing a step, a partner's attributes (the segment follows), certifications (the benefit
opens), onboarding and peer comparison. Every action is audited with the operator; a viewer, a
missing CSRF token and another partner's step are refused and change nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from hub.program.models import Application, Credential, Notification, OnboardingTask, Partner
from hub.runtime.context import Hub
from tests.integration.web.test_console import XSS, audit, post, signed_in
from tests.support.program_hub import open_program_hub
from tests.support.web import WEB_SECRET

NOW = datetime.now(UTC).replace(microsecond=0)
ADMIN = "operator:ada@ops.example"

PROGRAM = """\
version: 1
segments:
  rules:
    - segment: enterprise
      when: {company_size: ["1000+"]}
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
registrations:
  requires: {certifications: [sales-basics]}
"""


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    opened = open_program_hub(
        database_url,
        redis_url,
        tmp_path,
        monkeypatch,
        program=PROGRAM,
        admin_token="admin-token-made-up-for-tests-000000",
        env={"PARTNERHUB_WEB__SECRET": WEB_SECRET, "PARTNERHUB_MODE": "test"},
    )
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def admin(hub: Hub) -> Iterator[TestClient]:
    with signed_in(hub, "ada@ops.example", "admin") as client:
        yield client


@pytest.fixture
def viewer(hub: Hub) -> Iterator[TestClient]:
    with signed_in(hub, "vic@ops.example", "viewer") as client:
        yield client


def application(s: Any, email: str, **fields: Any) -> Application:
    values: dict[str, Any] = {
        "contact_name": "Jane Doe",
        "company_name": "Newco",
        "website": "https://newco.example",
        "country": "DE",
        "status": "pending",
        "confirmed_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    made = Application(email=email, company_domain=email.split("@")[1], **values)
    s.add(made)
    s.flush()
    return made


def seed_applications(hub: Hub) -> dict[str, int]:
    with hub.sessions() as s, s.begin():
        s.add(Partner(name="Old Newco", email="sales@old.example", status="active", created_at=NOW))
        good = application(
            s, "jane@newco.example", company_name=XSS, partner_type="reseller", company_size="1000+", recommended=True
        )
        dup = application(
            s, "sales@old.example", country="FR", duplicate_of="partner #1 has this e-mail address", company_name="Dup"
        )
        waiting = application(s, "later@elsewhere.example", status="unconfirmed", confirmed_at=None)
        return {"good": good.id, "dup": dup.id, "waiting": waiting.id}


def statuses(hub: Hub) -> dict[int, str]:
    with hub.sessions() as s:
        return {a.id: a.status for a in s.scalars(select(Application))}


def test_the_applications_queue_shows_the_marks_and_an_admin_decides_audited(hub, admin):
    ids = seed_applications(hub)
    queue = "/console/queues/applications"
    listing = admin.get(queue)
    assert listing.status_code == 200
    text = listing.text
    assert f'id="application-{ids["good"]}"' in text and f'id="application-{ids["dup"]}"' in text
    assert f'id="application-{ids["waiting"]}"' not in text  # unconfirmed: never in the queue
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    good = text[text.index(f'id="application-{ids["good"]}"') : text.index(f'id="application-{ids["dup"]}"')]
    dup = text[text.index(f'id="application-{ids["dup"]}"') :]
    assert "data-recommended" in good and "data-duplicate" not in good and "no longer eligible" not in good
    assert "data-duplicate" in dup and "partner #1 has this e-mail address" in dup
    assert "no longer eligible" in dup and "the program accepts applications from DE, AT, US only" in dup
    assert re.search(r'data-queue="applications">2<', admin.get("/console/queues").text)

    approve, decline = (f"{queue}/{ids[k]}" for k in ("good", "dup"))
    assert post(admin, queue, f"{approve}/approve", reason="").status_code == 400  # a reason is required
    assert admin.post(f"{approve}/approve", data={"reason": "ok"}).status_code == 403  # no CSRF token
    assert post(admin, queue, f"{approve}/accept", reason="ok").status_code == 404
    assert post(admin, queue, f"{queue}/999999/approve", reason="ok").status_code == 404
    assert statuses(hub)[ids["good"]] == "pending"

    assert post(admin, queue, f"{approve}/approve", reason="Strong reseller").status_code == 303
    assert post(admin, queue, f"{decline}/decline", reason="Already a partner").status_code == 303
    assert post(admin, queue, f"{approve}/decline", reason="twice").status_code == 409  # decided already
    assert post(admin, queue, f"{queue}/{ids['waiting']}/approve", reason="early").status_code == 409
    assert statuses(hub) == {ids["good"]: "approved", ids["dup"]: "declined", ids["waiting"]: "unconfirmed"}
    with hub.sessions() as s:
        made = s.scalars(select(Partner).where(Partner.email == "jane@newco.example")).one()
        assert (made.segment, made.partner_type, made.country) == ("enterprise", "reseller", "DE")
        steps = [t.step for t in s.scalars(select(OnboardingTask).where(OnboardingTask.partner_id == made.id))]
        mails = set(s.scalars(select(Notification.kind).where(Notification.to_email == "jane@newco.example")))
        assert s.get(Application, ids["good"]).decided_by == ADMIN  # type: ignore[union-attr]
    assert sorted(steps) == ["agreement", "sales-basics"]  # onboarding started
    assert {"application_approved", "signin_link"} <= mails  # told, and a sign-in link on its way
    assert [(a.actor, a.after["reason"]) for a in audit(hub, "application.approve")] == [(ADMIN, "Strong reseller")]
    assert [(a.actor, a.after["reason"]) for a in audit(hub, "application.decline")] == [(ADMIN, "Already a partner")]
    assert re.search(r'data-queue="applications">0<', admin.get("/console/queues").text)


def test_a_viewer_sees_the_applications_but_cannot_decide(hub, viewer):
    ids = seed_applications(hub)
    queue = "/console/queues/applications"
    text = viewer.get(queue).text
    assert "viewer: read only" in text and f"/console/queues/applications/{ids['good']}/approve" not in text
    refused = post(viewer, queue, f"{queue}/{ids['good']}/approve", reason="sneaky")
    assert refused.status_code == 403
    assert statuses(hub)[ids["good"]] == "pending" and not audit(hub, "application.approve")


def partner_with_steps(
    hub: Hub, email: str, steps: tuple[str, ...], *, manager: str | None = None, **attrs: Any
) -> int:
    """A partner with overdue steps, reminded and handed to the manager (escalated)."""
    with hub.sessions() as s, s.begin():
        partner = Partner(
            name=email.split("@")[0].title(),
            email=email,
            status="active",
            partner_manager=manager,
            created_at=NOW - timedelta(days=30),
            **attrs,
        )
        s.add(partner)
        s.flush()
        for position, step in enumerate(steps):
            s.add(
                OnboardingTask(
                    partner_id=partner.id,
                    track="standard",
                    step=step,
                    kind="training" if step == "sales-basics" else "task",
                    module="sales-basics" if step == "sales-basics" else None,
                    position=position,
                    due_at=NOW - timedelta(days=10),
                    reminded_at=NOW - timedelta(days=6),
                    escalated_at=NOW - timedelta(days=3),
                    created_at=NOW - timedelta(days=30),
                )
            )
        return partner.id


def completed(hub: Hub, partner_id: int) -> dict[str, str | None]:
    with hub.sessions() as s:
        return {
            t.step: t.completed_by
            for t in s.scalars(select(OnboardingTask).where(OnboardingTask.partner_id == partner_id))
        }


def test_the_overdue_onboarding_queue_and_completing_a_step_as_an_operator(hub, admin, viewer):
    late = partner_with_steps(hub, "late@tardy.example", ("sales-basics", "kickoff"), manager="mia@vendor.example")
    other = partner_with_steps(hub, "other@else.example", ("other-only",))
    queue = "/console/queues/onboarding"
    text = admin.get(queue).text
    assert "mia@vendor.example" in text and "unassigned" in text and "sales-basics" in text
    assert re.search(r'data-queue="onboarding">3<', admin.get("/console/queues").text)

    base = f"/console/partners/{late}/onboarding"
    assert admin.post(f"{base}/kickoff/complete", data={"back": "onboarding"}).status_code == 403  # no CSRF
    assert post(viewer, queue, f"{base}/kickoff/complete", back="onboarding").status_code == 403  # viewer
    assert "Mark complete" not in viewer.get(queue).text
    # another partner's step, or no such partner: 404, nothing changes
    assert post(admin, queue, f"{base}/other-only/complete", back="onboarding").status_code == 404
    assert post(admin, queue, "/console/partners/999999/onboarding/kickoff/complete").status_code == 404
    assert completed(hub, late) == {"sales-basics": None, "kickoff": None}
    assert completed(hub, other) == {"other-only": None}

    done = post(admin, queue, f"{base}/sales-basics/complete", back="onboarding")
    assert done.status_code == 303 and done.headers["location"].startswith("/console/queues/onboarding")
    assert completed(hub, late) == {"sales-basics": ADMIN, "kickoff": None}
    assert [(a.actor, a.subject) for a in audit(hub, "onboarding.complete")] == [(ADMIN, f"partner:{late}")]
    assert re.search(r'data-queue="onboarding">2<', admin.get("/console/queues").text)
    page = f"/console/partners/{late}"
    assert post(admin, page, f"{base}/kickoff/complete").headers["location"].startswith(page)
    with hub.sessions() as s:
        assert s.get(Partner, late).onboarded_at is not None  # type: ignore[union-attr]  # every step done
    assert "onboarding-complete" in admin.get(page).text


def test_a_partners_attributes_certifications_benefits_and_peers(hub, admin, viewer):
    pid = partner_with_steps(hub, "acme@acme.example", ("sales-basics",), company_size="1-10", country="DE")
    page = f"/console/partners/{pid}"
    text = admin.get(page).text
    assert 'id="attributes-form"' in text and 'id="certification-form"' in text
    benefits = text[text.index('id="benefits"') :]
    assert (
        'data-benefit="deal_registration"' in benefits and "a valid sales-basics certification is required" in benefits
    )
    assert "peers-hidden" in text  # no segment: nothing to compare

    # attributes: the segment follows; a bad value is a 400 and changes nothing
    assert post(admin, page, f"{page}/attributes", country="Germany").status_code == 400
    assert admin.post(f"{page}/attributes", data={"company_size": "1000+"}).status_code == 403  # no CSRF
    assert post(viewer, page, f"{page}/attributes", company_size="1000+").status_code == 403
    assert post(admin, page, "/console/partners/999999/attributes", company_size="1000+").status_code == 404
    huge = "/console/partners/99999999999999999999999"  # beyond any id column: a 4xx, never the driver's overflow
    assert admin.get(huge).status_code == 422
    assert post(admin, page, f"{huge}/attributes", company_size="1000+").status_code == 422
    assert post(admin, page, f"{huge}/certifications", name="x").status_code == 422
    assert (
        post(
            admin, "/console/queues", "/console/queues/applications/99999999999999999999999/approve", reason="x"
        ).status_code
        == 422
    )
    with hub.sessions() as s:
        assert (s.get(Partner, pid).country, s.get(Partner, pid).segment) == ("DE", None)  # type: ignore[union-attr]
    saved = post(admin, page, f"{page}/attributes", company_size="1000+", industry="Retail", country="at")
    assert saved.status_code == 303
    with hub.sessions() as s:
        partner = s.get(Partner, pid)
        assert partner is not None
        assert (partner.segment, partner.industry, partner.country) == ("enterprise", "Retail", "AT")
    (entry,) = audit(hub, "partner.attributes")
    assert entry.actor == ADMIN and entry.after["segment"] == "enterprise" and entry.before["segment"] is None
    assert '<dd id="segment-now">enterprise</dd>' in admin.get(page).text

    # a certification: recorded with its expiry, the gated benefit opens; expired, it closes again
    assert post(admin, page, f"{page}/certifications", name="", expires_at="").status_code == 400
    assert post(admin, page, f"{page}/certifications", name="sales-basics", expires_at="soon").status_code == 400
    assert post(viewer, page, f"{page}/certifications", name="sales-basics", expires_at="").status_code == 403
    expires = (NOW + timedelta(days=90)).date().isoformat()
    assert post(admin, page, f"{page}/certifications", name="sales-basics", expires_at=expires).status_code == 303
    with hub.sessions() as s:
        cred = s.scalars(select(Credential).where(Credential.partner_id == pid)).one()
        assert (cred.name, cred.source, cred.accepted_by) == ("sales-basics", "operator", ADMIN)
        assert cred.expires_at is not None and cred.expires_at.date().isoformat() == expires
    assert [a.actor for a in audit(hub, "certification.grant")] == [ADMIN]
    text = admin.get(page).text
    row = text[text.index('data-credential="sales-basics"') :]
    assert expires in row[:400] and "valid" in row[:400]
    benefits = text[text.index('id="benefits"') :]
    assert "a valid sales-basics certification" not in benefits and 'badge s-done">open' in benefits
    past = (NOW - timedelta(days=1)).date().isoformat()
    assert post(admin, page, f"{page}/certifications", name="sales-basics", expires_at=past).status_code == 303
    text = admin.get(page).text
    assert "expired" in text[text.index('data-credential="sales-basics"') :][:400]
    assert "a valid sales-basics certification is required" in text[text.index('id="benefits"') :]

    # peer comparison: only with five other partners in the segment
    with hub.sessions() as s, s.begin():
        for n in range(4):
            s.add(
                Partner(
                    name=f"Peer {n}", email=f"peer{n}@p.example", status="active", segment="enterprise", created_at=NOW
                )
            )
    text = admin.get(page).text
    assert "peers-hidden" in text and "has 4 other active partners" in text and 'id="peers"' not in text
    with hub.sessions() as s, s.begin():
        s.add(Partner(name="Peer 4", email="peer4@p.example", status="active", segment="enterprise", created_at=NOW))
    text = admin.get(page).text
    peers = text[text.index('id="peers"') :]
    assert "Median of enterprise" in peers and "won deals" in peers and "5 other active partners" in text

    # a viewer sees the lifecycle, with no forms
    seen = viewer.get(page).text
    assert 'id="lifecycle"' in seen and 'id="attributes-form"' not in seen and 'id="certification-form"' not in seen
    assert "Mark complete" not in seen
