"""The partner portal end to end in a real browser against the running hub (web app + worker,
fake HubSpot, fake SendGrid): a partner signs in with the mailed link, submits a referral and
sees its tracking id; the CRM deal is made, a salesperson moves it, HubSpot's webhook arrives,
and the page already open shows the new status without a reload. Another partner's URL is 404
in the browser too."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.flows import add_partner, referral
from tests.support.hubspot_hub import deal_webhook, move_deal
from tests.support.servers import wait_until
from tests.support.web import RunningHub


def _sign_in(page: Page, hub: RunningHub, address: str) -> None:
    before = len(hub.fake_sendgrid.accepted)
    page.goto(hub.web_url + "/signin")
    page.fill("#email", address)
    page.click("button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text("on its way")
    page.goto(hub.link_for(address, after=before))
    page.click("#signin-button")
    expect(page).to_have_url(hub.web_url + "/portal")


def test_partner_submits_a_referral_and_sees_the_crm_move_it(running_hub: RunningHub, page: Page) -> None:
    add_partner(running_hub, "Fabrikam Partners", "sam@fabrikam.example")
    _sign_in(page, running_hub, "sam@fabrikam.example")

    page.click("text=Submit a referral")
    page.fill("#f-company_name", "Tailspin Toys")
    page.click("button:has-text('Submit referral')")  # nobody to reach: refused by the server
    expect(page.locator("#e-contact_email")).to_have_text("Give the contact's e-mail or the company's domain.")
    expect(page.locator("#f-company_name")).to_have_value("Tailspin Toys")  # what was typed stays
    page.fill("#f-contact_email", "pat@tailspin.example")
    page.fill("#f-contact_name", "Pat Lee")
    page.click("button:has-text('Submit referral')")
    tracking = page.locator("#tracking-id")
    expect(tracking).to_be_visible()
    tracking_id = tracking.inner_text()
    assert tracking_id.startswith("R-")
    expect(page.locator("#referral-status")).to_contain_text("received")

    # the worker checks it and makes the CRM deal; the open page follows by itself
    wait_until(lambda: referral(running_hub, tracking_id).crm_deal_id is not None, 60, what="deal in the CRM")
    expect(page.locator("#referral-status")).to_contain_text("submitted", timeout=20_000)
    deal_id = str(referral(running_hub, tracking_id).crm_deal_id)
    move_deal(running_hub, deal_id, dealstage="presentationscheduled")
    answer = running_hub.deliver(
        [deal_webhook(deal_id, event_type="deal.propertyChange", prop="dealstage", value="presentationscheduled")]
    )
    assert answer.status_code == 200
    expect(page.locator("#referral-status")).to_contain_text("demo scheduled", timeout=30_000)
    expect(page.locator(".timeline")).to_contain_text("demo scheduled")
    page.reload()  # a reload shows it too
    expect(page.locator("#referral-status")).to_contain_text("demo scheduled")

    # another partner guessing this referral's URL gets 404
    add_partner(running_hub, "Northwind Traders", "kim@northwind-traders.example")
    other = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        theirs = other.new_page()
        _sign_in(theirs, running_hub, "kim@northwind-traders.example")
        answer_page = theirs.goto(f"{running_hub.web_url}/portal/referrals/{tracking_id}")
        assert answer_page is not None and answer_page.status == 404
        expect(theirs.get_by_role("heading", level=1)).to_have_text("Not found")
    finally:
        other.close()
