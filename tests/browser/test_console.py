"""The operator console in a real browser against the running hub (web + worker processes, fake
HubSpot): an admin approves a held referral and a payout from the review queues; an admin replays
a dead letter from the events page and the worker takes it to done; a viewer is shown no way to
approve or replay, and a hand-made POST is refused.

``PARTNERHUB_SCREENSHOTS=docs/screenshots`` also saves the main pages there (how the README's
pictures are made)."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from hub.pipeline.models import InboxEvent
from hub.program import access
from hub.program.models import LedgerEntry, Partner, Payout, Referral
from tests.support.hubspot_hub import deal_event, post_webhook
from tests.support.servers import wait_until
from tests.support.web import RunningHub, session_cookie

READ = "/crm/v3/objects/deals/batch/read"
SHOTS = os.environ.get("PARTNERHUB_SCREENSHOTS")


def sign_in_as(hub: RunningHub, context: BrowserContext, email: str, role: str) -> None:
    with hub.hub.sessions() as session, session.begin():
        access.add_operator(session, email, role=role)
        person = access.find_by_email(session, email)
    assert person is not None
    name, value = session_cookie(hub.hub, person)
    context.add_cookies([{"name": name, "value": value, "url": hub.web_url}])


def seed(hub: RunningHub, tag: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    with hub.hub.sessions() as s, s.begin():
        partner = Partner(
            name=f"<script>alert('{tag}')</script> Fabrikam",
            email=f"fabrikam-{tag}@partners.example",
            tier="gold",
            region="EMEA",
            status="active",
            created_at=now - timedelta(days=90),
        )
        s.add(partner)
        s.flush()
        referral = Referral(
            tracking_id=f"R-BR{tag.upper()}01",
            partner_id=partner.id,
            company_name=f"Tailspin Toys {tag}",
            contact_email=f"buyer@tailspin-{tag}.example",
            company_domain=f"tailspin-{tag}.example",
            status="held_for_review",
            history=[{"status": "held_for_review", "reason": "referred by another partner", "at": now.isoformat()}],
            created_at=now - timedelta(hours=3),
            updated_at=now,
        )
        payout = Payout(
            partner_id=partner.id,
            currency="USD",
            amount_minor=48_250,
            period=f"2026-{tag}",
            status="review",
            created_at=now,
            updated_at=now,
        )
        s.add_all([referral, payout])
        s.flush()
        s.add(
            LedgerEntry(
                natural_key=f"browser:{tag}",
                partner_id=partner.id,
                kind="commission",
                amount_minor=48_250,
                currency="USD",
                status="in_payout",
                payout_id=payout.id,
                created_at=now,
                updated_at=now,
            )
        )
        return {"partner": partner.id, "referral": referral.tracking_id, "payout": payout.id}


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_an_operator_approves_a_held_referral_and_a_payout(
    running_hub: RunningHub, context: BrowserContext, page: Page
) -> None:
    ids = seed(running_hub, "aa")
    sign_in_as(running_hub, context, "ada@ops.example", "admin")
    page.goto(running_hub.web_url + "/console")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    shot(page, "console-dashboard")
    page.goto(running_hub.web_url + "/console/queues")
    page.get_by_role("link", name="Held referrals").click()
    row = page.locator(f"#referral-{ids['referral']}")
    expect(row).to_contain_text("<script>alert('aa')</script> Fabrikam")  # shown as text, inert
    shot(page, "console-review-queue")
    row.get_by_placeholder("Reason (required)").fill("Checked with the account executive")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(f"#referral-{ids['referral']}")).to_have_count(0)
    with running_hub.hub.sessions() as s:
        referral = s.scalars(select(Referral).where(Referral.tracking_id == ids["referral"])).one()
        assert referral.status == "submitted"

    page.goto(running_hub.web_url + "/console/queues/payouts")
    row = page.locator(f"#payout-{ids['payout']}")
    expect(row).to_contain_text("482.50 USD")
    row.get_by_placeholder("Reason (required)").fill("Matches the signed deals")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(f"#payout-{ids['payout']}")).to_have_count(0)
    with running_hub.hub.sessions() as s:
        payout = s.get(Payout, ids["payout"])
        assert payout is not None and payout.status != "review"
        assert payout.decided_by == "operator:ada@ops.example"
    for path, name in (
        (f"/console/partners/{ids['partner']}", "console-partner"),
        ("/console/money?status=approved", "console-money"),
        ("/console/files", "console-files"),
    ):
        page.goto(running_hub.web_url + path)
        shot(page, name)


def test_an_operator_replays_a_dead_letter_and_it_reaches_done(
    running_hub: RunningHub, context: BrowserContext, page: Page
) -> None:
    deal = 770_001
    running_hub.fake_hubspot.set_deal(str(deal), datetime.now(UTC), dealname="Contoso renewal", dealstage="closedwon")
    running_hub.fake_hubspot.fail_next(400, path=READ)  # HubSpot refuses once: a dead letter
    answer = post_webhook(running_hub.web_url, [deal_event(deal, event_id=int(time.time() * 1000) % 10**9)])
    assert answer.status_code == 200

    def dead() -> int | None:
        with running_hub.hub.sessions() as s:
            return s.scalars(
                select(InboxEvent.id).where(InboxEvent.object_id == str(deal), InboxEvent.state == "dead")
            ).first()

    event_id = wait_until(dead, 30, what="a dead letter")
    sign_in_as(running_hub, context, "ada@ops.example", "admin")
    page.goto(running_hub.web_url + "/console/events?state=dead&connector=hubspot")
    shot(page, "console-events")
    page.locator(f"#inbox-{event_id}").get_by_role("link", name=str(event_id)).click()
    expect(page.locator("h1")).to_have_text(f"inbox #{event_id}")
    expect(page.locator("dl.facts")).to_contain_text("hubspot answered 400")
    shot(page, "console-event")
    page.get_by_role("button", name="Replay").click()

    def done() -> bool:
        page.reload()
        return page.locator("[data-state]").first.inner_text() == "done"

    wait_until(done, 30, what="the replayed event done")


def test_a_viewer_cannot_approve_or_replay(running_hub: RunningHub, context: BrowserContext, page: Page) -> None:
    ids = seed(running_hub, "vv")
    sign_in_as(running_hub, context, "vic@ops.example", "viewer")
    page.goto(running_hub.web_url + "/console/queues/referrals")
    row = page.locator(f"#referral-{ids['referral']}")
    expect(row).to_contain_text("viewer: read only")
    expect(row.get_by_role("button")).to_have_count(0)
    page.goto(running_hub.web_url + "/console/events?state=dead")
    expect(page.get_by_role("button", name=re.compile("Replay"))).to_have_count(0)
    # a hand-made POST with a valid CSRF token is still refused
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    refused = page.request.post(
        running_hub.web_url + f"/console/queues/referrals/{ids['referral']}/approve",
        form={"csrf": token or "", "reason": "trying"},
        max_redirects=0,
    )
    assert refused.status == 403
    with running_hub.hub.sessions() as s:
        assert (
            s.scalars(select(Referral.status).where(Referral.tracking_id == ids["referral"])).one() == "held_for_review"
        )
