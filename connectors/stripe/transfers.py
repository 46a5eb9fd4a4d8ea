"""Money out to partners: one Connect transfer per hub payout, never two.

Stripe keeps an ``Idempotency-Key`` only 24 hours (``shared/PROVIDERS.md`` §1.4, §7), so the key
alone cannot make a late retry safe. Every transfer therefore carries the payout in
``transfer_group`` (``payout_<id>``) and ``metadata.payout_id``, and the transfers of that group
are looked up *before* any create: one found is returned instead of making another. A create whose
answer is lost (a timeout after sending, a 5xx) raises ``OutcomeUnknown`` — the outbox parks the
row as ``unknown`` with an alert — and replaying the row later finds the transfer if it happened.
A refused transfer (insufficient balance, an account that cannot receive) fails at once with
Stripe's message (``FatalError``); Stripe has no asynchronous ``transfer.failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.errors import FatalError, first_error
from connectors.stripe.client import StripeApi
from connectors.stripe.meaning import PAYOUT_GROUP_PREFIX


class TransferRequest(BaseModel):
    """The outbox payload of ``create_transfer``."""

    model_config = ConfigDict(extra="forbid")

    payout_id: int = Field(ge=1)
    destination: str = Field(pattern=r"^acct_[A-Za-z0-9]+$")
    amount_minor: int = Field(ge=1)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    description: str = Field(default="", max_length=1000)


def transfer_group(payout_id: int) -> str:
    return f"{PAYOUT_GROUP_PREFIX}{payout_id}"


def find_transfers(api: StripeApi, payout_id: int) -> list[dict[str, Any]]:
    """The transfers Stripe holds for this payout (its ``transfer_group``), oldest first."""
    found = list(api.list_all("/v1/transfers", {"transfer_group": transfer_group(payout_id)}))
    return sorted(found, key=lambda t: (int(t.get("created") or 0), str(t.get("id"))))


def _answer(transfer: Mapping[str, Any], *, existing: bool) -> dict[str, Any]:
    return {
        "transfer_id": transfer["id"],
        "amount_minor": int(transfer["amount"]),
        "currency": str(transfer["currency"]).upper(),
        "existing": existing,
    }


def create_transfer(api: StripeApi, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    try:
        req = TransferRequest.model_validate(dict(payload))
    except ValidationError as exc:
        raise FatalError(f"create_transfer: bad payload: {first_error(exc)}") from None
    existing = find_transfers(api, req.payout_id)
    if existing:
        mismatched = [
            t["id"]
            for t in existing
            if t.get("destination") != req.destination or int(t.get("amount") or 0) != req.amount_minor
        ]
        if mismatched:
            raise FatalError(
                f"payout {req.payout_id}: Stripe holds transfer(s) {', '.join(mismatched)} for it "
                "with another destination or amount; a person must settle it"
            )
        return _answer(existing[0], existing=True)
    params = {
        "amount": req.amount_minor,
        "currency": req.currency.lower(),
        "destination": req.destination,
        "transfer_group": transfer_group(req.payout_id),
        "description": req.description or None,
        "metadata": {"payout_id": str(req.payout_id)},
    }
    transfer = api.post("/v1/transfers", params, idempotency_key=idempotency_key, moves_money=True)
    return _answer(transfer, existing=False)
