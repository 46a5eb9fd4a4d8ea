"""Partner e-mail templates and money formatting: sandboxed, autoescaped templates with a plain-text
part and locale variants, the issue 4 wording, and exact money in each currency's exponent."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from connectors.errors import ConfigurationError
from hub.mapping.money import MoneyError
from hub.program.email.formatting import format_money
from hub.program.email.notify import PARTNER_KINDS
from hub.program.email.templates import (
    DEFAULT_TEMPLATES_DIR,
    EmailTemplates,
    templates_for,
    variant_dirs,
)

PARTNER = {
    "partner_name": "Northwind Consulting",
    "partner_manager": "Grace Hopper",
    "company_name": "Acme Corp",
    "tracking_id": "R-7K2M9Q4XPA",
    "contact_name": "Wile E. Coyote",
}

# -- templates ------------------------------------------------------------------------------------

#: what each kind needs beyond the partner context
EXTRA = {
    "referral_received": {},
    "referral_held": {},
    "referral_declined": {"reason": "already a customer"},
    "referral_status": {"status": "demo_scheduled"},
    "deal_closed": {"amount_minor": 123456, "currency": "USD", "expected_payment_date": "2026-02-15"},
    "owner_assigned": {"owner_name": "Sam Seller", "contact_email": "wile@acme.example"},
    "admin_alert": {
        "alert_kind": "dead_letter",
        "alert_key": "dead_letter:outbox:sendgrid:fatal",
        "severity": "error",
        "message": "outbox #4 is dead",
        "count": 1,
        "first_seen_at": "2026-01-01T00:00:00+00:00",
        "last_seen_at": "2026-01-01T00:00:00+00:00",
    },
}


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
    assert (
        "We'll reach out to Acme Corp (Wile E. Coyote) within 24 hours" in t.render("referral_received", PARTNER).text
    )
    assert t.render("referral_status", {**PARTNER, "status": "demo_scheduled"}).subject == (
        "Your referral for Acme Corp moved to Demo Scheduled"
    )
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
        "Danke! Ihre Empfehlung für Acme Corp ist da"
    )
    assert t.render("referral_received", PARTNER, locale="fr-CA").variant == "email/referral_received"
    assert t.render("referral_received", PARTNER).subject.startswith("Got it!")
    # a locale is a tag, never a path
    assert t.render("referral_received", PARTNER, locale="../../etc").variant == "email/referral_received"
    assert variant_dirs("deal_closed", "pt-BR") == [
        "email/deal_closed/pt-BR",
        "email/deal_closed/pt",
        "email/deal_closed",
    ]


# -- money ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (123456, "USD", "$1,234.56"),
        (5, "USD", "$0.05"),
        (-250, "USD", "-$2.50"),
        (1500, "JPY", "¥1,500"),
        (1234, "KWD", "KWD 1.234"),
        (1234567890, "KWD", "KWD 1,234,567.890"),
        (99, "CHF", "CHF 0.99"),
    ],
)
def test_money_uses_the_currency_exponent(minor: int, currency: str, text: str) -> None:
    assert format_money(minor, currency) == text


def test_money_refuses_what_is_not_exact() -> None:
    with pytest.raises(MoneyError):
        format_money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        format_money(100, "XYZ")


def test_deal_closed_in_jpy_and_kwd() -> None:
    t = templates_for(DEFAULT_TEMPLATES_DIR)
    jpy = t.render(
        "deal_closed",
        {**PARTNER, "amount_minor": 150000, "currency": "JPY", "expected_payment_date": date(2026, 3, 15)},
    )
    assert jpy.subject == "Deal closed! Commission: ¥150,000" and "March 15, 2026" in jpy.html
    kwd = t.render("deal_closed", {**PARTNER, "amount_minor": 1500, "currency": "KWD", "expected_payment_date": None})
    assert kwd.subject == "Deal closed! Commission: KWD 1.500" and "to be confirmed" in kwd.text
