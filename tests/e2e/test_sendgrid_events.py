"""The signed Event Webhook end to end, through the running web app and worker: SendGrid's
events move the notifications the hub sent, in any order and however often they arrive; a
bounce stops the partner's mail and flags the partner; an unsubscribe-group opt-out skips that
group's kinds only. Mail goes to the fake SendGrid (requests checked by Prism)."""

from __future__ import annotations

import itertools
import json
import shutil
import time
from typing import Any

import pytest
from sqlalchemy import select

from hub.pipeline.models import InboxEvent, OutboxItem
from hub.pipeline.store import utcnow
from hub.program.email.notify import notify
from hub.program.email.templates import DEFAULT_TEMPLATES_DIR, templates_for
from hub.program.models import EmailPreference, Notification, Partner
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL
from tests.support.sendgrid_signing import PUBLIC_KEY, event, post_events, sign
from tests.support.servers import wait_until

_ids = itertools.count(1)
REMINDER_GROUP, COMMISSION_GROUP = 101, 102


@pytest.fixture
def hub_proc(make_harness, database_url, fake_sendgrid, tmp_path):  # type: ignore[no-untyped-def]
    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES_DIR, templates)
    reminder = templates / "email" / "reengagement_reminder"
    reminder.mkdir()
    (reminder / "subject.txt").write_text("We miss your referrals, {{ partner_name }}")
    (reminder / "body.txt").write_text("Hi {{ partner_name }}, any new introductions?")
    (reminder / "body.html").write_text("<p>Hi {{ partner_name }}, any new introductions?</p>")
    h = make_harness(
        database_url,
        PARTNERHUB_SENDGRID__API_KEY=API_KEY,
        PARTNERHUB_SENDGRID__API_BASE_URL=fake_sendgrid.url,
        PARTNERHUB_SENDGRID__FROM_EMAIL=FROM_EMAIL,
        PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY=PUBLIC_KEY,
        PARTNERHUB_SENDGRID__UNSUBSCRIBE_GROUPS=json.dumps(
            {"reengagement_reminder": REMINDER_GROUP, "deal_closed": COMMISSION_GROUP}
        ),
        PARTNERHUB_TEMPLATES_DIR=str(templates),
        PARTNERHUB_SENDGRID__TIMEOUT_S="1",
    )
    h.fake_sendgrid = fake_sendgrid
    h.templates = templates_for(templates)
    h.start_web()
    h.start_worker()
    return h


def add_partner(h, email: str) -> int:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s, s.begin():
        partner = Partner(
            name="Northwind " + email.split("@")[0],
            email=email,
            status="active",
            created_at=utcnow(),
            partner_manager="pm@vendor.example",
        )
        s.add(partner)
        s.flush()
        return partner.id


def send(h, partner_id: int, kind: str = "referral_status") -> int:  # type: ignore[no-untyped-def]
    """Owe one partner e-mail (as the program engine does) and let the worker send it."""
    context: dict[str, Any] = {
        "partner_name": "Northwind",
        "partner_manager": None,
        "company_name": "Acme",
        "tracking_id": "R-TEST",
        "contact_name": "Jane",
    }
    if kind == "referral_status":
        context.update(status="demo_scheduled", status_label="Demo Scheduled")
    if kind == "deal_closed":
        context.update(amount_minor=150000, currency="EUR", expected_payment_date=None)
    with h.hub.sessions() as s, s.begin():
        partner = s.get(Partner, partner_id)
        nid = notify(
            s,
            kind=kind,
            to_email=partner.email,
            partner_id=partner_id,
            context=context,
            natural_key=f"test:{kind}:{next(_ids)}",
            templates=h.templates,
            mail_settings=h.hub.settings.sendgrid,
        )
    assert nid is not None
    wait_until(lambda: notification(h, nid).status != "queued" or None, what=f"notification {nid} sent")
    return nid


def notification(h, nid: int) -> Notification:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return s.get(Notification, nid)


def partner(h, pid: int) -> Partner:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return s.get(Partner, pid)


def settle(h) -> list[InboxEvent]:  # type: ignore[no-untyped-def]
    """Wait until every inbox event is processed; returns them."""
    return wait_until(
        lambda: (rows := h.inbox()) and all(r.state == "done" for r in rows) and rows, what="inbox processed"
    )


def message_id(h, nid: int) -> str:  # type: ignore[no-untyped-def]
    return notification(h, nid).provider_message_id


