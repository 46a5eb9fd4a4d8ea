"""The closed set of transforms a mapping file may name, each built once into a plain function.

Every transform has an inbound function (provider value -> hub value) and an outbound one (hub
value -> provider value). ``reverse`` says how the outbound one relates to the inbound one:

* ``exact``  — a true inverse: for values in the provider's usual form, inbound then outbound gives
  the provider's value back (string, int, decimal, money, bool, date, datetime, split, join,
  lookup with a one-to-one table);
* ``pass``   — outbound writes the hub value unchanged (lower, upper, strip, email);
* ``none``   — cannot be written back (email_domain, concat, coalesce): inbound-only fields.

Functions take ``(value, record)``: ``record`` is the hub record being built (inbound) or written
(outbound), which is where ``money`` finds its currency. Transforms never see ``None``: an empty
value skips the rest of the chain.
"""

from __future__ import annotations

import email.utils
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

from hub.mapping.models import (
    BoolParams,
    ConcatParams,
    DateParams,
    DateTimeParams,
    LookupParams,
    MoneyParams,
    NumberParams,
    Scalar,
    SeparatorParams,
    TransformStep,
)
from hub.mapping.money import from_minor_units, parse_amount, to_minor_units

Fn = Callable[[Any, Mapping[str, Any]], Any]
Reverse = Literal["exact", "pass", "none"]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_S: Final = timedelta(seconds=1)
_INT_TEXT = re.compile(r"[+-]?\d+")
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+")
_TRUE = frozenset({"true", "yes", "y", "on", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "off", "0", "f"})


class TransformError(ValueError):
    """A value this transform cannot convert; the plan adds the file and field."""


class UnknownValue(Exception):
    """A table met a value it does not list (and has no default)."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


@dataclass(frozen=True, slots=True)
class TransformInfo:
    name: str
    #: what the step takes: "scalar", "list", or "any"
    takes: Literal["scalar", "list", "any"]
    #: the kind it produces ("same" keeps its input's kind); kinds: text, int, decimal, money,
    #: bool, date, datetime, list, any
    produces: str
    reverse: Reverse
    #: on a list, applied to each item
    each: bool
    summary: str


_INFO = (
    TransformInfo("string", "scalar", "text", "exact", True, "any scalar -> text"),
    TransformInfo("int", "scalar", "int", "exact", True, "text or number -> whole number"),
    TransformInfo("decimal", "scalar", "decimal", "exact", True, "text or number -> exact decimal"),
    TransformInfo("money", "scalar", "money", "exact", False, "amount -> integer minor units"),
    TransformInfo("bool", "scalar", "bool", "exact", True, "true/false, yes/no, 1/0 -> boolean"),
    TransformInfo("date", "scalar", "date", "exact", True, "ISO date or epoch -> date"),
    TransformInfo("datetime", "scalar", "datetime", "exact", True, "ISO or epoch -> UTC instant"),
    TransformInfo("lower", "scalar", "same", "pass", True, "lower-case"),
    TransformInfo("upper", "scalar", "same", "pass", True, "upper-case"),
    TransformInfo("strip", "scalar", "same", "pass", True, "trim white space"),
    TransformInfo("email", "scalar", "text", "pass", True, "validate and normalize an address"),
    TransformInfo("email_domain", "scalar", "text", "none", True, "the address's domain"),
    TransformInfo("split", "scalar", "list", "exact", False, "text -> list"),
    TransformInfo("join", "list", "text", "exact", False, "list -> text"),
    TransformInfo("concat", "any", "text", "none", False, "several values -> one text"),
    TransformInfo("lookup", "scalar", "any", "exact", True, "replace through a table"),
    TransformInfo("coalesce", "any", "any", "none", False, "first non-empty value"),
)
TRANSFORMS: Final[Mapping[str, TransformInfo]] = MappingProxyType({t.name: t for t in _INFO})


def table_key(value: object) -> str:
    """How a provider value is looked up in a table whose keys are YAML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def reverse_table(table: Mapping[str, Scalar]) -> dict[str, str] | None:
    """hub value -> provider value, or ``None`` when two provider values share a hub value."""
    reverse: dict[str, str] = {}
    for provider_value, hub_value in table.items():
        key = table_key(hub_value)
        if key in reverse:
            return None
        reverse[key] = provider_value
    return reverse


