"""The e-mails both partners get when an admin moves a deal (``attribution_removed``,
``attribution_added``): all three parts, exact money, the outcome of each entry, no other
partner named, and plain text with no markup."""

from __future__ import annotations

from hub.program.email.templates import DEFAULT_TEMPLATES_DIR, templates_for

BASE = {"partner_name": "Northwind", "partner_manager": "Grace Hopper", "deal_name": "Acme <renewal>"}


def test_the_old_partner_reads_what_was_cancelled_and_what_is_deducted() -> None:
    entries = [
        {"amount_minor": 100_000, "currency": "USD", "outcome": "cancelled"},
        {"amount_minor": 1_500, "currency": "JPY", "outcome": "reversed"},
    ]
    email = templates_for(DEFAULT_TEMPLATES_DIR).render("attribution_removed", {**BASE, "entries": entries})
    assert email.subject == "Acme <renewal> is no longer credited to you"
    assert "- $1,000.00: cancelled before payment" in email.text
    assert "- ¥1,500: already paid, so it is deducted from your next payout" in email.text
    assert "Acme &lt;renewal&gt;" in email.html and "<renewal>" not in email.html
    assert "Grace Hopper" in email.text  # whom to ask


def test_the_new_partner_reads_what_it_earns_or_that_nothing_is_earned_yet() -> None:
    templates = templates_for(DEFAULT_TEMPLATES_DIR)
    earned = templates.render(
        "attribution_added", {**BASE, "entries": [{"amount_minor": 200_000, "currency": "EUR", "outcome": "pending"}]}
    )
    assert earned.subject == "Acme <renewal> is now credited to you"
    assert "€2,000.00 (pending until its holding period ends)" in earned.text
    nothing = templates.render("attribution_added", {**BASE, "entries": []})
    assert "earns no commission yet" in nothing.text and "earns no commission yet" in nothing.html