def test_each_event_type_delivered_twice_and_out_of_order(hub_proc) -> None:  # type: ignore[no-untyped-def]
    h = hub_proc
    now = int(time.time())
    kinds = {  # event -> (extra fields, the notification status it leads to)
        "delivered": ({"response": "250 OK"}, "delivered"),
        "bounce": (
            {"type": "bounce", "reason": "550 5.1.1 The email account does not exist", "status": "5.1.1"},
            "bounced",
        ),
        "dropped": ({"reason": "Bounced Address"}, "dropped"),
        "spamreport": ({}, "spam_reported"),
        "unsubscribe": ({}, "unsubscribed"),
        "group_unsubscribe": ({"asm_group_id": REMINDER_GROUP}, "unsubscribed"),
    }
    sent = {}
    for kind in kinds:
        pid = add_partner(h, f"{kind}@partner{kind.replace('_', '')}.example")
        sent[kind] = (pid, send(h, pid))
    batch = []
    for kind, (extra, _) in kinds.items():
        pid, nid = sent[kind]
        email = partner(h, pid).email
        mid = message_id(h, nid)
        # processed earlier, the event itself, and a late "delivered" that arrives after it
        batch.append(
            event(
                "processed",
                email=email,
                notification_id=nid,
                sg_event_id=f"p-{kind}",
                timestamp=now - 30,
                message_id=mid,
            )
        )
        batch.append(
            event(
                kind, email=email, notification_id=nid, sg_event_id=f"e-{kind}", timestamp=now, message_id=mid, **extra
            )
        )
        if kind != "delivered":
            batch.append(
                event(
                    "delivered",
                    email=email,
                    notification_id=nid,
                    sg_event_id=f"d-{kind}",
                    timestamp=now - 10,
                    message_id=mid,
                )
            )
    reversed_batch = list(reversed(batch))
    for body in (batch, reversed_batch):  # the same events twice, the second time in reverse order
        response = post_events(h.web_url, body)
        assert response.status_code == 200, response.text
    settle(h)
    sendgrid_events = [r for r in h.inbox() if r.connector == "sendgrid"]
    assert len(sendgrid_events) == len(batch)  # one row per sg_event_id
    for kind, (_, status) in kinds.items():
        assert notification(h, sent[kind][1]).status == status, kind
    assert notification(h, sent["bounce"][1]).status_reason.startswith("550 5.1.1")
    # the bounced, dropped-as-bounced and spam-reporting addresses get no more mail; the partner is flagged
    for kind, expected in (("bounce", "bounced"), ("dropped", "bounced"), ("spamreport", "spam_report")):
        p = partner(h, sent[kind][0])
        assert p.email_status == expected and p.flag_reason and p.flagged_at
    for kind in ("delivered", "unsubscribe", "group_unsubscribe"):
        assert partner(h, sent[kind][0]).email_status == "ok"
        assert partner(h, sent[kind][0]).flag_reason is None
    assert h.fake_sendgrid.violations == []


def test_a_bounced_address_gets_no_more_mail(hub_proc) -> None:  # type: ignore[no-untyped-def]
    h = hub_proc
    pid = add_partner(h, "gone@partner-bounce.example")
    nid = send(h, pid)
    accepted_before = len(h.fake_sendgrid.accepted)
    bounce = event(
        "bounce",
        email="gone@partner-bounce.example",
        notification_id=None,
        sg_event_id="b-1",
        timestamp=int(time.time()),
        message_id=message_id(h, nid),
        type="bounce",
        reason="550 5.1.1 no such user",
    )  # matched by the sg_message_id prefix alone
    assert post_events(h.web_url, [bounce]).status_code == 200
    settle(h)
    assert notification(h, nid).status == "bounced"
    p = partner(h, pid)
    assert p.email_status == "bounced" and "bounced" in p.flag_reason
    with h.hub.sessions() as s, s.begin():
        later = notify(
            s,
            kind="referral_received",
            to_email=p.email,
            partner_id=pid,
            natural_key="test:after-bounce",
            context={
                "partner_name": "N",
                "partner_manager": None,
                "company_name": "Acme",
                "tracking_id": "R-1",
                "contact_name": None,
            },
            templates=h.templates,
            mail_settings=h.hub.settings.sendgrid,
        )
    after = notification(h, later)
    assert after.status == "suppressed" and "bounced" in after.status_reason
    with h.hub.sessions() as s:
        assert (
            s.scalars(select(OutboxItem).where(OutboxItem.natural_key == f"email:notification:{later}")).first() is None
        )
    time.sleep(0.5)  # give a wrongly queued mail the chance to go out
    assert len(h.fake_sendgrid.accepted) == accepted_before


