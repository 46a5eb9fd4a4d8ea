"""The MDF request and claim forms in a real browser against the running hub: a gold partner
signs in, requests co-marketing funds (the page shows the request waiting and the budget left),
and once a person approved it, claims with a proof file chosen in the file input — a disguised
file is refused on the page, a PDF is taken and listed as a download."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hub.program.models import MdfRequest
from tests.browser.test_portal import _sign_in
from tests.support.flows import ADMIN_TOKEN, add_partner
from tests.support.web import RunningHub

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"


def test_partner_requests_funds_and_claims_with_proof(running_hub: RunningHub, page: Page) -> None:
    add_partner(running_hub, "Litware Marketing", "lee@litware-marketing.example", tier="gold")
    _sign_in(page, running_hub, "lee@litware-marketing.example")

    page.click("nav >> text=MDF")
    expect(page.locator("#mdf-budget tr[data-currency=USD] .left")).to_have_text("5,000.00 USD")
    page.fill("#f-activity", "Joint webinar")
    page.fill("#f-amount", "1200.00")
    page.select_option("#f-currency", "USD")
    page.fill("#f-description", "Webinar with our customers")
    page.click("button:has-text('Request funds')")
    expect(page.locator("#mdf-requests")).to_contain_text("Joint webinar")
    expect(page.locator("#mdf-requests .badge")).to_have_text("pending")
    expect(page.locator("#mdf-budget tr[data-currency=USD] .left")).to_have_text("3,800.00 USD")

    # a person approves it (the admin API); the claim form appears under the request
    with running_hub.hub.sessions() as s:
        request_id = s.scalars(select(MdfRequest.id).where(MdfRequest.activity == "Joint webinar")).one()
    decided = httpx.post(
        f"{running_hub.web_url}/api/v1/admin/mdf/requests/{request_id}/approve",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"reason": "good plan", "by": "dana.ops"},
        timeout=30,
    )
    assert decided.status_code == 200, decided.text
    page.reload()
    form = page.locator(f"#mdf-request-{request_id} form.mdf-claim-form")
    form.locator("input[name=amount]").fill("1000.00")
    form.locator("input[type=file]").set_input_files(
        {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"<html><script>1</script></html>"}
    )
    form.locator("button:has-text('Submit claim')").click()
    expect(page.locator("#mdf-error")).to_contain_text("not a PDF, PNG, JPEG file by its content")

    form = page.locator(f"#mdf-request-{request_id} form.mdf-claim-form")
    form.locator("input[name=amount]").fill("1000.00")
    form.locator("input[type=file]").set_input_files(
        {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    form.locator("button:has-text('Submit claim')").click()
    claim = page.locator(f"#mdf-request-{request_id} .mdf-claim")
    expect(claim).to_contain_text("1,000.00 USD")
    expect(claim.locator(".badge")).to_have_text("pending")
    link = claim.locator("a", has_text="invoice.pdf")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".pdf") and download.value.suggested_filename != "invoice.pdf"
