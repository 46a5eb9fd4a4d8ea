"""The closed set of transforms and exact money."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from hub.mapping.models import TransformStep
from hub.mapping.money import (
    CURRENCY_EXPONENTS,
    MoneyError,
    from_minor_units,
    to_minor_units,
)
from hub.mapping.transforms import (
    TRANSFORMS,
    TransformError,
    UnknownValue,
    inbound,
    outbound,
)
from tests.support.servers import REPO

# ISO 4217 amount -> minor units, rounding half-even (banker's rounding)
MONEY_ROUNDING = [
    ("1500.50", "USD", 150050),
    ("1500.505", "USD", 150050),  # tie -> even (0)
    ("1500.515", "USD", 150052),  # tie -> even (2)
    ("1500.5051", "USD", 150051),  # not a tie
    ("-0.005", "USD", 0),  # tie -> even (0)
    ("-0.015", "USD", -2),
    ("1500", "JPY", 1500),
    ("0.5", "JPY", 0),  # tie -> even (0)
    ("1.5", "JPY", 2),  # tie -> even (2)
    ("2.5", "JPY", 2),
    ("1.2345", "KWD", 1234),  # tie -> even (4)
    ("1.2355", "KWD", 1236),  # tie -> even (6)
    ("0.001", "KWD", 1),
    ("12", "KWD", 12000),
    ("1.00005", "CLF", 10000),  # exponent 4, tie -> even
    ("99", "USD", 9900),
    (250, "EUR", 25000),  # an integer amount
    ("1e3", "USD", 100000),
]


@pytest.mark.parametrize(("amount", "currency", "minor"), MONEY_ROUNDING)
def test_money_rounding_table(amount: Any, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (150050, "USD", "1500.50"),
        (1500, "JPY", "1500"),
        (1234, "KWD", "1.234"),
        (-5, "KWD", "-0.005"),
        (0, "USD", "0.00"),
        (7, "BHD", "0.007"),
    ],
)
def test_minor_units_back_to_decimal_text(minor: int, currency: str, text: str) -> None:
    assert from_minor_units(minor, currency) == text


def test_currency_table_has_the_known_exponents() -> None:
    assert CURRENCY_EXPONENTS["JPY"] == 0
    assert CURRENCY_EXPONENTS["USD"] == 2
    assert CURRENCY_EXPONENTS["EUR"] == 2
    assert CURRENCY_EXPONENTS["KWD"] == 3
    assert CURRENCY_EXPONENTS["CLF"] == 4
    assert {c for c, e in CURRENCY_EXPONENTS.items() if e == 3} == {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
    assert len(CURRENCY_EXPONENTS) > 150
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


@pytest.mark.parametrize("bad", [1.5, "abc", "1_000", "NaN", "Infinity", True, None])
def test_money_refuses_floats_and_junk(bad: Any) -> None:
    with pytest.raises(MoneyError):
        to_minor_units(bad, "USD")


def test_money_refuses_unknown_currency() -> None:
    with pytest.raises(MoneyError, match="'XXX' is not an ISO 4217"):
        to_minor_units("1", "XXX")


def _in(step: Any, value: Any, record: dict[str, Any] | None = None) -> Any:
    return inbound(TransformStep.model_validate(step))(value, record or {})


def _out(step: Any, value: Any, record: dict[str, Any] | None = None) -> Any:
    function = outbound(TransformStep.model_validate(step))
    return value if function is None else function(value, record or {})


# (step, provider value, hub value, provider value written back)
TABLE: list[tuple[Any, Any, Any, Any]] = [
    ("string", 42, "42", "42"),
    ("string", True, "true", "true"),
    ("int", " 42 ", 42, 42),
    ({"int": {"text": True}}, "250", 250, "250"),
    ("decimal", "1500.50", Decimal("1500.50"), "1500.50"),
    ({"money": {"currency": "JPY"}}, "1500", 1500, "1500"),
    ({"money": {"currency_field": "currency", "currency": "USD"}}, "10.5", 1050, "10.50"),
    ("bool", "Yes", True, True),
    ({"bool": {"text": True}}, "false", False, "false"),
    ("date", "2024-05-01", date(2024, 5, 1), "2024-05-01"),
    ({"date": {"format": "epoch_ms"}}, 1714521600000, date(2024, 5, 1), 1714521600000),
    ("datetime", "2024-05-01T12:00:00.123Z", datetime(2024, 5, 1, 12, 0, 0, 123000, UTC), "2024-05-01T12:00:00.123Z"),
    ("datetime", "2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC), "2024-05-01T12:00:00.000Z"),
    ("datetime", "1714564800123", datetime(2024, 5, 1, 12, 0, 0, 123000, UTC), "2024-05-01T12:00:00.123Z"),
    ({"datetime": {"format": "epoch_s"}}, 1714564800, datetime(2024, 5, 1, 12, tzinfo=UTC), 1714564800),
    (
        {"datetime": {"format": "epoch_ms", "text": True}},
        "1714564800000",
        datetime(2024, 5, 1, 12, tzinfo=UTC),
        "1714564800000",
    ),
    (
        {"datetime": {"assume_tz": "Europe/Paris"}},
        "2024-05-01 14:00",
        datetime(2024, 5, 1, 12, tzinfo=UTC),
        "2024-05-01T12:00:00.000Z",
    ),
    ("lower", "ACME", "acme", "acme"),
    ("upper", "eur", "EUR", "EUR"),
    ("strip", "  Acme  ", "Acme", "Acme"),
    ("email", " Jane.Doe@Example.COM ", "jane.doe@example.com", "jane.doe@example.com"),
    ("email", "Jane Doe <Jane@Example.com>", "jane@example.com", "jane@example.com"),
    ({"split": {"separator": ";"}}, "a; b;;c", ["a", "b", "c"], "a;b;c"),
    ("join", ["a", "b"], "a,b", ["a", "b"]),
    ({"lookup": {"table": {"1": "gold", "2": "silver"}}}, 1, "gold", "1"),
]


@pytest.mark.parametrize(("step", "provider", "hub", "written"), TABLE)
def test_transform_in_and_out(step: Any, provider: Any, hub: Any, written: Any) -> None:
    assert _in(step, provider, {"currency": None}) == hub
    assert _out(step, hub, {"currency": None}) == written


@pytest.mark.parametrize(
    ("step", "provider", "hub"),
    [
        ("email_domain", "Jane <jane@Partner.IO>", "partner.io"),
        ({"concat": {"separator": " "}}, ["Jane", None, "Doe"], "Jane Doe"),
        ("coalesce", [None, "", "x", "y"], "x"),
        ({"lookup": {"table": {"a": "x"}, "default": "other"}}, "zzz", "other"),
        ("lower", ["A", "B"], ["a", "b"]),  # item-wise on lists
    ],
)
def test_one_way_transforms(step: Any, provider: Any, hub: Any) -> None:
    assert _in(step, provider) == hub


@pytest.mark.parametrize("name", ["email_domain", "concat", "coalesce"])
def test_one_way_transforms_cannot_be_written_back(name: str) -> None:
    assert TRANSFORMS[name].reverse == "none"
    with pytest.raises(LookupError):
        outbound(TransformStep.model_validate(name))


def test_money_takes_its_currency_from_the_record() -> None:
    step = {"money": {"currency_field": "currency", "currency": "USD"}}
    assert _in(step, "1500", {"currency": "JPY"}) == 1500
    assert _in(step, "1500", {"currency": "KWD"}) == 1500000
    assert _in(step, "1500", {}) == 150000  # falls back to the fixed code
    assert _out(step, 1500000, {"currency": "KWD"}) == "1500.000"
    with pytest.raises(TransformError, match="no currency"):
        _in({"money": {"currency_field": "currency"}}, "1", {})


@pytest.mark.parametrize(
    ("step", "value", "message"),
    [
        ("int", "1.5", "whole number"),
        ("bool", "maybe", "true/false"),
        ("datetime", "yesterday", "ISO-8601"),
        ("date", "2024-13-01", "ISO-8601 date"),
        ("email", "not an address", "not a valid e-mail"),
        ("lower", 5, "expected text"),
        ({"money": {"currency": "USD"}}, 1.5, "never a float"),
    ],
)
def test_bad_values_raise_transform_errors(step: Any, value: Any, message: str) -> None:
    with pytest.raises(TransformError, match=message):
        _in(step, value)


def test_lookup_without_default_raises_unknown_value() -> None:
    with pytest.raises(UnknownValue) as caught:
        _in({"lookup": {"table": {"a": "x"}}}, "b")
    assert caught.value.value == "b"


def test_every_transform_is_documented() -> None:

    text = (REPO / "docs" / "mappings.md").read_text(encoding="utf-8")
    for name in TRANSFORMS:
        assert f"### `{name}`" in text, name
