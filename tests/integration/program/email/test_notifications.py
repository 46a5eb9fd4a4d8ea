"""Notifications: one notification and one outbox row per natural key, carried out through the
fake SendGrid; admin alerts emailed once (templates and money: tests/unit/program/email)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.errors import ConfigurationError
from connectors.sendgrid import OutboundEmail
from hub.pipeline.alerts import raise_alert
from hub.pipeline.models import Alert, OutboxItem
from hub.program.email.alerts import deliver_alerts
from hub.program.email.notify import mark_sent, notify
from hub.program.models import Notification
from hub.runtime.jobs import run_outbox_item
from tests.support.fake_sendgrid import ADMIN_EMAIL, FakeSendGrid

PARTNER = {
    "partner_name": "Northwind Consulting",
    "partner_manager": "Grace Hopper",
    "company_name": "Acme Corp",
    "tracking_id": "R-7K2M9Q4XPA",
    "contact_name": "Wile E. Coyote",
}


# -- notify -----------------------------------------------------------------------------------------


def test_notify_twice_with_one_natural_key_owes_one_email(sendgrid_hub, add_partner) -> None:
    hub = sendgrid_hub()
    partner_id = add_partner(hub)
    owed: list[int] = []
    with hub.sessions() as s, s.begin():
        first = notify(
            s,
            kind="referral_received",
            to_email="partner@example.org",
            context=PARTNER,
            natural_key="referral-received:1",
            partner_id=partner_id,
            custom_args={"tracking_id": PARTNER["tracking_id"]},
            owed=owed,
        )
    with hub.sessions() as s, s.begin():
        again = notify(
            s,
            kind="referral_received",
            to_email="partner@example.org",
            context=PARTNER,
            natural_key="referral-received:1",
            partner_id=partner_id,
            owed=owed,
        )
    assert isinstance(first, int) and again is None
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 1
        [item] = s.scalars(select(OutboxItem)).all()
        assert owed == [item.id]
        assert (item.connector, item.action, item.idempotency_key) == ("sendgrid", "send_email", "referral-received:1")
        email = OutboundEmail.model_validate(item.payload)  # the connector's own payload model
        assert email.notification_id == first and email.to.email == "partner@example.org"
        assert email.custom_args == {
            "tracking_id": "R-7K2M9Q4XPA",
            "partner_id": str(partner_id),
            "notification_id": str(first),
        }
        note = s.get(Notification, first)
        assert (note.status, note.kind, note.partner_id) == ("queued", "referral_received", partner_id)
        assert note.subject == "Got it! Your referral for Acme Corp is in"


def test_notify_writes_nothing_when_the_template_cannot_render(sendgrid_hub) -> None:
    hub = sendgrid_hub()
    with pytest.raises(ConfigurationError), hub.sessions() as s, s.begin():
        notify(s, kind="referral_status", to_email="p@example.org", context=PARTNER, natural_key="x:1")
    with pytest.raises(ConfigurationError, match="recipient or reply-to address"), hub.sessions() as s, s.begin():
        notify(s, kind="referral_received", to_email="no", context=PARTNER, natural_key="x:2")
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0


def test_mark_sent_never_moves_a_later_status_back(sendgrid_hub) -> None:
    hub = sendgrid_hub()
    with hub.sessions() as s, s.begin():
        nid = notify(s, kind="referral_received", to_email="p@example.org", context=PARTNER, natural_key="r:1")
    with hub.sessions() as s, s.begin():
        s.get(Notification, nid).status = "delivered"  # an Event Webhook event got there first
    with hub.sessions() as s, s.begin():
        assert mark_sent(s, nid, "msg-1") is False
    with hub.sessions() as s:
        note = s.get(Notification, nid)
        assert (note.status, note.provider_message_id) == ("delivered", "msg-1")


# -- admin alerts -----------------------------------------------------------------------------------


def test_deliver_alerts_emails_each_open_alert_once(sendgrid_hub, fake_sendgrid: FakeSendGrid) -> None:
    hub = sendgrid_hub()
    with hub.sessions() as s, s.begin():
        raise_alert(s, key="dead_letter:outbox:hubspot:fatal", kind="dead_letter", message="outbox #1 <dead>")
        raise_alert(s, key="connector_auth:hubspot", kind="connector", message="hubspot refused the token")
        raise_alert(s, key="old", kind="connector", message="fixed already")
    with hub.sessions() as s, s.begin():
        s.scalars(select(Alert).where(Alert.key == "old")).one().state = "resolved"
    assert deliver_alerts(hub) == 2
    with hub.sessions() as s, s.begin():  # a repeat of a delivered alert only bumps its count
        raise_alert(s, key="connector_auth:hubspot", kind="connector", message="hubspot refused the token")
    assert deliver_alerts(hub) == 0
    with hub.sessions() as s:
        items = list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)))
        delivered = {a.key: a.delivered_at for a in s.scalars(select(Alert))}
    assert len(items) == 2
    assert delivered["old"] is None and all(delivered[k] for k in delivered if k != "old")
    for item in items:
        assert run_outbox_item(hub, item.id) == "done"
    assert fake_sendgrid.violations == []
    assert len(fake_sendgrid.accepted) == 2
    assert {r.body["personalizations"][0]["to"][0]["email"] for r in fake_sendgrid.accepted} == {ADMIN_EMAIL}
    subjects = sorted(r.body["subject"] for r in fake_sendgrid.accepted)
    assert subjects == [
        "[partnerhub] ERROR: connector (connector_auth:hubspot)",
        "[partnerhub] ERROR: dead_letter (dead_letter:outbox:hubspot:fatal)",
    ]
    html = next(
        c["value"]
        for r in fake_sendgrid.accepted
        for c in r.body["content"]
        if c["type"] == "text/html" and "outbox #1" in c["value"]
    )
    assert "outbox #1 &lt;dead&gt;" in html
    assert all("asm" not in r.body for r in fake_sendgrid.accepted)  # no unsubscribe group for alerts


def test_deliver_alerts_without_an_admin_address_leaves_them_waiting(sendgrid_hub) -> None:
    hub = sendgrid_hub(PARTNERHUB_ADMIN_EMAIL="")
    with hub.sessions() as s, s.begin():
        raise_alert(s, key="k", kind="connector", message="m")
    assert deliver_alerts(hub) == 0
    with hub.sessions() as s:
        assert s.scalars(select(Alert.delivered_at)).one() is None
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0