def test_group_opt_out_skips_reminders_but_not_commission_notices(hub_proc) -> None:  # type: ignore[no-untyped-def]
    h = hub_proc
    pid = add_partner(h, "busy@partner-groups.example")
    first = send(h, pid, "reengagement_reminder")
    mail = h.fake_sendgrid.accepted[-1].body
    assert mail["asm"] == {"group_id": REMINDER_GROUP}
    now = int(time.time())
    opt_out = event(
        "group_unsubscribe",
        email="busy@partner-groups.example",
        notification_id=first,
        sg_event_id="g-1",
        timestamp=now,
        message_id=message_id(h, first),
        asm_group_id=REMINDER_GROUP,
    )
    stale_resubscribe = event(
        "group_resubscribe",
        email="busy@partner-groups.example",
        notification_id=first,
        sg_event_id="g-0",
        timestamp=now - 60,
        message_id=message_id(h, first),
        asm_group_id=REMINDER_GROUP,
    )
    assert post_events(h.web_url, [opt_out]).status_code == 200
    assert post_events(h.web_url, [stale_resubscribe]).status_code == 200  # older: must not undo the opt-out
    settle(h)
    with h.hub.sessions() as s:
        prefs = list(s.scalars(select(EmailPreference).where(EmailPreference.partner_id == pid)))
    assert [(p.asm_group_id, p.opted_out) for p in prefs] == [(REMINDER_GROUP, True)]
    sent_before = len(h.fake_sendgrid.accepted)
    with h.hub.sessions() as s, s.begin():
        reminder = notify(
            s,
            kind="reengagement_reminder",
            to_email="busy@partner-groups.example",
            partner_id=pid,
            natural_key="test:reminder-2",
            context={"partner_name": "N"},
            templates=h.templates,
            mail_settings=h.hub.settings.sendgrid,
        )
    assert notification(h, reminder).status == "skipped"
    commission = send(h, pid, "deal_closed")
    assert notification(h, commission).status == "sent"
    assert len(h.fake_sendgrid.accepted) == sent_before + 1
    assert h.fake_sendgrid.accepted[-1].body["asm"] == {"group_id": COMMISSION_GROUP}


def test_an_event_settles_a_send_whose_202_was_lost(hub_proc) -> None:  # type: ignore[no-untyped-def]
    from tests.support.fake_sendgrid import Scripted

    h = hub_proc
    pid = add_partner(h, "lost@partner-timeout.example")
    h.fake_sendgrid.script.append(Scripted(hang_s=3))  # SendGrid got it; the answer never comes
    with h.hub.sessions() as s, s.begin():
        nid = notify(
            s,
            kind="referral_received",
            to_email="lost@partner-timeout.example",
            partner_id=pid,
            natural_key="test:lost-202",
            context={
                "partner_name": "N",
                "partner_manager": None,
                "company_name": "Acme",
                "tracking_id": "R-2",
                "contact_name": None,
            },
            templates=h.templates,
            mail_settings=h.hub.settings.sendgrid,
        )

    def row() -> OutboxItem:
        with h.hub.sessions() as s:
            return s.scalars(select(OutboxItem).where(OutboxItem.natural_key == f"email:notification:{nid}")).one()

    wait_until(lambda: row().state == "unknown", what="send parked unknown")
    assert [a.state for a in h.alerts() if a.key == f"outcome_unknown:outbox:{row().id}"] == ["open"]
    processed = event(
        "processed",
        email="lost@partner-timeout.example",
        notification_id=nid,
        sg_event_id="u-1",
        timestamp=int(time.time()),
        message_id="lostmsg",
    )
    assert post_events(h.web_url, [processed]).status_code == 200
    settle(h)
    assert row().state == "done" and notification(h, nid).status == "processed"
    assert [a.state for a in h.alerts() if a.key == f"outcome_unknown:outbox:{row().id}"] == ["resolved"]
    assert (
        len(
            [
                r
                for r in h.fake_sendgrid.requests
                if r.body["personalizations"][0]["to"][0]["email"] == "lost@partner-timeout.example"
            ]
        )
        == 1
    )  # never resent


def test_bad_signature_is_refused_and_stores_nothing(hub_proc) -> None:  # type: ignore[no-untyped-def]
    import httpx

    h = hub_proc
    body = b'[{"email":"a@example.com","event":"delivered","sg_event_id":"x1","timestamp":1700000000}]\r\n'
    headers = sign(body)
    tampered = httpx.post(f"{h.web_url}/webhooks/sendgrid", content=body.replace(b"x1", b"x2"), headers=headers)
    unsigned = httpx.post(f"{h.web_url}/webhooks/sendgrid", content=body, headers={"content-type": "application/json"})
    assert (tampered.status_code, unsigned.status_code) == (401, 401)
    assert h.inbox() == []
