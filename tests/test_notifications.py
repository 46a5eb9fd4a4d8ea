"""Notifications: sandboxed, autoescaped templates with a plain-text part and locale variants;
one notification and one outbox row per natural key; exact money; admin alerts emailed once."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.errors import ConfigurationError
from connectors.sendgrid import OutboundEmail
from hub.mapping.money import MoneyError
from hub.pipeline.alerts import raise_alert
from hub.pipeline.models import Alert, OutboxItem
from hub.program.email.alerts import deliver_alerts
from hub.program.email.formatting import format_money
from hub.program.email.notify import PARTNER_KINDS, mark_sent, notify
from hub.program.email.templates import (
    DEFAULT_TEMPLATES_DIR,
    EmailTemplates,
    templates_for,
    variant_dirs,
)
from hub.program.models import Notification
from hub.runtime.jobs import run_outbox_item
from tests.support.fake_sendgrid import ADMIN_EMAIL, FakeSendGrid

#: Prism, the fake SendGrid and a Hub in-process (fixtures)
pytest_plugins = ["tests.support.sendgrid_fixtures"]

PARTNER = {
    "partner_name": "Northwind Consulting",
    "partner_manager": "Grace Hopper",
    "company_name": "Acme Corp",
    "tracking_id": "R-7K2M9Q4XPA",
    "contact_name": "Wile E. Coyote",
}
#: what each kind needs beyond the partner context
EXTRA = {
    "referral_received": {},
    "referral_held": {},
    "referral_declined": {"reason": "already a customer"},
    "referral_status": {"status": "demo_scheduled"},
    "deal_closed": {"amount_minor": 123456, "currency": "USD", "expected_payment_date": "2026-02-15"},
    "owner_assigned": {"owner_name": "Sam Seller", "contact_email": "wile@acme.example"},
    "admin_alert": {"alert_kind": "dead_letter", "alert_key": "dead_letter:outbox:sendgrid:fatal",
                    "severity": "error", "message": "outbox #4 is dead", "count": 1,
                    "first_seen_at": "2026-01-01T00:00:00+00:00", "last_seen_at": "2026-01-01T00:00:00+00:00"},
}


# -- templates ------------------------------------------------------------------------------------


def test_every_kind_issue_4_needs_has_all_three_parts() -> None:
    templates = templates_for(DEFAULT_TEMPLATES_DIR)
    assert set(EXTRA) <= set(templates.kinds())
    for kind, extra in EXTRA.items():
        email = templates.render(kind, {**PARTNER, **extra})
        assert email.subject and "\n" not in email.subject, kind
        assert email.text.strip() and "<" not in email.text.replace("<wile@", ""), kind  # plain text
        assert email.html.lstrip().startswith("<!DOCTYPE html>"), kind


def test_html_is_autoescaped_and_the_text_part_is_plain() -> None:
    hostile = {**PARTNER, "company_name": "<script>alert('x')</script> & Sons", "status": "contacted"}
    email = templates_for(DEFAULT_TEMPLATES_DIR).render("referral_status", hostile)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Sons" in email.html
    assert "<script>alert('x')</script> & Sons moved to Contacted" in email.text  # not HTML: no escaping
    assert email.subject == "Your referral for <script>alert('x')</script> & Sons moved to Contacted"


def test_the_issue_4_wording() -> None:
    t = templates_for(DEFAULT_TEMPLATES_DIR)
    assert "We'll reach out to Acme Corp (Wile E. Coyote) within 24 hours" in t.render(
        "referral_received", PARTNER).text
    assert t.render("referral_status", {**PARTNER, "status": "demo_scheduled"}).subject == (
        "Your referral for Acme Corp moved to Demo Scheduled")
    closed = t.render("deal_closed", {**PARTNER, **EXTRA["deal_closed"]})
    assert closed.subject == "Deal closed! Commission: $1,234.56"
    assert "Expected payment date: February 15, 2026" in closed.text
    assert "review" in t.render("referral_held", PARTNER).subject


def test_every_partner_email_names_the_partner_manager() -> None:
    t = templates_for(DEFAULT_TEMPLATES_DIR)
    for kind in PARTNER_KINDS:
        email = t.render(kind, {**PARTNER, **EXTRA[kind]})
        assert "your partner manager, Grace Hopper" in email.text, kind
        assert "your partner manager, Grace Hopper" in email.html, kind
        without = t.render(kind, {**PARTNER, **EXTRA[kind], "partner_manager": None})
        assert "partner team" in without.text and "None" not in without.text, kind
        missing = {k: v for k, v in {**PARTNER, **EXTRA[kind]}.items() if k != "partner_manager"}
        with pytest.raises(ConfigurationError, match="'partner_manager' is undefined"):
            t.render(kind, missing)


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(ConfigurationError, match=r"referral_status/.*'status' is undefined"):
        templates_for(DEFAULT_TEMPLATES_DIR).render("referral_status", PARTNER)


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "email" / "probe").mkdir(parents=True)
    for part in ("subject.txt", "body.txt"):
        (tmp_path / "email" / "probe" / part).write_text("ok")
    (tmp_path / "email" / "probe" / "body.html").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ConfigurationError, match="unsafe"):
        EmailTemplates(tmp_path).render("probe", {})


def test_locale_variants_fall_back_to_the_default(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_TEMPLATES_DIR, tmp_path, dirs_exist_ok=True)
    german = tmp_path / "email" / "referral_received" / "de"
    german.mkdir(exist_ok=True)
    (german / "subject.txt").write_text("Danke! Ihre Empfehlung für {{ company_name }} ist da")
    (german / "body.txt").write_text("Wir melden uns innerhalb von 24 Stunden bei {{ company_name }}.")
    (german / "body.html").write_text("<p>Wir melden uns bei {{ company_name }}.</p>")
    t = EmailTemplates(tmp_path)
    assert t.render("referral_received", PARTNER, locale="de-DE").variant == "email/referral_received/de"
    assert t.render("referral_received", PARTNER, locale="de_at").subject == (
        "Danke! Ihre Empfehlung für Acme Corp ist da")
    assert t.render("referral_received", PARTNER, locale="fr-CA").variant == "email/referral_received"
    assert t.render("referral_received", PARTNER).subject.startswith("Got it!")
    # a locale is a tag, never a path
    assert t.render("referral_received", PARTNER, locale="../../etc").variant == "email/referral_received"
    assert variant_dirs("deal_closed", "pt-BR") == [
        "email/deal_closed/pt-BR", "email/deal_closed/pt", "email/deal_closed"]


# -- money ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (123456, "USD", "$1,234.56"),
    (5, "USD", "$0.05"),
    (-250, "USD", "-$2.50"),
    (1500, "JPY", "¥1,500"),
    (1234, "KWD", "KWD 1.234"),
    (1234567890, "KWD", "KWD 1,234,567.890"),
    (99, "CHF", "CHF 0.99"),
])
def test_money_uses_the_currency_exponent(minor: int, currency: str, text: str) -> None:
    assert format_money(minor, currency) == text


def test_money_refuses_what_is_not_exact() -> None:
    with pytest.raises(MoneyError):
        format_money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        format_money(100, "XYZ")


def test_deal_closed_in_jpy_and_kwd() -> None:
    t = templates_for(DEFAULT_TEMPLATES_DIR)
    jpy = t.render("deal_closed", {**PARTNER, "amount_minor": 150000, "currency": "JPY",
                                   "expected_payment_date": date(2026, 3, 15)})
    assert jpy.subject == "Deal closed! Commission: ¥150,000" and "March 15, 2026" in jpy.html
    kwd = t.render("deal_closed", {**PARTNER, "amount_minor": 1500, "currency": "KWD",
                                   "expected_payment_date": None})
    assert kwd.subject == "Deal closed! Commission: KWD 1.500" and "to be confirmed" in kwd.text


# -- notify -----------------------------------------------------------------------------------------


def test_notify_twice_with_one_natural_key_owes_one_email(sendgrid_hub, add_partner) -> None:
    hub = sendgrid_hub()
    partner_id = add_partner(hub)
    owed: list[int] = []
    with hub.sessions() as s, s.begin():
        first = notify(s, kind="referral_received", to_email="partner@example.org", context=PARTNER,
                       natural_key="referral-received:1", partner_id=partner_id,
                       custom_args={"tracking_id": PARTNER["tracking_id"]}, owed=owed)
    with hub.sessions() as s, s.begin():
        again = notify(s, kind="referral_received", to_email="partner@example.org", context=PARTNER,
                       natural_key="referral-received:1", partner_id=partner_id, owed=owed)
    assert isinstance(first, int) and again is None
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 1
        [item] = s.scalars(select(OutboxItem)).all()
        assert owed == [item.id]
        assert (item.connector, item.action, item.idempotency_key) == ("sendgrid", "send_email", "referral-received:1")
        email = OutboundEmail.model_validate(item.payload)  # the connector's own payload model
        assert email.notification_id == first and email.to.email == "partner@example.org"
        assert email.custom_args == {"tracking_id": "R-7K2M9Q4XPA", "partner_id": str(partner_id),
                                     "notification_id": str(first)}
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
    assert subjects == ["[partnerhub] ERROR: connector (connector_auth:hubspot)",
                        "[partnerhub] ERROR: dead_letter (dead_letter:outbox:hubspot:fatal)"]
    html = next(c["value"] for r in fake_sendgrid.accepted for c in r.body["content"]
                if c["type"] == "text/html" and "outbox #1" in c["value"])
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
