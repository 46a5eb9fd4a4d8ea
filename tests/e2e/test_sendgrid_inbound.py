"""Inbound Parse end to end, through the running web app and worker: a partner's verified
forward becomes exactly one referral (checked against the CRM like an API referral); a reply is
the partner's activity; mail from strangers or unverified senders is answered 2xx, counted and
never stored."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from hub.pipeline.models import OutboxItem
from hub.program.models import Partner, Referral
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL
from tests.support.sendgrid_signing import (
    PARSE_SECRET,
    PUBLIC_KEY,
    parse_form,
    post_parse,
)
from tests.support.servers import wait_until

PARTNER = "pat@partner.io"
REFERRALS = "referrals@parse.example.com"
FORWARD = """Please take it from here!

---------- Forwarded message ---------
From: Jane Roe <jane.roe@acme-robotics.com>
Date: Mon, 16 Nov 2026 at 10:02
Subject: Partner programs
To: Pat Partner <pat@partner.io>

Hi Pat, could your vendor show us a demo?

Best regards,
Jane Roe
Acme Robotics GmbH
"""


@pytest.fixture
def hub_proc(make_harness, database_url, fake_hubspot, fake_sendgrid):  # type: ignore[no-untyped-def]
    h = make_harness.with_api(
        database_url,
        fake_hubspot,
        PARTNERHUB_SENDGRID__API_KEY=API_KEY,
        PARTNERHUB_SENDGRID__API_BASE_URL=fake_sendgrid.url,
        PARTNERHUB_SENDGRID__FROM_EMAIL=FROM_EMAIL,
        PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY=PUBLIC_KEY,
        PARTNERHUB_SENDGRID__PARSE_SECRET=PARSE_SECRET,
        PARTNERHUB_SENDGRID__PARSE_HOSTNAME="parse.example.com",
        PARTNERHUB_SENDGRID__REPLY_ADDRESS="replies@parse.example.com",
    )
    h.fake_hubspot = fake_hubspot
    out = h.cli("partners", "add", "--name", "Pat Partner", "--email", PARTNER, "--manager", "pm@vendor.example").stdout
    assert re.search(r"ph_live_\S+", out), out
    h.start_web()
    h.start_worker()
    return h


def referrals(h) -> list[Referral]:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return list(s.scalars(select(Referral).order_by(Referral.id)))


def the_partner(h) -> Partner:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return s.scalars(select(Partner).where(Partner.email == PARTNER)).one()


def settled(h) -> bool:  # type: ignore[no-untyped-def]
    rows = h.inbox()
    return bool(rows) and all(r.state == "done" for r in rows)


def test_unknown_and_unverified_senders_are_answered_2xx_and_never_stored(hub_proc) -> None:  # type: ignore[no-untyped-def]
    h = hub_proc
    posts = {
        "unknown_sender": parse_form(
            sender="Stranger <stranger@elsewhere.example>", to=REFERRALS, subject="Fwd: lead", text=FORWARD
        ),
        "dkim_not_aligned": parse_form(
            sender=f"Pat <{PARTNER}>",
            to=REFERRALS,
            subject="Fwd: lead",
            text=FORWARD,
            dkim="{@partner.io : fail, @spoofer.example : pass}",
        ),
        "spf_not_pass": parse_form(
            sender=f"Pat <{PARTNER}>", to=REFERRALS, subject="Fwd: lead", text=FORWARD, spf="softfail"
        ),
    }
    for reason, fields in posts.items():
        response = post_parse(h.web_url, fields)
        assert response.status_code == 200, (reason, response.text)
        assert response.json()["discarded"] == 1
    assert h.inbox() == [] and referrals(h) == []
    assert the_partner(h).last_activity_at is None
    metrics = httpx.get(h.web_url + "/metrics", timeout=10).text
    for reason in posts:
        assert re.search(rf'webhooks_discarded_total\{{[^}}]*reason="{reason}"[^}}]*\}} 1\.0', metrics), reason
    logs = "".join(p.log_path.read_text(errors="replace") for p in h.procs if hasattr(p, "log_path"))
    assert "stranger@elsewhere.example" not in logs and PARTNER not in logs  # digests only
    assert PARSE_SECRET not in logs
    wrong = post_parse(h.web_url, posts["unknown_sender"], secret="not-the-secret-000000000")
    assert wrong.status_code == 404 and h.inbox() == []


def test_a_verified_forward_creates_exactly_one_referral(hub_proc) -> None:  # type: ignore[no-untyped-def]
    h = hub_proc
    fields = parse_form(sender=f"Pat Partner <{PARTNER}>", to=REFERRALS, subject="Fwd: Partner programs", text=FORWARD)
    for _ in range(2):  # SendGrid redelivers: a new multipart body with the same e-mail
        assert post_parse(h.web_url, fields).status_code == 200
    wait_until(
        lambda: settled(h) and referrals(h) and referrals(h)[0].status == "submitted",
        what="referral submitted to the CRM",
    )
    [referral] = referrals(h)
    assert (referral.contact_email, referral.contact_name, referral.company_domain, referral.company_name) == (
        "jane.roe@acme-robotics.com",
        "Jane Roe",
        "acme-robotics.com",
        "Acme Robotics GmbH",
    )
    assert referral.partner_id == the_partner(h).id
    with h.hub.sessions() as s:  # cleared by the CRM conflict check, like an API referral: the deal is owed
        owed = s.scalars(select(OutboxItem).where(OutboxItem.natural_key == f"crm:referral-deal:{referral.id}")).one()
    assert owed.payload["contact"]["email"] == "jane.roe@acme-robotics.com"
    assert the_partner(h).last_activity_at is not None
    parse_rows = [r for r in h.inbox() if r.connector == "sendgrid"]
    assert len(parse_rows) == 1 and parse_rows[0].outcome == "referral:created"
    assert "attachments" not in parse_rows[0].payload or parse_rows[0].payload["attachments"] == 0


def test_a_reply_from_the_partner_records_activity(hub_proc) -> None:  # type: ignore[no-untyped-def]
    h = hub_proc
    fields = parse_form(
        sender=f"Pat Partner <{PARTNER}>",
        to="replies+n7@parse.example.com",
        subject="Re: Your referral moved to Demo Scheduled",
        text="Thanks, great news!",
        message_id="<reply-0001@mail.partner.io>",
    )
    fields["attachments"] = "1"
    # a large post (parsed off the event loop); the attachment itself is never stored
    assert post_parse(h.web_url, fields, attachment=b"%PDF-1.7 " + b"x" * 400_000).status_code == 200
    wait_until(lambda: settled(h), what="reply processed")
    assert the_partner(h).last_activity_at is not None
    [row] = h.inbox()
    assert row.outcome == "reply:activity" and row.payload["attachments"] == 1
    assert "%PDF" not in str(row.payload)
    assert referrals(h) == []
