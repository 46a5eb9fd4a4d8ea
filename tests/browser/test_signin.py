"""Signing in with a real browser against the running hub: the link captured from the fake
SendGrid signs the partner in; the page only signs in on the button's POST."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.flows import add_partner
from tests.support.web import RunningHub


def test_partner_signs_in_with_the_mailed_link(running_hub: RunningHub, page: Page) -> None:
    add_partner(running_hub, "Contoso Partners", "alex@contoso.example")
    before = len(running_hub.fake_sendgrid.accepted)
    page.goto(running_hub.web_url + "/")
    expect(page).to_have_url(running_hub.web_url + "/signin")
    page.fill("#email", "alex@contoso.example")
    page.click("button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text("a sign-in link is on its way")

    link = running_hub.link_for("alex@contoso.example", after=before)
    page.goto(link)
    expect(page.get_by_role("heading")).to_have_text("Sign in to partnerhub")  # GET only shows the button
    page.click("#signin-button")
    expect(page).to_have_url(running_hub.web_url + "/portal")
    expect(page.get_by_role("heading", level=1)).to_have_text("Contoso Partners")

    page.goto(link)  # the same link again: used up
    page.click("#signin-button")
    expect(page.get_by_role("heading", level=1)).to_have_text("This sign-in link cannot be used")
