"""What a referral submission must hold, checked once for every way a referral comes in: the
partner API's body (``POST /api/v1/referrals``), a referral forwarded by e-mail
(``hub.program.email.inbound``) and a deal registration (which extends it); and how a
submission with an Idempotency-Key is answered once (``once_per_key``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.bounds import is_mail_address

T = TypeVar("T")


def once_per_key(attempt: Callable[[], T], idempotency_key: str | None) -> T:
    """Run ``attempt`` (one submission in its own transaction) so that requests racing with one
    Idempotency-Key all get the first one's answer.

    ``submit`` looks for the key's row before it inserts; two identical requests at once both
    find none, and the second insert fails on the unique (partner, key) constraint. That
    transaction has been rolled back when the ``IntegrityError`` arrives here; the attempt runs
    again, finds the winner's committed row and answers with it (``created`` False; a different
    body under the same key is still an ``IdempotencyConflict``). On PostgreSQL the two may also
    deadlock (one holds the partner's row, the other the key's index entry): the one aborted is
    tried again the same way."""
    for tries_left in range(_TRIES - 1, -1, -1):
        try:
            return attempt()
        except (IntegrityError, OperationalError) as exc:
            lost_race = isinstance(exc, IntegrityError) or getattr(exc.orig, "sqlstate", None) in _ABORTED
            if not idempotency_key or not lost_race or not tries_left:
                raise
    raise AssertionError("unreachable")


#: a deadlock victim may try again before the winner has committed and lose once more
_TRIES = 5


#: PostgreSQL aborting one of two racing transactions: deadlock detected, serialization failure
_ABORTED = ("40P01", "40001")


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    company_name: str = Field(min_length=1, max_length=200)
    company_domain: str | None = Field(default=None, max_length=253, examples=["acme.com"])
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320, examples=["jane@acme.com"])
    notes: str | None = Field(default=None, max_length=5000)
    company_country: str | None = Field(
        default=None,
        description="The company's country, a two-letter ISO code (routes the deal's owner).",
        examples=["DE"],
    )
    company_industry: str | None = Field(
        default=None,
        max_length=64,
        description="The company's industry (routes the deal's owner).",
        examples=["Manufacturing"],
    )

    @field_validator("company_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise ValueError("not a two-letter ISO country code (like DE)")
        return value.upper()

    @field_validator("company_industry")
    @classmethod
    def _industry(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.lower()
        if not is_mail_address(value):
            raise ValueError("not an email address")
        return value

    @field_validator("company_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = re.sub(r"^[a-z]+://", "", value.lower()).split("/")[0].removeprefix("www.")
        if not _DOMAIN.match(value):
            raise ValueError("not a domain name (like acme.com)")
        return value

    @model_validator(mode="after")
    def _someone_to_reach(self) -> ReferralIn:
        if not self.contact_email and not self.company_domain:
            raise ValueError("give contact_email or company_domain, so the referral can be matched")
        return self
