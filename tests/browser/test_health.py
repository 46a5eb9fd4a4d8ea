"""The at-risk queue in a real browser against the running hub: an operator sees the at-risk KPI
on the dashboard, follows it to the "at-risk partners" queue, and opens the partner's page, whose
health section shows the score, its parts and the open at-risk task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import BrowserContext, Page, expect

from hub.program.health import Signals, score
from hub.program.lifecycle_file import Health
from hub.program.models import AtRiskTask, Partner, PartnerHealth
from tests.browser.test_console import shot, sign_in_as
from tests.support.web import RunningHub


def test_an_operator_follows_the_at_risk_queue_to_the_partners_health(
    running_hub: RunningHub, context: BrowserContext, page: Page
) -> None:
    now = datetime.now(UTC)
    value, parts = score(Signals(quiet_days=80, referrals_previous=4, expired=1), Health())
    with running_hub.hub.sessions() as s, s.begin():
        partner = Partner(
            name="<b>Quiet</b> Northwind",
            email="quiet@northwind-health.example",
            status="active",
            partner_manager="mia@vendor.example",
            created_at=now - timedelta(days=200),
        )
        s.add(partner)
        s.flush()
        s.add(PartnerHealth(partner_id=partner.id, day=now.date(), score=value, parts=parts, computed_at=now))
        s.add(AtRiskTask(partner_id=partner.id, open_partner_id=partner.id, opened_at=now, opened_score=value))
        s.flush()
        pid = partner.id
    sign_in_as(running_hub, context, "ada@ops.example", "admin")

    page.goto(running_hub.web_url + "/console")
    card = page.locator("#kpi-at-risk")
    expect(card).to_contain_text("At-risk partners")
    card.click()
    expect(page.locator("h1")).to_contain_text("At-risk partners (partner manager tasks)")
    row = page.locator(f"tr:has(a[href='/console/partners/{pid}#health'])")
    expect(row).to_contain_text("<b>Quiet</b> Northwind")  # escaped, shown as text
    expect(row).to_contain_text("mia@vendor.example")
    expect(row).to_contain_text(str(value))
    shot(page, "console-at-risk")
    row.locator("a").click()

    section = page.locator("#health")
    expect(section.locator("#health-score")).to_have_text(str(value))
    expect(section.locator("#health-at-risk")).to_have_text("at risk")
    expect(section.locator("tr[data-signal='compliance'] td.num").first).to_have_text("0")
    expect(section.locator("tr[data-signal='recency'] td.num").first).to_have_text(str(parts["recency"]["value"]))
