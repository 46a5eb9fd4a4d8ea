"""The health score on its own: each signal's part, the weighted integer score, and the program
file's ``health:`` section checked with file, line and column."""

from __future__ import annotations

import pytest

from hub.program.health import SIGNALS, Signals, parts, score
from hub.program.lifecycle_file import Health, HealthWeights

RULES = Health()  # the defaults: weights 25/20/15/15/15/10, active 14 days, quiet 90
HEALTHY = Signals(
    quiet_days=3,
    referrals_recent=4,
    referrals_previous=4,
    referrals=10,
    won=2,
    steps=3,
    steps_done=3,
    onboarded=True,
    mails=8,
    engaged=2,
)


def test_a_healthy_partner_scores_full_marks_on_every_signal() -> None:
    value, detail = score(HEALTHY, RULES)
    assert value == 100
    assert list(detail) == list(SIGNALS)
    assert {name: d["value"] for name, d in detail.items()} == dict.fromkeys(SIGNALS, 100)
    assert detail["referrals"]["facts"] == {"last_90_days": 4, "previous_90_days": 4}
    assert detail["recency"]["weight"] == 25 and detail["email"]["weight"] == 10


@pytest.mark.parametrize(
    "quiet, expected",
    [(0, 100), (14, 100), (15, 98), (52, 50), (89, 1), (90, 0), (400, 0)],
)
def test_recency_falls_linearly_from_active_days_to_quiet_days(quiet: int, expected: int) -> None:
    # 100 * (90 - quiet) // (90 - 14), floor division
    assert parts(Signals(quiet_days=quiet), RULES)["recency"] == expected


@pytest.mark.parametrize(
    "recent, previous, expected",
    [(0, 0, 0), (3, 0, 100), (5, 5, 100), (3, 6, 50), (1, 3, 33), (0, 7, 0)],
)
def test_referrals_compare_the_last_90_days_with_the_90_before(recent: int, previous: int, expected: int) -> None:
    signals = Signals(quiet_days=0, referrals_recent=recent, referrals_previous=previous)
    assert parts(signals, RULES)["referrals"] == expected


def test_conversion_onboarding_compliance_and_email_parts() -> None:
    p = parts(
        Signals(
            quiet_days=0, referrals=20, won=1, steps=4, steps_done=1, onboarded=False, expiring=1, mails=10, engaged=1
        ),
        RULES,
    )
    # 1/20 = 5 % of a 20 % target; 1 of 4 steps; one credential expiring soon; 10 % of a 25 % target
    assert (p["conversion"], p["onboarding"], p["compliance"], p["email"]) == (25, 25, 50, 40)
    assert parts(Signals(quiet_days=0, referrals=0), RULES)["conversion"] == 0
    assert parts(Signals(quiet_days=0, expired=1, expiring=2), RULES)["compliance"] == 0
    assert parts(Signals(quiet_days=0, mails=0), RULES)["email"] == 100  # nothing sent: nothing to judge
    stopped = Signals(quiet_days=0, email_stopped=True, mails=10, engaged=10)
    assert parts(stopped, RULES)["email"] == 0  # a bounced address outweighs every open
    assert parts(Signals(quiet_days=0, referrals=3, won=3), RULES)["conversion"] == 100  # capped


def test_the_score_is_the_weighted_integer_mean_and_ignores_zero_weights() -> None:
    quiet = Signals(quiet_days=52, referrals_recent=1, referrals_previous=3, referrals=10, won=1, expired=1)
    # recency 50, referrals 33, conversion 50, onboarding 100, compliance 0, email 100
    value, detail = score(quiet, RULES)
    assert value == (25 * 50 + 20 * 33 + 15 * 50 + 15 * 100 + 15 * 0 + 10 * 100) // 100 == 51
    only_compliance = Health(weights=HealthWeights(recency=0, referrals=0, conversion=0, onboarding=0, email=0))
    assert score(quiet, only_compliance)[0] == 0
    assert score(HEALTHY, only_compliance)[0] == 100
    assert score(quiet, RULES) == (value, detail)  # deterministic


def test_recovery_threshold_defaults_to_the_at_risk_threshold() -> None:
    assert Health(at_risk_below=40).recovery == 40
    assert Health(at_risk_below=40, recovered_at=55).recovery == 55


@pytest.mark.parametrize(
    "section, where, message",
    [
        ("  at_risk_below: 0\n", ":3:18:", "at_risk_below"),
        ("  weights: {recency: -1}\n", ":3:22:", "recency"),
        (
            "  weights: {recency: 0, referrals: 0, conversion: 0, onboarding: 0, compliance: 0, email: 0}\n",
            ":3:12:",
            "at least one weight",
        ),
        ("  at_risk_below: 50\n  recovered_at: 40\n", ":3:3:", "recovered_at cannot be below"),
        ("  active_days: 30\n  quiet_days: 20\n", ":3:3:", "quiet_days must be above"),
        ("  weights: {recent: 10}\n", ":3:13:", "did you mean 'recency'"),
        ("  support_sequense: true\n", ":3:3:", "did you mean 'support_sequence'"),
    ],
)
def test_health_section_errors_name_file_line_and_column(tmp_path, section: str, where: str, message: str) -> None:
    from hub.mapping.errors import MappingFileError
    from hub.program.program_file import load_program

    (tmp_path / "program.yaml").write_text("version: 1\nhealth:\n" + section)
    with pytest.raises(MappingFileError) as caught:
        load_program(tmp_path)
    [line] = caught.value.errors
    assert line.startswith(f"{tmp_path / 'program.yaml'}{where} "), line
    assert message in line, line


def test_the_shipped_program_file_turns_the_score_on_with_documented_defaults() -> None:
    from hub.program.program_file import load_program
    from tests.support.servers import REPO

    shipped = load_program(REPO / "mappings").health
    assert shipped == Health()
    assert shipped.enabled and not shipped.support_sequence and shipped.at_risk_below == 40
