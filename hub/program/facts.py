"""Revenue facts: money in from customers and back out as refunds, recorded once per provider
object, then handed to the program engine (``hub.commissions.on_revenue_fact``) in the same
transaction.

Payment connectors (Stripe) call ``record_fact`` from the engine while processing their events;
events arrive out of order and more than once, so the row is keyed on the provider object and
carries its latest state: a second delivery of the same state changes nothing, a new state (a
refund that failed, an amount corrected) updates the row and is processed again.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.pipeline.store import utcnow
from hub.program.models import RevenueFact

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

#: the columns a fact's state is made of (a change to any of them is processed again)
STATE = (
    "kind",
    "recurrence",
    "amount_minor",
    "currency",
    "customer_id",
    "revenue_key",
    "partner_id",
    "deal_id",
    "product",
    "period_start",
    "period_end",
    "status",
)


def record_fact(
    session: Session,
    hub: ProgramContext,
    *,
    natural_key: str,
    source: str,
    kind: str,
    amount_minor: int,
    currency: str,
    occurred_at: datetime,
    status: str,
    details: dict[str, Any] | None = None,
    **state: Any,
) -> tuple[RevenueFact, bool]:
    """Insert or update the fact for one provider object; (fact, changed). A changed fact is
    passed to the program engine now, in the caller's transaction."""
    if kind not in ("revenue", "refund"):
        raise ValueError(f"unknown revenue fact kind {kind!r}")
    if (kind == "revenue" and amount_minor < 0) or (kind == "refund" and amount_minor > 0):
        raise ValueError("revenue is positive and refunds are negative")
    unknown = set(state) - set(STATE)
    if unknown:
        raise TypeError(f"unknown revenue fact fields: {sorted(unknown)}")
    fields = dict(state, kind=kind, amount_minor=amount_minor, currency=currency.upper(), status=status)
    now = utcnow()
    fact = session.scalars(select(RevenueFact).where(RevenueFact.natural_key == natural_key).with_for_update()).first()
    if fact is None:
        fact = RevenueFact(
            natural_key=natural_key,
            source=source,
            occurred_at=occurred_at,
            details=details or {},
            created_at=now,
            updated_at=now,
            **fields,
        )
        session.add(fact)
        changed = True
    else:
        changed = any(getattr(fact, name) != value for name, value in fields.items())
        if changed:
            for name, value in fields.items():
                setattr(fact, name, value)
            fact.details = {**(fact.details or {}), **(details or {})}
            fact.updated_at = now
    if not changed:
        return fact, False
    fact.processed_at = None
    session.flush()
    from hub.program import commissions

    commissions.on_revenue_fact(session, hub, fact)
    return fact, True


def record_transfer_reversal(
    session: Session,
    hub: ProgramContext,
    *,
    payout_id: int,
    transfer_id: str,
    amount_reversed_minor: int,
    currency: str,
    event_id: str,
) -> None:
    """Stripe says a transfer made for a payout was (partly) reversed: money went back from the
    partner. The program engine decides what that means for the payout and the ledger
    (``hub.commissions.on_transfer_reversed``), in the caller's transaction."""
    from hub.program import commissions

    commissions.on_transfer_reversed(
        session,
        hub,
        payout_id=payout_id,
        transfer_id=transfer_id,
        amount_reversed_minor=amount_reversed_minor,
        currency=currency.upper(),
        event_id=event_id,
    )
