"""The mapping file format (``version: 1``) as pydantic models: the edge where YAML is checked.

These models check shape only. References (connectors, objects, provider fields, record fields,
enum values, transform chains) are checked by ``hub.mapping.checks`` against the connectors'
declarations and ``hub.mapping.targets``, with the same ``file:line:col`` reporting.
"""

from __future__ import annotations

import zoneinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hub.mapping.money import CURRENCY_EXPONENTS
from hub.mapping.yamlfile import did_you_mean

#: a plain YAML value a filter, default, constant or map may hold
Scalar = str | bool | int | None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


# -- transforms ------------------------------------------------------------------------------


class NoParams(Strict):
    """This transform takes no parameters."""


class NumberParams(Strict):
    text: bool = Field(
        default=False,
        description="Outbound: write the number as text (HubSpot sends and takes numbers as text).",
    )


class BoolParams(Strict):
    text: bool = Field(default=False, description='Outbound: write "true"/"false" as text.')


class MoneyParams(Strict):
    currency_field: str | None = Field(
        default=None,
        description="The record field (type currency) holding the ISO 4217 code, e.g. `currency`.",
    )
    currency: str | None = Field(
        default=None,
        description="A fixed ISO 4217 code; with `currency_field`, used when that field is empty.",
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        if value is not None and value not in CURRENCY_EXPONENTS:
            hint = did_you_mean(value.upper(), list(CURRENCY_EXPONENTS))
            raise ValueError(f"{value!r} is not an ISO 4217 currency code{hint}")
        return value

    @model_validator(mode="after")
    def _some_currency(self) -> MoneyParams:
        if self.currency_field is None and self.currency is None:
            raise ValueError("money needs `currency_field` (a record field) or `currency` (a code)")
        return self


TimeFormat = Literal["iso", "epoch_ms", "epoch_s"]


class DateParams(Strict):
    format: TimeFormat = Field(
        default="iso",
        description="How the provider writes it: ISO-8601 text, epoch milliseconds or seconds. "
        "Inbound accepts all three; outbound writes this one.",
    )
    text: bool = Field(default=False, description="Outbound epoch values as text.")


class DateTimeParams(DateParams):
    assume_tz: str = Field(
        default="UTC",
        description="IANA time zone for provider values without an offset (e.g. Europe/Paris).",
    )

    @field_validator("assume_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value


class SeparatorParams(Strict):
    separator: str = Field(default=",", min_length=1, description="Text between the items.")


class ConcatParams(Strict):
    separator: str = Field(default=" ", description="Text put between the non-empty parts.")


class LookupParams(Strict):
    table: dict[str, Scalar] = Field(min_length=1, description="Provider value -> hub value.")
    default: Scalar = Field(default=None, description="Used for values not in the table; without it they are errors.")


def _param(alias: str, description: str) -> Any:
    return Field(default=None, alias=alias, description=description)


class TransformStep(Strict):
    """One step of a field's transform chain: a bare name (``lower``) or a one-key mapping
    (``money: {currency_field: currency}``)."""

    string_: NoParams | None = _param("string", "Any scalar -> text.")
    int_: NumberParams | None = _param("int", "Whole number (text or number).")
    decimal_: NoParams | None = _param("decimal", "Exact decimal; outbound as text.")
    money: MoneyParams | None = Field(
        default=None, description="Decimal amount -> integer minor units of the currency."
    )
    bool_: BoolParams | None = _param("bool", "true/false, yes/no, 1/0 -> boolean.")
    date_: DateParams | None = _param("date", "Calendar date.")
    datetime_: DateTimeParams | None = _param("datetime", "Instant with a time zone, kept in UTC.")
    lower: NoParams | None = Field(default=None, description="Lower-case text.")
    upper: NoParams | None = Field(default=None, description="Upper-case text.")
    strip: NoParams | None = Field(default=None, description="Trim surrounding white space.")
    email: NoParams | None = Field(default=None, description="Validate and normalize an address.")
    email_domain: NoParams | None = Field(default=None, description="The domain of an address.")
    split: SeparatorParams | None = Field(default=None, description="Text -> list of items.")
    join: SeparatorParams | None = Field(default=None, description="List of items -> text.")
    concat: ConcatParams | None = Field(default=None, description="Several values -> one text, empty parts skipped.")
    lookup: LookupParams | None = Field(default=None, description="Replace through a fixed table.")
    coalesce: NoParams | None = Field(default=None, description="First non-empty of several values.")

    @model_validator(mode="before")
    @classmethod
    def _one_step(cls, data: Any) -> Any:
        names = transform_names()
        if isinstance(data, str):
            data = {data: None}
        if not isinstance(data, dict) or len(data) != 1:
            raise PydanticCustomError(
                "transform_shape",
                "a transform is a name (`lower`) or a one-key mapping (`money: {currency: USD}`)",
            )
        ((name, params),) = data.items()
        if name not in names:
            raise PydanticCustomError(
                "unknown_transform",
                "unknown transform {name}{hint}",
                {"name": repr(name), "hint": did_you_mean(str(name), names) or f"; known: {', '.join(names)}"},
            )
        return {name: {} if params is None else params}

    @property
    def name(self) -> str:
        for field_name, info in type(self).model_fields.items():
            if getattr(self, field_name) is not None:
                return info.alias or field_name
        raise AssertionError("a validated step has one transform")

    @property
    def params(self) -> BaseModel:
        for field_name in type(self).model_fields:
            value = getattr(self, field_name)
            if value is not None:
                return value  # type: ignore[no-any-return]
        raise AssertionError("a validated step has one transform")


def transform_names() -> list[str]:
    return [info.alias or name for name, info in TransformStep.model_fields.items()]


# -- the file --------------------------------------------------------------------------------


class Source(Strict):
    connector: str = Field(description="The connector's name, e.g. hubspot or sendgrid.")
    object: str = Field(description="The connector's object, e.g. deal, contact, event.")


class Filter(Strict):
    """Keep only the provider records that pass: give ``source`` and one of ``equals``, ``in``,
    ``present``. All filters of a file must pass."""

    source: str = Field(description="Provider field path (dots for nesting).")
    equals: Scalar = Field(default=None, description="Keep records whose value equals this.")
    in_: list[Scalar] | None = Field(
        default=None, alias="in", min_length=1, description="Keep records whose value is one of these."
    )
    present: bool | None = Field(
        default=None, description="true: keep records that have a non-empty value; false: the others."
    )

    @model_validator(mode="after")
    def _one_test(self) -> Filter:
        given = [name for name in ("equals", "in_", "present") if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("a filter takes exactly one of `equals`, `in`, `present`")
        return self

    @property
    def test(self) -> Literal["equals", "in", "present"]:
        if "equals" in self.model_fields_set:
            return "equals"
        return "in" if "in_" in self.model_fields_set else "present"


class ValueMap(Strict):
    """Provider values -> hub values (for example HubSpot stage ids -> referral statuses)."""

    values: dict[str, Scalar] = Field(min_length=1, description="Provider value -> hub value.")
    default: Scalar = Field(
        default=None,
        description="Hub value for provider values not listed. Without it, an unknown value stops "
        "the record (dead letter + alert naming the value) until the map is fixed.",
    )
    reverse: dict[str, Scalar] | None = Field(
        default=None,
        description="Outbound: hub value -> provider value, when `values` is not one-to-one.",
    )

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


Direction = Literal["inbound", "outbound", "both"]
Owner = Literal["provider", "hub"]


class FieldRule(Strict):
    """How one record field corresponds to the provider. A bare text value is short for
    ``{source: that.path}``."""

    source: str | list[str] | None = Field(
        default=None,
        description="Provider field path (dots for nesting, `*` for each item of a list), or a "
        "list of paths (for concat/coalesce).",
    )
    const: Scalar = Field(default=None, description="Inbound: a fixed value instead of a source.")
    direction: Direction = Field(
        default="inbound",
        description="inbound: provider -> hub; outbound: hub -> provider; both: each way.",
    )
    owner: Owner | None = Field(
        default=None,
        description="Required with direction both: whose value wins when both sides changed.",
    )
    transform: list[TransformStep] = Field(
        default_factory=list, description="Steps applied in order inbound, reversed outbound."
    )
    value_map: ValueMap | None = Field(default=None, description="Applied after the transforms.")
    default: Scalar = Field(default=None, description="Inbound: used when the provider value is missing or empty.")
    required: bool = Field(default=False, description="Inbound: a record without a value is an error (dead letter).")
    description: str | None = Field(default=None, description="A note for people.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"source": data} if isinstance(data, str) else data

    @property
    def has_const(self) -> bool:
        return "const" in self.model_fields_set

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set

    @property
    def sources(self) -> tuple[str, ...]:
        if self.source is None:
            return ()
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)


class MappingFile(Strict):
    """One provider object mapped to one kind of hub record."""

    version: Literal[1] = Field(description="The format version; always 1 for now.")
    description: str | None = Field(default=None, description="A note for people.")
    source: Source
    target: str = Field(description="The hub record: deal, contact, company, notification_event, ...")
    key: str | list[str] | None = Field(
        default=None,
        description="The record field(s) that identify a record (e.g. external_id). Optional only "
        "for records without a natural key (inbound_email).",
    )
    filters: list[Filter] = Field(default_factory=list, description="All must pass (inbound).")
    fields: dict[str, FieldRule] = Field(min_length=1, description="Record field -> rule.")

    @property
    def key_fields(self) -> tuple[str, ...]:
        if self.key is None:
            return ()
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)
