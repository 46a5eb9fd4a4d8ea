"""The partner-program file (``mappings/program.yaml``): attribution, owners, commissions, payouts.

Loaded and checked by the mapping machinery (every problem as ``file:line:col: message``; unknown
keys with a did-you-mean). ``docs/program.md`` is its reference. Amounts are decimal strings,
never floats; percentages are decimals ("12.5" means 12.5 %).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.mapping import load_yaml_model
from hub.mapping.money import MoneyError, exponent, to_minor_units
from hub.program.lifecycle_file import Applications, Compliance, Condition, Health, Onboarding, Portal, Segments
from hub.program.states import CommissionEvent

PROGRAM_FILE = "program.yaml"

#: addresses at these domains say nothing about which company a person works for
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "outlook.com",
    "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
    "protonmail.com", "gmx.com", "gmx.de", "web.de", "mail.com", "yandex.ru", "zoho.com",
    "fastmail.com", "hey.com", "qq.com", "163.com",
})  # fmt: skip

DecimalText = Annotated[Decimal, Field(description='A decimal number written as a string, e.g. "12.5".')]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attribution(_Strict):
    window_days: int = Field(
        default=90, ge=1, le=3650, description="How long after a referral a new deal still counts as referred."
    )
    model: Literal["first_touch", "last_touch"] = Field(
        default="first_touch", description="Which referral wins when several match."
    )
    free_mail_domains: list[str] = Field(
        default_factory=list, description="Extra free-mail domains, added to the built-in list."
    )

    def is_free_mail(self, domain: str | None) -> bool:
        if not domain:
            return True
        domain = domain.lower().strip()
        return domain in FREE_MAIL_DOMAINS or domain in {d.lower() for d in self.free_mail_domains}


class Routed(BaseModel):
    """What the owner rules route on: the partner's region and segment, and the referred
    company's country (ISO code), region (a state, a province) and industry, each ``None`` when
    unknown (``hub.program.routing`` gathers the company's from the form or the CRM record)."""

    model_config = ConfigDict(frozen=True)

    region: str | None = None
    segment: str | None = None
    country: str | None = None
    company_region: str | None = None
    industry: str | None = None


def routing_key(value: str | None) -> str | None:
    """``"Industrial_Machinery"`` and ``"industrial machinery"`` -> ``"industrial machinery"``:
    an industry or region compared regardless of case, ``_``/``-`` and spacing."""
    if value is None:
        return None
    text = " ".join(str(value).replace("_", " ").replace("-", " ").lower().split())
    return text or None


class OwnerRule(_Strict):
    """New deals matching every key given here go to ``owner_id``, or in turn to the owners of
    ``round_robin``. ``region``/``segment``: the partner's; ``country``/``company_region``/
    ``industry``: the referred company's (a list: one of these)."""

    region: str | None = Field(default=None, description="The partner's region (exact).")
    segment: str | None = Field(default=None, description="The partner's segment (exact).")
    country: list[str] | None = Field(
        default=None, min_length=1, description="The referred company's country: one of these ISO 3166 codes."
    )
    company_region: list[str] | None = Field(
        default=None,
        min_length=1,
        description="The referred company's region (state, province): one of these, case-insensitive.",
    )
    industry: list[str] | None = Field(
        default=None,
        min_length=1,
        description="The referred company's industry: one of these, ignoring case, '_', '-' and spacing.",
    )
    owner_id: str | None = None
    owner_email: str | None = None
    round_robin: list[str] | None = Field(default=None, min_length=1)

    @field_validator("country")
    @classmethod
    def _iso_countries(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = [c for c in value if not (len(c) == 2 and c.isascii() and c.isalpha())]
        if bad:
            raise ValueError(f"not two-letter ISO country codes: {', '.join(map(str, bad))} (like DE)")
        return [c.upper() for c in value]

    @model_validator(mode="after")
    def _one_target(self) -> OwnerRule:
        if (self.owner_id is None) == (self.round_robin is None):
            raise ValueError("give exactly one of owner_id or round_robin")
        return self

    def matches(self, routed: Routed) -> bool:
        """Every key the rule gives matches; a key the deal does not know (None) never does."""
        if self.region is not None and self.region != routed.region:
            return False
        if self.segment is not None and self.segment != routed.segment:
            return False
        if self.country is not None and (routed.country or "").upper() not in self.country:
            return False
        if self.company_region is not None and routing_key(routed.company_region) not in {
            routing_key(r) for r in self.company_region
        }:
            return False
        return self.industry is None or routing_key(routed.industry) in {routing_key(i) for i in self.industry}

    def describe(self) -> str:
        keys = ("region", "segment", "country", "company_region", "industry")
        parts = []
        for key in keys:
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key} {'/'.join(value) if isinstance(value, list) else value}")
        return ", ".join(parts) or "any deal"


class Route(BaseModel):
    """The owner chosen for a new deal and why (the rule's position and keys, or the default)."""

    model_config = ConfigDict(frozen=True)

    owner_id: str | None
    rule: int | None  # 1-based position in ``owners.rules``; None: ``default_owner_id``
    reason: str


class Owners(_Strict):
    rules: list[OwnerRule] = Field(
        default_factory=list, description="Tried in order; the first rule whose every key matches names the owner."
    )
    default_owner_id: str | None = None
    #: owner id -> email, for the "new deal assigned to you" notice
    emails: dict[str, str] = Field(default_factory=dict)
    country_names: dict[str, str] = Field(
        default_factory=dict,
        description="Extra country names a CRM may hold -> ISO code (e.g. {Bayern: DE}); added to the built-in list.",
    )

    @field_validator("country_names")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [c for c in value.values() if not (len(c) == 2 and c.isascii() and c.isalpha())]
        if bad:
            raise ValueError(f"not two-letter ISO country codes: {', '.join(bad)}")
        return {name: code.upper() for name, code in value.items()}

    def route(self, routed: Routed, *, turn: int) -> Route:
        """The owner for a new referral deal: the first matching rule's, else the default.
        ``turn`` (the referral's id) picks the round-robin member, so a replay picks the same."""
        for position, rule in enumerate(self.rules, start=1):
            if rule.matches(routed):
                if rule.owner_id is not None:
                    owner = rule.owner_id
                else:
                    assert rule.round_robin is not None
                    owner = rule.round_robin[turn % len(rule.round_robin)]
                return Route(owner_id=owner, rule=position, reason=f"owner rule {position} ({rule.describe()})")
        return Route(owner_id=self.default_owner_id, rule=None, reason="no owner rule matched: the default owner")

    def owner_for(self, *, region: str | None, segment: str | None, turn: int) -> str | None:
        """The owner by the partner's region and segment alone (``route`` for the company too)."""
        return self.route(Routed(region=region, segment=segment), turn=turn).owner_id

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


class Cap(_Strict):
    """At most ``amount`` earned from this rule per partner per ``period``. Only commissions in
    the cap's currency count against it (and are capped): amounts are never converted."""

    amount: DecimalText = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    period: Literal["month", "quarter", "year"] = "month"

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return FlatAmount._known_currency(value)


class CommissionRule(_Strict):
    name: str
    event: CommissionEvent = Field(
        default=CommissionEvent.DEAL_WON,
        description="What earns it: a won deal, a referral accepted into the CRM, "
        "a paid invoice of a subscription (a recurring revenue fact).",
    )
    tier: str | None = Field(default=None, description="Only partners of this tier; unset: any tier.")
    region: str | None = Field(default=None, description="Only partners of this region; unset: any.")
    segment: str | None = Field(default=None, description="Only partners of this segment; unset: any.")
    product: str | None = Field(
        default=None,
        description="Only revenue for this product or price id (recurring_invoice_paid); unset: any product.",
    )
    percent: DecimalText | None = Field(default=None, ge=0, le=100)
    flat: FlatAmount | None = None
    months: int | None = Field(
        default=None,
        ge=1,
        le=600,
        description="recurring_invoice_paid: pay on the "
        "customer's invoices for this many months from the first; unset: for life.",
    )
    cap: Cap | None = Field(default=None, description="Most a partner earns from this rule per period.")
    holding_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="Days a commission stays pending before the scheduled pass approves it (refund window).",
    )
    requires: Condition | None = Field(
        default=None,
        description="The rule applies only when the partner meets this condition when the commission is earned "
        "(kept in the entry's rule snapshot; a later change never reverses the entry).",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> CommissionRule:
        if (self.percent is None) == (self.flat is None):
            raise ValueError("give exactly one of percent or flat")
        if self.event == CommissionEvent.REFERRAL_QUALIFIED and self.percent is not None:
            raise ValueError("a referral has no amount: referral_qualified rules pay flat")
        if self.months is not None and self.event != CommissionEvent.RECURRING_INVOICE_PAID:
            raise ValueError("months applies to recurring_invoice_paid rules only")
        return self

    def applies(
        self,
        event: str,
        tier: str | None,
        *,
        region: str | None = None,
        segment: str | None = None,
        product: str | None = None,
    ) -> bool:
        return (
            self.event == event
            and (self.tier is None or self.tier == tier)
            and (self.region is None or self.region == region)
            and (self.segment is None or self.segment == segment)
            and (self.product is None or self.product == product)
        )


class PayoutSchedule(_Strict):
    """When payouts run and which of them a person must approve. People decide money: a payout is
    approved without a person only when its currency is listed in ``auto_approve_up_to`` and its
    amount is at or below that, it is not the partner's first payout, and the run's total
    auto-approved in that currency stays within ``auto_approve_run_cap`` (a currency without a
    cap gets no auto-approval at all). Everything else waits in the review queue."""

    #: keys this model used to accept, with what replaced them (the loader's error says so)
    REPLACED_KEYS: ClassVar[dict[str, str]] = {
        "review_above": 'auto_approve_up_to: {USD: "500"} (payouts at or below the amount, in that currency, '
        "may be approved without a person; a currency not listed is always reviewed)",
    }

    day_of_month: int = Field(default=15, ge=1, le=28, description="The payout run's day of the month.")
    months_after: int = Field(default=1, ge=0, le=12)
    minimum: dict[str, DecimalText] = Field(
        default_factory=dict, description='Per currency: smaller balances wait for the next run (e.g. {USD: "50"}).'
    )
    auto_approve_up_to: dict[str, DecimalText] = Field(
        default_factory=dict,
        description='Per currency (e.g. {USD: "500"}): a payout at or below the amount may be approved without a '
        "person. A currency not listed is always reviewed; empty (the default): every payout is reviewed.",
    )
    auto_approve_run_cap: dict[str, DecimalText] = Field(
        default_factory=dict,
        description='Per currency (e.g. {USD: "5000"}): the most one payout run approves without a person; '
        "past it the rest waits for review. A currency not listed gets no auto-approval at all.",
    )

    @field_validator("minimum", "auto_approve_up_to", "auto_approve_run_cap")
    @classmethod
    def _currencies(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, amount in value.items():
            if amount < 0:
                raise ValueError(f"{code}: an amount must not be negative, got {amount}")
        return {FlatAmount._known_currency(code): amount for code, amount in value.items()}

    def expected_date(self, earned: date) -> date:
        """Default: the 15th of the month after the commission was earned."""
        month_index = earned.month - 1 + self.months_after
        year, month = earned.year + month_index // 12, month_index % 12 + 1
        return date(year, month, min(self.day_of_month, calendar.monthrange(year, month)[1]))

    def minimum_minor(self, currency: str) -> int:
        amount = self.minimum.get(currency)
        return 1 if amount is None else max(1, to_minor_units(amount, currency))

    def auto_approve_up_to_minor(self, currency: str) -> int | None:
        """The largest payout in ``currency`` a run may approve without a person; None: every
        payout in it is reviewed."""
        amount = self.auto_approve_up_to.get(currency)
        return None if amount is None else to_minor_units(amount, currency)

    def auto_approve_run_cap_minor(self, currency: str) -> int:
        """The most one run approves without a person in ``currency``; 0 when no cap is listed."""
        amount = self.auto_approve_run_cap.get(currency)
        return 0 if amount is None else to_minor_units(amount, currency)


class Reengagement(_Strict):
    """Quiet partners: a first email, a second, then a flag and a CRM task for the manager."""

    enabled: bool = True
    first_after_days: int = Field(
        default=60, ge=1, le=3650, description="Days without a referral or other activity before the first email."
    )
    second_after_days: int = Field(default=7, ge=1, le=365, description="Days after the first email.")
    flag_after_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days after the second email before the partner is flagged and a CRM task created.",
    )
    task_owner_id: str | None = Field(
        default=None, description="CRM user the outreach task goes to (unset: the CRM's default owner)."
    )


class Registrations(_Strict):
    protection_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="How long an approved registration protects the deal from other partners.",
    )
    requires: Condition | None = Field(
        default=None, description="Only partners meeting this condition may register deals (refusals name it)."
    )


