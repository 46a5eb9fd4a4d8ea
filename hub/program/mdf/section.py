"""The program file's ``mdf:`` section: market-development (co-marketing) funds.

Everything here is data; ``hub.program.mdf`` acts on it. Amounts are decimal strings per
currency (exact: turned into the currency's minor units), never floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.mapping.money import MoneyError, exponent, to_minor_units
from hub.program.lifecycle_file import Condition

#: the proof types a claim may carry, checked by the file's content (never its name)
ProofType = Literal["pdf", "png", "jpeg"]
PROOF_TYPES: tuple[ProofType, ...] = ("pdf", "png", "jpeg")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _amounts(value: dict[str, Decimal]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for code, amount in value.items():
        try:
            exponent(code.upper())
            to_minor_units(amount, code.upper())
        except MoneyError as exc:
            raise ValueError(f"{code}: {exc}") from None
        if amount < 0:
            raise ValueError(f"{code}: an amount must not be negative, got {amount}")
        out[code.upper()] = amount
    return out


class Uploads(_Strict):
    max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024, description="Largest proof file (bytes, at most 20 MiB)."
    )
    max_files: int = Field(default=5, ge=1, le=10, description="Most proof files one claim carries.")
    quota_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        le=10 * 1024 * 1024 * 1024,
        description="Most proof bytes one partner keeps stored (all its claims).",
    )
    types: list[ProofType] = Field(
        default_factory=lambda: list(PROOF_TYPES),
        min_length=1,
        description="Accepted proof types, checked by content: pdf, png, jpeg.",
    )


class Mdf(_Strict):
    """Co-marketing funds: a partner meeting ``requires`` asks for an amount (its tier's budget
    for the period bounds it), a person approves; a claim with proof of performance follows,
    a person approves it, and it is paid with the next payout run (reviewed like any payout)."""

    enabled: bool = Field(default=False, description="Open the MDF request form (portal and API).")
    requires: Condition | None = Field(
        default=None, description="Only partners meeting this condition may request funds (refusals name it)."
    )
    period: Literal["quarter", "year"] = Field(default="quarter", description="The budget period (calendar, UTC).")
    budgets: dict[str, dict[str, Decimal]] = Field(
        default_factory=dict,
        description='Per tier, per currency: the budget per partner per period, e.g. {gold: {USD: "5000"}}.',
    )
    default_budget: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Per currency: the budget of partners whose tier is not listed in budgets (none: no funds).",
    )
    uploads: Uploads = Uploads()

    @field_validator("budgets")
    @classmethod
    def _tiers(cls, value: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
        return {tier: _amounts(amounts) for tier, amounts in value.items()}

    @field_validator("default_budget")
    @classmethod
    def _default(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return _amounts(value)

    def allowance_minor(self, tier: str | None, currency: str) -> int:
        """A partner of ``tier``'s budget per period in ``currency`` (minor units; 0: none)."""
        amounts = self.budgets.get(tier or "", self.default_budget)
        amount = amounts.get(currency.upper())
        return 0 if amount is None else to_minor_units(amount, currency.upper())

    def currencies(self, tier: str | None) -> list[str]:
        amounts = self.budgets.get(tier or "", self.default_budget)
        return sorted(code for code, amount in amounts.items() if amount > 0)

    def body_limit(self) -> int:
        """The largest claim body (multipart) worth reading: every file at its cap plus the form."""
        return self.uploads.max_bytes * self.uploads.max_files + 64 * 1024
