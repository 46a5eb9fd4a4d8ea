"""The lifecycle pages in a real browser against the running hub (web app + worker, fake
SendGrid): a stranger applies on ``/apply``, opens the mailed confirmation link and confirms; a
person approves (the admin API); the new partner signs in with the mailed link, sees the
onboarding checklist and accepts the partner agreement, which is recorded with its version, time
and user. An operator approves a confirmed application from the console's applications queue."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from hub.program.models import Application, Credential, OnboardingTask, Partner
from tests.browser.test_console import shot, sign_in_as
from tests.support.flows import ADMIN_TOKEN
from tests.support.servers import wait_until
from tests.support.web import RunningHub

CONFIRM = re.compile(r"https?://[^\s\"<>]+/apply/confirm\?token=[A-Za-z0-9_\-]+")


def _mails_to(hub: RunningHub, address: str, after: int) -> list[str]:
    out: list[str] = []
    for mail in hub.fake_sendgrid.accepted[after:]:
        body: Any = mail.body if hasattr(mail, "body") else mail
        if any(t["email"] == address for p in body["personalizations"] for t in p["to"]):
            out += [part["value"] for part in body["content"]]
    return out


def _application(hub: RunningHub, address: str) -> Application | None:
    with hub.hub.sessions() as s:
        return s.scalars(select(Application).where(Application.email == address)).first()


def test_a_stranger_applies_and_confirms_by_the_mailed_link(running_hub: RunningHub, page: Page) -> None:
    address = "robin@contoso-apply.example"
    before = len(running_hub.fake_sendgrid.accepted)
    page.goto(running_hub.web_url + "/apply")
    expect(page.locator("#f-website_url")).not_to_be_in_viewport()  # the honeypot is not for people
    page.fill("#f-contact_name", "Robin Park")
    page.fill("#f-email", address)
    page.fill("#f-company_name", "Contoso Apply")
    page.fill("#f-country", "Germany")
    page.click("#apply-button")  # refused by the server, what was typed stays
    expect(page.locator("#e-country")).to_have_text("Two letters, like DE.")
    expect(page.locator("#f-email")).to_have_value(address)
    assert _application(running_hub, address) is None
    page.fill("#f-website", "https://contoso-apply.example")
    page.fill("#f-country", "DE")
    page.click("#apply-button")
    expect(page.locator("#apply-sent")).to_contain_text("Check your mailbox")
    row = _application(running_hub, address)
    assert row is not None and row.status == "unconfirmed"  # not in the queue yet

    link = wait_until(
        lambda: CONFIRM.findall(" ".join(_mails_to(running_hub, address, before))), 30, what="the confirmation mail"
    )[0]
    page.goto(link)
    assert _application(running_hub, address).status == "unconfirmed"  # type: ignore[union-attr]  # opening it is not enough
    page.click("#confirm-button")
    expect(page.locator("#apply-confirmed")).to_have_text("Application received")
    assert _application(running_hub, address).status == "pending"  # type: ignore[union-attr]
    page.goto(link)  # the link works once
    page.click("#confirm-button")
    expect(page.get_by_role("heading", level=1)).to_have_text("This confirmation link cannot be used")


def _confirmed_application(hub: RunningHub, address: str, company: str) -> int:
    """An application sent and confirmed through the public API (the mailed token)."""
    before = len(hub.fake_sendgrid.accepted)
    answer = httpx.post(
        hub.web_url + "/api/v1/applications",
        json={"email": address, "contact_name": "Sam", "company_name": company, "partner_type": "reseller"},
        timeout=10,
    )
    assert answer.status_code == 202
    link = wait_until(lambda: CONFIRM.findall(" ".join(_mails_to(hub, address, before))), 30, what="the confirmation")[
        0
    ]
    confirmed = httpx.post(
        hub.web_url + "/api/v1/applications/confirm", json={"token": link.split("token=")[1]}, timeout=10
    )
    assert confirmed.json() == {"status": "pending"}
    return _application(hub, address).id  # type: ignore[union-attr]


def test_an_operator_approves_an_application_from_the_console_queue(
    running_hub: RunningHub, context: BrowserContext, page: Page
) -> None:
    address = "sam@wingtip-apply.example"
    app_id = _confirmed_application(running_hub, address, "Wingtip <b>Toys</b>")
    before = len(running_hub.fake_sendgrid.accepted)
    sign_in_as(running_hub, context, "ada@ops.example", "admin")
    page.goto(running_hub.web_url + "/console/queues")
    expect(page.locator("[data-queue=applications]")).not_to_have_text("0")
    page.get_by_role("link", name="Applications to decide").click()
    row = page.locator(f"#application-{app_id}")
    expect(row).to_contain_text("Wingtip <b>Toys</b>")  # the applicant's text, shown inert
    expect(row.locator("[data-ineligible]")).to_have_count(0)
    expect(row.locator(".badge.s-done")).to_have_text("eligible")
    shot(page, "console-applications")
    row.get_by_role("button", name="Approve").click()  # no reason: the browser asks for one, nothing sent
    assert _application(running_hub, address).status == "pending"  # type: ignore[union-attr]
    row.get_by_placeholder("Reason (required)").fill("Reseller in our core market")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(f"#application-{app_id}")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/console/queues/applications\?done=1$"))
    decided = _application(running_hub, address)
    assert decided is not None and decided.status == "approved"
    assert (decided.decided_by, decided.reason) == ("operator:ada@ops.example", "Reseller in our core market")
    with running_hub.hub.sessions() as s:
        partner = s.scalars(select(Partner).where(Partner.email == address)).one()
        assert partner.partner_type == "reseller"
    page.goto(f"{running_hub.web_url}/console/partners/{partner.id}")
    expect(page.locator("#onboarding")).to_contain_text("agreement")
    shot(page, "console-partner-lifecycle")
    assert "/signin/link?t=" in running_hub.link_for(address, after=before)  # the worker mailed a sign-in link


def test_the_approved_partner_signs_in_and_accepts_the_agreement(running_hub: RunningHub, page: Page) -> None:
    address = "lee@fourthcoffee-apply.example"
    before = len(running_hub.fake_sendgrid.accepted)
    answer = httpx.post(
        running_hub.web_url + "/api/v1/applications",
        json={"email": address, "contact_name": "Lee", "company_name": "Fourth Coffee"},
        timeout=10,
    )
    assert answer.status_code == 202
    link = wait_until(
        lambda: CONFIRM.findall(" ".join(_mails_to(running_hub, address, before))), 30, what="the confirmation mail"
    )[0]
    token = link.split("token=")[1]
    assert httpx.post(
        running_hub.web_url + "/api/v1/applications/confirm", json={"token": token}, timeout=10
    ).json() == {"status": "pending"}
    app_id = _application(running_hub, address).id  # type: ignore[union-attr]
    approved = httpx.post(
        f"{running_hub.web_url}/api/v1/admin/applications/{app_id}/approve",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"by": "ops@vendor.example", "reason": "good fit"},
        timeout=10,
    )
    assert approved.status_code == 200, approved.text

    page.goto(running_hub.link_for(address, after=before))  # the sign-in link the approval mailed
    page.click("#signin-button")
    expect(page).to_have_url(running_hub.web_url + "/portal")
    page.click("text=Onboarding")
    expect(page.locator("#checklist tr[data-step=agreement]")).to_contain_text("open")
    expect(page.locator("#benefits")).to_contain_text("deal registration")
    page.click("#accept-button")  # the box not ticked: nothing recorded
    expect(page.locator("#onboarding-error")).to_contain_text("Tick the box")
    page.check("#accept-box")
    page.click("#accept-button")
    expect(page.locator("#agreement-accepted")).to_contain_text(f"Version 1 accepted by {address}")
    expect(page.locator("#checklist tr[data-step=agreement]")).to_contain_text("done")
    expect(page.locator("#checklist tr[data-step=first-referral]")).to_contain_text("open")
    with running_hub.hub.sessions() as s:
        cred = s.scalars(select(Credential).where(Credential.accepted_by == address)).one()
        assert (cred.kind, cred.version) == ("agreement", "1")
        steps = {
            t.step: t.completed_by
            for t in s.scalars(select(OnboardingTask).where(OnboardingTask.partner_id == cred.partner_id))
        }
    assert steps == {"agreement": address, "first-referral": None}