class TierLevel(_Strict):
    name: str
    min_referrals: int = Field(default=0, ge=0, description="Referrals in the quarter.")
    min_won_revenue: FlatAmount | None = Field(
        default=None,
        description="Won deal revenue in the quarter, in this currency (deals in other currencies do not count).",
    )


class Tiers(_Strict):
    """Quarterly review: a partner moves to the first level (in file order: put the highest
    first) whose thresholds it met last quarter. No levels: tiers are set by hand only."""

    levels: list[TierLevel] = Field(default_factory=list)

    def level_for(self, referrals: int, won: dict[str, int]) -> str | None:
        for level in self.levels:
            if referrals < level.min_referrals:
                continue
            need = level.min_won_revenue
            if need is not None and won.get(need.currency, 0) < to_minor_units(need.amount, need.currency):
                continue
            return level.name
        return None


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
            from connectors.errors import ConfigurationError

            raise ConfigurationError(
                f"{PROGRAM_FILE}: new_deals.start has no entry for the CRM {crm!r} "
                f"(it has: {', '.join(sorted(self.start)) or 'none'})"
            ) from None


class Burst(_Strict):
    """More referrals from one partner inside ``window_minutes`` than ``max_referrals``."""

    max_referrals: int = Field(default=20, ge=1, le=100_000, description="Most referrals allowed in the window.")
    window_minutes: int = Field(default=60, ge=1, le=525_600, description="The sliding window, in minutes.")


