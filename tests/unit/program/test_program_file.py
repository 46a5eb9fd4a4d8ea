"""The program file on its own: its JSON Schema is current, its errors name file and line, the
shipped file checks, and the program's emails render and name whom to ask."""

from __future__ import annotations

import pytest

from tests.support.servers import REPO


def test_program_schema_is_current():
    from hub.program.program_file import schema_text

    committed = (REPO / "mappings" / "program.schema.json").read_text()
    assert committed == schema_text(), "run: partnerhub program schema --output mappings/program.schema.json"


@pytest.mark.parametrize(
    "rules, where, message",
    [
        ('  - name: x\n    percent: "10"\n    months: 3\n', ":3:5:", "months applies to recurring_invoice_paid"),
        (
            '  - name: x\n    event: referral_qualified\n    percent: "10"\n',
            ":3:5:",
            "referral_qualified rules pay flat",
        ),
        ('  - name: x\n    percent: "10"\n    cap: {amount: "5", currency: XYZ}\n', ":5:34:", "not an ISO 4217"),
        (
            '  - name: x\n    event: invoice_paid\n    percent: "10"\n',
            ":4:12:",
            "did you mean 'recurring_invoice_paid'",
        ),
        ('  - name: x\n    percent: "10"\n    holding_days: -1\n', ":5:19:", "holding_days"),
    ],
)
def test_program_file_errors_name_file_and_line(tmp_path, rules, where, message):
    import subprocess
    import sys

    (tmp_path / "program.yaml").write_text("version: 1\ncommissions:\n" + rules)
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "program", "check", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert "program.yaml" in out.stderr and message in out.stderr, out.stderr
    assert f"program.yaml{where}" in out.stderr, out.stderr


def test_the_old_review_above_key_is_refused_naming_the_new_one(tmp_path):
    from hub.mapping.errors import MappingFileError
    from hub.program.program_file import load_program

    (tmp_path / "program.yaml").write_text(
        'version: 1\npayouts:\n  minimum: {USD: "50"}\n  review_above: {USD: "1000"}\n'
    )
    with pytest.raises(MappingFileError) as caught:
        load_program(tmp_path)
    [line] = caught.value.errors
    assert line.startswith(f"{tmp_path / 'program.yaml'}:4:3: "), line
    assert "review_above was replaced by auto_approve_up_to" in line, line


def test_auto_approval_amounts_are_per_known_currency_and_not_negative(tmp_path):
    from hub.mapping.errors import MappingFileError
    from hub.program.program_file import load_program

    (tmp_path / "program.yaml").write_text('version: 1\npayouts:\n  auto_approve_up_to: {USD: "-1"}\n')
    with pytest.raises(MappingFileError, match="must not be negative"):
        load_program(tmp_path)
    (tmp_path / "program.yaml").write_text('version: 1\npayouts:\n  auto_approve_run_cap: {XYZ: "10"}\n')
    with pytest.raises(MappingFileError, match="ISO 4217"):
        load_program(tmp_path)


def test_shipped_program_file_checks():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "program", "check"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "2 commission rule(s)" in out.stdout, out.stdout + out.stderr


# -- the program's emails ------------------------------------------------------------------------------

PROGRAM_EMAILS = {
    "payout_scheduled": (
        {"payout_id": 7, "amount_minor": 150_000, "currency": "USD", "review": True, "note": None},
        "Payout scheduled: $1,500.00",
        "approves it before it is sent",
    ),
    "payout_paid": (
        {"payout_id": 7, "amount_minor": 1_852, "currency": "JPY", "reference": "tr_1"},
        "Payout sent: ¥1,852",
        "Reference: tr_1",
    ),
    "payout_failed": (
        {"payout_id": 7, "amount_minor": 5_000, "currency": "EUR", "reason": "account closed"},
        "Payout #7 could not be sent",
        "€50.00",
    ),
    "reengagement_first": ({}, "We miss your referrals, Alpha", "Submit it through the partner API"),
    "reengagement_second": ({}, "Can we help you refer, Alpha?", "reply to this email"),
    "health_support": ({}, "Can we help, Alpha?", "partner program works for you"),
    "tier_changed": (
        {"old_tier": None, "new_tier": "gold", "quarter": "2026-Q1", "referrals": 4},
        "Your partner tier is now Gold",
        "from no tier to Gold",
    ),
    "registration_approved": (
        {"company_name": "Initech", "tracking_id": "R-ABC", "protected_until": "2027-02-21"},
        "Deal registration approved: Initech",
        "until February 21, 2027",
    ),
    "registration_declined": (
        {"company_name": "Initech", "reason": "duplicate of an existing opportunity"},
        "Deal registration declined: Initech",
        "duplicate of an existing opportunity",
    ),
    "registration_held": ({"company_name": "Initech"}, "Deal registration in review: Initech", "reviewed"),
}


@pytest.mark.parametrize("kind", sorted(PROGRAM_EMAILS))
def test_program_emails_render_and_name_whom_to_ask(kind):
    from connectors.errors import ConfigurationError
    from hub.program.email.templates import DEFAULT_TEMPLATES_DIR, templates_for

    extra, subject, phrase = PROGRAM_EMAILS[kind]
    base = {"partner_name": "Alpha", "segment": "smb", "locale": None}
    t = templates_for(DEFAULT_TEMPLATES_DIR)
    email = t.render(kind, {**base, **extra, "partner_manager": "Grace Hopper"})
    assert email.subject == subject
    assert phrase in email.text and "your partner manager, Grace Hopper" in email.html
    assert "None" not in email.text
    without = t.render(kind, {**base, **extra, "partner_manager": None})
    assert "partner team" in without.text
    with pytest.raises(ConfigurationError):
        t.render(kind, {**extra, "partner_manager": None})  # no partner name: an error, never "Hi ,"


@pytest.mark.parametrize(
    "fraud, where, message",
    [
        ("  burst: {max_referrals: 0, window_minutes: 60}\n", ":3:26:", "max_referrals"),
        ("  won_within_minutes: -5\n", ":3:23:", "won_within_minutes"),
        ('  loss_rates: {max_refund_percent: "120"}\n', ":3:36:", "max_refund_percent"),
        ("  loss_rate: {}\n", ":3:3:", "did you mean 'loss_rates'"),
    ],
)
def test_fraud_thresholds_are_checked_with_file_line_and_column(tmp_path, fraud, where, message):
    from hub.mapping.errors import MappingFileError
    from hub.program.program_file import load_program

    (tmp_path / "program.yaml").write_text("version: 1\nfraud:\n" + fraud)
    with pytest.raises(MappingFileError) as caught:
        load_program(tmp_path)
    [line] = caught.value.errors
    assert line.startswith(f"{tmp_path / 'program.yaml'}{where} "), line
    assert message in line, line


def test_fraud_signals_are_on_by_default_and_can_be_switched_off(tmp_path):
    from hub.program.program_file import load_program

    (tmp_path / "program.yaml").write_text("version: 1\n")
    default = load_program(tmp_path).fraud
    assert default.own_domain and default.matching_payout_details
    assert default.won_within_minutes == 60 and default.burst is not None and default.loss_rates is not None
    (tmp_path / "program.yaml").write_text(
        "version: 1\nfraud:\n  own_domain: false\n  won_within_minutes: null\n  burst: null\n  loss_rates: null\n"
    )
    off = load_program(tmp_path).fraud
    assert (off.own_domain, off.won_within_minutes, off.burst, off.loss_rates) == (False, None, None, None)
