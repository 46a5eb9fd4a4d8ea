"""The partner-program file (``mappings/program.yaml``): attribution, owners, commissions, payouts.

Loaded and checked by the mapping machinery (every problem as ``file:line:col: message``; unknown
keys with a did-you-mean). ``docs/program.md`` is its reference. Amounts are decimal strings,
never floats; percentages are decimals ("12.5" means 12.5 %).
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.mapping import load_yaml_model
from hub.mapping.money import MoneyError, exponent, to_minor_units

PROGRAM_FILE = "program.yaml"

#: addresses at these domains say nothing about which company a person works for
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "outlook.com",
    "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
    "protonmail.com", "gmx.com", "gmx.de", "web.de", "mail.com", "yandex.ru", "zoho.com",
    "fastmail.com", "hey.com", "qq.com", "163.com",
})  # fmt: skip

DecimalText = Annotated[Decimal, Field(description="A decimal number written as a string, e.g. \"12.5\".")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attribution(_Strict):
    window_days: int = Field(default=90, ge=1, le=3650, description="How long after a referral a new deal still counts as referred.")
    model: Literal["first_touch", "last_touch"] = Field(default="first_touch", description="Which referral wins when several match.")
    free_mail_domains: list[str] = Field(default_factory=list, description="Extra free-mail domains, added to the built-in list.")

    def is_free_mail(self, domain: str | None) -> bool:
        if not domain:
            return True
        domain = domain.lower().strip()
        return domain in FREE_MAIL_DOMAINS or domain in {d.lower() for d in self.free_mail_domains}


class OwnerRule(_Strict):
    """Deals of partners in this region (and/or segment) go to ``owner_id``, or in turn to the
    owners of ``round_robin``."""

    region: str | None = None
    segment: str | None = None
    owner_id: str | None = None
    owner_email: str | None = None
    round_robin: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_target(self) -> OwnerRule:
        if (self.owner_id is None) == (self.round_robin is None):
            raise ValueError("give exactly one of owner_id or round_robin")
        return self

    def matches(self, region: str | None, segment: str | None) -> bool:
        return (self.region is None or self.region == region) and (
            self.segment is None or self.segment == segment
        )


class Owners(_Strict):
    rules: list[OwnerRule] = Field(default_factory=list)
    default_owner_id: str | None = None
    #: owner id -> email, for the "new deal assigned to you" notice
    emails: dict[str, str] = Field(default_factory=dict)

    def owner_for(self, *, region: str | None, segment: str | None, turn: int) -> str | None:
        """The owner for a new referral deal. ``turn`` (the referral's id) picks the round-robin
        member, so a replay picks the same owner."""
        for rule in self.rules:
            if rule.matches(region, segment):
                if rule.owner_id is not None:
                    return rule.owner_id
                assert rule.round_robin is not None
                return rule.round_robin[turn % len(rule.round_robin)]
        return self.default_owner_id

    def email_of(self, owner_id: str | None) -> str | None:
        if owner_id is None:
            return None
        for rule in self.rules:
            if rule.owner_id == owner_id and rule.owner_email:
                return rule.owner_email
        return self.emails.get(owner_id)


class FlatAmount(_Strict):
    amount: DecimalText
    currency: str = Field(min_length=3, max_length=3)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            exponent(value.upper())
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
        return value.upper()


class CommissionRule(_Strict):
    name: str
    event: Literal["deal_won"] = "deal_won"
    tier: str | None = Field(default=None, description="Only partners of this tier; unset: any tier.")
    percent: DecimalText | None = Field(default=None, ge=0, le=100)
    flat: FlatAmount | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> CommissionRule:
        if (self.percent is None) == (self.flat is None):
            raise ValueError("give exactly one of percent or flat")
        return self

    def applies(self, event: str, tier: str | None) -> bool:
        return self.event == event and (self.tier is None or self.tier == tier)


class PayoutSchedule(_Strict):
    day_of_month: int = Field(default=15, ge=1, le=28)
    months_after: int = Field(default=1, ge=0, le=12)

    def expected_date(self, earned: date) -> date:
        """Default: the 15th of the month after the commission was earned."""
        month_index = earned.month - 1 + self.months_after
        year, month = earned.year + month_index // 12, month_index % 12 + 1
        return date(year, month, min(self.day_of_month, calendar.monthrange(year, month)[1]))


class DealStart(_Strict):
    """Where new referral deals start in one CRM (ids as that CRM names them)."""

    pipeline: str | None = Field(default=None, description="The pipeline id (CRMs without pipelines: unset).")
    stage: str = Field(description="The first stage id; it must be mapped in that CRM's deals mapping file.")


class NewDeals(_Strict):
    """Where the CRM deal of an accepted referral starts."""

    source: str = Field(default="partner_referral", description="Written to the deal's partner-source field.")
    start: dict[str, DealStart] = Field(
        default_factory=dict,
        description="Per CRM connector (the value of PARTNERHUB_CRM): its pipeline and first stage.",
    )

    def start_for(self, crm: str) -> DealStart:
        try:
            return self.start[crm]
        except KeyError:
            from connectors.base import ConfigurationError

            raise ConfigurationError(
                f"{PROGRAM_FILE}: new_deals.start has no entry for the CRM {crm!r} "
                f"(it has: {', '.join(sorted(self.start)) or 'none'})"
            ) from None


class Program(_Strict):
    version: Literal[1]
    description: str | None = None
    new_deals: NewDeals = NewDeals()
    attribution: Attribution = Attribution()
    owners: Owners = Owners()
    commissions: list[CommissionRule] = Field(default_factory=list)
    payouts: PayoutSchedule = PayoutSchedule()

    def commission_rule(self, event: str, tier: str | None) -> CommissionRule | None:
        """The first rule in file order that applies (put tier-specific rules first)."""
        return next((rule for rule in self.commissions if rule.applies(event, tier)), None)


def commission_amount(rule: CommissionRule, amount_minor: int | None, currency: str | None) -> tuple[int, str] | None:
    """(minor units, currency) the rule pays on a deal, or None when it cannot be computed
    (a percentage of a deal with no amount). Half-even rounding at the currency's exponent."""
    if rule.flat is not None:
        return to_minor_units(rule.flat.amount, rule.flat.currency), rule.flat.currency
    if amount_minor is None or currency is None or rule.percent is None:
        return None
    value = (Decimal(amount_minor) * rule.percent / Decimal(100)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(value), currency


def load_program(folder: Path) -> Program:
    """``<mappings dir>/program.yaml``; the defaults when the file is absent. Raises
    ``MappingFileError`` (a ``ConfigurationError``) with ``file:line:col`` messages."""
    path = folder / PROGRAM_FILE
    if not path.exists():
        return Program(version=1)
    return load_yaml_model(path, Program)