class LossRates(_Strict):
    """A partner's share of paid customer payments (revenue facts) that were refunded, or lost to
    a dispute, over the last ``window_days``; judged only once the partner has ``min_payments``."""

    max_refund_percent: DecimalText = Field(
        default=Decimal("25"), ge=0, le=100, description="Hold above this share of refunded payments (percent)."
    )
    max_lost_dispute_percent: DecimalText = Field(
        default=Decimal("5"), ge=0, le=100, description="Hold above this share of payments lost to disputes (percent)."
    )
    min_payments: int = Field(
        default=10, ge=1, le=1_000_000, description="Fewer payments than this in the window: no judgement."
    )
    window_days: int = Field(default=180, ge=1, le=3650, description="The lookback, in days.")


class Fraud(_Strict):
    """Fraud signals: a commission they flag is held for a person (never paid automatically, never
    in an auto-approved payout) with the reason shown, until a person releases it."""

    own_domain: bool = Field(
        default=True,
        description="Hold commissions on referrals whose contact e-mail or company domain is the partner's own.",
    )
    matching_payout_details: bool = Field(
        default=True,
        description="Hold the commissions of partners whose payout accounts share a bank-account fingerprint "
        "or a payout e-mail.",
    )
    won_within_minutes: int | None = Field(
        default=60,
        ge=1,
        le=525_600,
        description="Hold a deal's commission when it was won within this many minutes of the referral that "
        "claims it; null: off.",
    )
    burst: Burst | None = Field(
        default_factory=Burst, description="Hold commissions on referrals that arrived in a burst; null: off."
    )
    loss_rates: LossRates | None = Field(
        default_factory=LossRates,
        description="Hold a partner's unpaid commissions while its refund or lost-dispute rate is above the "
        "threshold; null: off.",
    )


