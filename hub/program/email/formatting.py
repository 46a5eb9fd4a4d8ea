"""Template filters for partner e-mail: money in minor units, dates, labels."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

import structlog

from hub.mapping.money import exponent, from_minor_units

log = structlog.get_logger(__name__)


_SYMBOLS: Final = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_money(minor: int, currency: str) -> str:
    """``123456, "USD" -> "$1,234.56"``, ``1500, "JPY" -> "¥1,500"``, ``1234, "KWD" ->
    "KWD 1.234"``: the ISO 4217 exponent decides the decimals; exact, no floats."""
    code = currency.upper()
    text = from_minor_units(minor, code)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = digits.partition(".")
    grouped = f"{int(whole):,}" + (f".{fraction}" if exponent(code) else "")
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{grouped}" if symbol else f"{sign}{code} {grouped}"


def format_date(value: date | datetime | str | None) -> str:
    """``2026-02-15 -> "February 15, 2026"`` (ISO text accepted); ``None`` -> "to be confirmed"."""
    if value is None or value == "":
        return "to be confirmed"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    day = value.date() if isinstance(value, datetime) else value
    return f"{day:%B} {day.day}, {day.year}"


def label(value: str) -> str:
    """A status word for people: ``demo_scheduled -> "Demo Scheduled"``."""
    return " ".join(word.capitalize() for word in str(value).replace("-", "_").split("_") if word)