# -- scalar conversions ----------------------------------------------------------------------


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, float)):
        return str(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TransformError(f"expected a single value, got {type(value).__name__}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TransformError("expected a whole number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            return int(text)
        raise TransformError("expected a whole number")
    if isinstance(value, (float, Decimal)) and value == int(value):
        return int(value)
    raise TransformError("expected a whole number")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise TransformError(str(exc)) from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise TransformError("expected true/false, yes/no or 1/0")


def _epoch(value: int, unit: timedelta) -> datetime:
    try:
        return EPOCH + value * unit
    except OverflowError:
        raise TransformError("epoch value out of range") from None


def parse_datetime(value: Any, fmt: str = "iso", zone: timezone | zoneinfo.ZoneInfo = UTC) -> datetime:
    """An aware UTC datetime from ISO-8601 text or an epoch number (ms unless ``fmt`` says s)."""
    if value.__class__ is str and not value[-1:].isdigit() and value[:1].isdigit():
        # the common case first: ISO-8601 text ending in Z or an offset-less time
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is UTC:
                return moment
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            return moment.astimezone(UTC)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    unit = _S if fmt == "epoch_s" else _MS
    if isinstance(value, bool):
        raise TransformError("expected a date-time, got a boolean")
    if isinstance(value, int):
        return _epoch(value, unit)
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            return _epoch(int(text), unit)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise TransformError("expected an ISO-8601 date-time or an epoch number") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)
    raise TransformError("expected an ISO-8601 date-time or an epoch number")


def format_datetime(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: UTC, millisecond precision (HubSpot's own form)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def epoch_of(moment: datetime, unit: timedelta) -> int:
    return (moment.astimezone(UTC) - EPOCH) // unit


def parse_date(value: Any, fmt: str = "iso") -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value.strip()) == 10 and not value.strip().isdigit():
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise TransformError("expected an ISO-8601 date (YYYY-MM-DD)") from None
    return parse_datetime(value, fmt).date()


def parse_email(value: Any) -> str:
    """``"Jane <Jane@Example.COM>" -> "jane@example.com"``."""
    if not isinstance(value, str):
        raise TransformError("expected an e-mail address as text")
    address = email.utils.parseaddr(value)[1] if "<" in value else value.strip()
    if not _EMAIL.fullmatch(address):
        raise TransformError("not a valid e-mail address")
    return address.lower()


def _require_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TransformError(f"expected text, got {type(value).__name__}")
    return value


def _empty(value: Any) -> bool:
    return value is None or value == ""


# -- building --------------------------------------------------------------------------------


def _each(op: Callable[[Any], Any]) -> Fn:
    """Apply ``op`` to a value, or to each item of a list."""

    def apply(value: Any, _record: Mapping[str, Any]) -> Any:
        if value.__class__ is list:
            return [op(item) for item in value if not _empty(item)]
        return op(value)

    return apply


def _text_op(op: Callable[[str], str]) -> Fn:
    """A text method, applied to text directly (the hot path) or to each item of a list."""
    each = _each(lambda value: op(_require_text(value)))

    def apply(value: Any, record: Mapping[str, Any]) -> Any:
        if value.__class__ is str:
            return op(value)
        return each(value, record)

    return apply


def text_in(value: Any, _record: Mapping[str, Any]) -> str:
    """Any scalar as text (provider ids, names): text passes straight through."""
    return value if value.__class__ is str else to_text(value)


def table_lookup(table: Mapping[str, Any], default: Any, has_default: bool) -> Callable[[Any], Any]:
    def look(value: Any) -> Any:
        try:
            return table[table_key(value)]
        except KeyError:
            if has_default:
                return default
            raise UnknownValue(value) from None

    return look


def _currency(params: MoneyParams, record: Mapping[str, Any]) -> str:
    currency = record.get(params.currency_field) if params.currency_field else None
    if not currency:
        currency = params.currency
    if not currency:
        raise TransformError(f"no currency: record field {params.currency_field!r} is empty")
    return str(currency)


def inbound(step: TransformStep) -> Fn:
    """The provider -> hub function of one step."""
    name, params = step.name, step.params
    if name == "string":
        return _each(to_text)
    if name == "int":
        return _each(_int)
    if name == "decimal":
        return _each(_decimal)
    if name == "money":
        assert isinstance(params, MoneyParams)

        def money_in(value: Any, record: Mapping[str, Any]) -> int:
            try:
                return to_minor_units(value, _currency(params, record))
            except TransformError:
                raise
            except ValueError as exc:
                raise TransformError(str(exc)) from None

        return money_in
    if name == "bool":
        return _each(_bool)
    if name == "date":
        assert isinstance(params, DateParams)
        fmt = params.format
        return _each(lambda value: parse_date(value, fmt))
    if name == "datetime":
        assert isinstance(params, DateTimeParams)
        fmt, zone = params.format, _zone(params.assume_tz)
        return _each(lambda value: parse_datetime(value, fmt, zone))
    if name == "lower":
        return _text_op(str.lower)
    if name == "upper":
        return _text_op(str.upper)
    if name == "strip":
        return _text_op(str.strip)
    if name == "email":
        return _each(parse_email)
    if name == "email_domain":
        return _each(lambda value: parse_email(value).rsplit("@", 1)[1])
    if name == "split":
        assert isinstance(params, SeparatorParams)
        sep = params.separator

        def split_in(value: Any, _record: Mapping[str, Any]) -> list[str]:
            if value.__class__ is list:
                return value
            parts = (part.strip() for part in _require_text(value).split(sep))
            return [part for part in parts if part]

        return split_in
    if name in ("join", "concat"):
        assert isinstance(params, (SeparatorParams, ConcatParams))
        glue = params.separator

        def join_in(value: Any, _record: Mapping[str, Any]) -> str:
            if value.__class__ is not list:
                return to_text(value)
            return glue.join(to_text(item) for item in value if not _empty(item))

        return join_in
    if name == "lookup":
        assert isinstance(params, LookupParams)
        look = table_lookup(params.table, params.default, "default" in params.model_fields_set)
        return _each(look)
    if name == "coalesce":

        def coalesce_in(value: Any, _record: Mapping[str, Any]) -> Any:
            if value.__class__ is not list:
                return value
            return next((item for item in value if not _empty(item)), None)

        return coalesce_in
    raise AssertionError(f"no inbound function for {name}")


def outbound(step: TransformStep) -> Fn | None:
    """The hub -> provider function of one step; ``None`` for ``pass`` steps (value unchanged).
    Raises ``LookupError`` for steps that cannot be written back."""
    name, params = step.name, step.params
    reverse = TRANSFORMS[name].reverse
    if reverse == "none":
        raise LookupError(f"transform {name!r} cannot be written back")
    if reverse == "pass" or name == "string":
        return None
    if name == "int":
        assert isinstance(params, NumberParams)
        if params.text:
            return _each(lambda value: str(_int(value)))
        return _each(_int)
    if name == "decimal":
        return _each(lambda value: str(_decimal(value)))
    if name == "money":
        assert isinstance(params, MoneyParams)

        def money_out(value: Any, record: Mapping[str, Any]) -> str:
            try:
                return from_minor_units(value, _currency(params, record))
            except TransformError:
                raise
            except ValueError as exc:
                raise TransformError(str(exc)) from None

        return money_out
    if name == "bool":
        assert isinstance(params, BoolParams)
        if params.text:
            return _each(lambda value: "true" if _bool(value) else "false")
        return _each(_bool)
    if name in ("date", "datetime"):
        assert isinstance(params, DateParams)
        return _each(_time_writer(name, params))
    if name == "split":
        assert isinstance(params, SeparatorParams)
        glue = params.separator

        def split_out(value: Any, _record: Mapping[str, Any]) -> str:
            if value.__class__ is not list:
                return to_text(value)
            return glue.join(to_text(item) for item in value)

        return split_out
    if name == "join":
        assert isinstance(params, SeparatorParams)
        sep = params.separator

        def join_out(value: Any, _record: Mapping[str, Any]) -> list[str]:
            if value.__class__ is list:
                return value
            return [part for part in (p.strip() for p in _require_text(value).split(sep)) if part]

        return join_out
    if name == "lookup":
        assert isinstance(params, LookupParams)
        table = reverse_table(params.table)
        if table is None:
            raise LookupError("the lookup table is not one-to-one, so it cannot be written back")
        return _each(table_lookup(table, None, False))
    raise AssertionError(f"no outbound function for {name}")


def _time_writer(name: str, params: DateParams) -> Callable[[Any], Any]:
    fmt, text = params.format, params.text
    zone = _zone(params.assume_tz) if isinstance(params, DateTimeParams) else UTC
    if name == "date":
        if fmt == "iso":
            return lambda value: parse_date(value).isoformat()
        unit = _S if fmt == "epoch_s" else _MS

        def date_epoch(value: Any) -> Any:
            day = parse_date(value)
            number = epoch_of(datetime(day.year, day.month, day.day, tzinfo=UTC), unit)
            return str(number) if text else number

        return date_epoch
    if fmt == "iso":
        return lambda value: format_datetime(parse_datetime(value, "iso", zone))
    unit = _S if fmt == "epoch_s" else _MS

    def datetime_epoch(value: Any) -> Any:
        number = epoch_of(parse_datetime(value, fmt, zone), unit)
        return str(number) if text else number

    return datetime_epoch


def _zone(name: str) -> timezone | zoneinfo.ZoneInfo:
    return UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


def chain(functions: list[Fn]) -> Fn | None:
    """One function running ``functions`` in order; an empty value ends the chain early."""
    if not functions:
        return None
    if len(functions) == 1:
        return functions[0]
    steps = tuple(functions)

    def run(value: Any, record: Mapping[str, Any]) -> Any:
        for step in steps:
            value = step(value, record)
            if value is None or value == "":
                return None
        return value

    return run