class Program(_Strict):
    version: Literal[1]
    description: str | None = None
    new_deals: NewDeals = NewDeals()
    attribution: Attribution = Attribution()
    owners: Owners = Owners()
    commissions: list[CommissionRule] = Field(default_factory=list)
    payouts: PayoutSchedule = PayoutSchedule()
    reengagement: Reengagement = Reengagement()
    registrations: Registrations = Registrations()
    tiers: Tiers = Tiers()
    fraud: Fraud = Fraud()
    segments: Segments = Segments()
    applications: Applications = Applications()
    onboarding: Onboarding = Onboarding()
    compliance: Compliance = Compliance()
    portal: Portal = Portal()
    health: Health = Health()

    def commission_rule(
        self,
        event: str,
        tier: str | None,
        *,
        region: str | None = None,
        segment: str | None = None,
        product: str | None = None,
        meets: Callable[[CommissionRule], bool] | None = None,
    ) -> CommissionRule | None:
        """The first rule in file order that applies (put the most specific rules first); a
        rule with ``requires`` applies only when ``meets(rule)`` (no ``meets``: never)."""
        return next(
            (
                rule
                for rule in self.commissions
                if rule.applies(event, tier, region=region, segment=segment, product=product)
                and (rule.requires is None or (meets is not None and meets(rule)))
            ),
            None,
        )

    def rule_for(
        self,
        event: str,
        partner: object,
        product: str | None = None,
        meets: Callable[[CommissionRule], bool] | None = None,
    ) -> CommissionRule | None:
        """The rule for this partner's tier, region and segment (and conditions: ``meets``)."""
        return self.commission_rule(
            event,
            getattr(partner, "tier", None),
            region=getattr(partner, "region", None),
            segment=getattr(partner, "segment", None),
            product=product,
            meets=meets,
        )


def commission_amount(rule: CommissionRule, amount_minor: int | None, currency: str | None) -> tuple[int, str] | None:
    """(minor units, currency) the rule pays on an amount, or None when it cannot be computed
    (a percentage of a deal with no amount). Half-even rounding at the currency's exponent: the
    amount is already in the currency's minor units, so the result is rounded to a whole one."""
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


def parse_program_text(text: str, name: str = PROGRAM_FILE) -> Program:
    """A program file given as text (an edit sent to the admin API), checked as the file is;
    ``MappingFileError`` with ``name:line:col`` messages."""
    from hub.mapping import MappingFileError
    from hub.mapping.yamlfile import read_yaml_model

    located, errors = read_yaml_model(Path(name), Program, text=text)
    if located is None:
        raise MappingFileError(errors)
    return located.model


PROGRAM_SCHEMA_ID = "https://partnerhub.invalid/schemas/program-v1.json"


def program_schema() -> dict[str, object]:
    """The JSON Schema of the program file, for editors (``mappings/program.schema.json``)."""
    schema = Program.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": PROGRAM_SCHEMA_ID,
        "title": "partnerhub program file (version 1)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text() -> str:
    import json

    return json.dumps(program_schema(), indent=2) + "\n"
