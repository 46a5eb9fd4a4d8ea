"""Commission amounts without records: exact minor units per currency and rule, the expected
payment date, the default program file and a broken one reported by file and line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from hub.mapping import MappingFileError
from hub.program.program_file import (
    CommissionRule,
    FlatAmount,
    PayoutSchedule,
    Program,
    commission_amount,
    load_program,
)
from tests.support.servers import REPO

PROGRAM = Program(
    version=1,
    commissions=[
        CommissionRule(name="gold", tier="gold", percent=Decimal("15")),
        CommissionRule(name="flat silver", tier="silver", flat=FlatAmount(amount=Decimal("500"), currency="EUR")),
        CommissionRule(name="standard", percent=Decimal("10")),
    ],
)


@pytest.mark.parametrize(
    "tier, amount, currency, expected",
    [
        ("gold", 123_456, "USD", (18_518, "USD")),  # 15 % of 1,234.56 = 185.184 -> 185.18
        ("gold", 125, "USD", (19, "USD")),  # 18.75 -> 19? half-even of 18.75 is 19 (not a tie)
        ("bronze", 125, "USD", (12, "USD")),  # 10 % of 1.25 = 0.125 -> 0.12 (half-even tie)
        ("bronze", 135, "USD", (14, "USD")),  # 0.135 -> 0.14 (half-even tie, odd neighbour)
        ("bronze", 1_000_005, "JPY", (100_000, "JPY")),  # zero-decimal currency: 100,000.5 yen -> 100,000
        ("bronze", 1_234_567, "KWD", (123_457, "KWD")),  # three decimals: 123.4567 -> 123.457
        ("silver", 999_999, "USD", (50_000, "EUR")),  # flat, in the rule's own currency: no conversion
    ],
)
def test_commission_amounts(tier, amount, currency, expected):
    rule = PROGRAM.commission_rule("deal_won", tier)
    assert commission_amount(rule, amount, currency) == expected


@pytest.mark.parametrize(
    "earned, expected",
    [
        (date(2026, 11, 23), date(2026, 12, 15)),
        (date(2026, 12, 31), date(2027, 1, 15)),
        (date(2026, 1, 31), date(2026, 2, 15)),
    ],
)
def test_expected_payment_date_default_is_15th_of_next_month(earned, expected):
    assert PayoutSchedule().expected_date(earned) == expected


def test_default_program_file_loads():
    program = load_program(REPO / "mappings")
    assert program.attribution.window_days == 90
    assert program.commission_rule("deal_won", "gold").name == "gold tier"


def test_broken_program_file_reports_file_line(tmp_path):
    (tmp_path / "program.yaml").write_text(
        'version: 1\ncommissions:\n  - name: x\n    percent: "10"\n    flat_fee: 3\n'
    )
    with pytest.raises(MappingFileError) as info:
        load_program(tmp_path)
    assert any("program.yaml:5:5:" in line and "flat_fee" in line for line in info.value.errors), info.value.errors
