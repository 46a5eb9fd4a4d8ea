"""Commission ledger entries for won deals, kept right as deals change.

One *live* commission per deal. Each settlement compares what the deal should earn now (the
program's first applicable rule, if the deal is closed won and attributed) with the live entry:

* no live entry and something is earned: a pending entry (natural key ``commission:deal:<id>``,
  so a replayed close never makes a second one);
* live entry still pending (or cancelled): its amount is recomputed, or it is cancelled when the
  deal is reopened or lost, or reactivated when the deal is won again;
* live entry approved, in a payout or paid: it is never edited; a change becomes a reversing
  entry (negative, ``reversal:<entry id>``) plus, if the deal still earns, a new entry
  (``commission:deal:<id>:after:<entry id>``).

Amounts are integer minor units with their currency; nothing sums across currencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Deal, LedgerEntry, Partner, utcnow
from hub.program import Program, commission_amount

SETTLED = ("approved", "in_payout", "paid")


@dataclass(frozen=True)
class Settlement:
    """What changed: ``earned`` is the entry a partner should hear about (new or reactivated)."""

    earned: LedgerEntry | None = None
    cancelled: LedgerEntry | None = None
    reversed: LedgerEntry | None = None


def _live(session: Session, deal: Deal) -> LedgerEntry | None:
    entries = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.deal_id == deal.id, LedgerEntry.kind == "commission")
            .order_by(LedgerEntry.id)
        )
    )
    reversed_ids = set(
        session.scalars(
            select(LedgerEntry.reverses_id).where(
                LedgerEntry.deal_id == deal.id, LedgerEntry.kind == "reversal"
            )
        )
    )
    live = [e for e in entries if e.id not in reversed_ids]
    return live[-1] if live else None


def _due(program: Program, deal: Deal, partner: Partner | None) -> tuple[int, str, dict[str, Any]] | None:
    if partner is None or deal.status != "closed_won" or deal.deleted:
        return None
    rule = program.commission_rule("deal_won", partner.tier)
    if rule is None:
        return None
    computed = commission_amount(rule, deal.amount_minor, deal.currency)
    if computed is None:
        return None
    amount, currency = computed
    snapshot = {"rule": rule.model_dump(mode="json"), "deal_amount_minor": deal.amount_minor,
                "deal_currency": deal.currency, "tier": partner.tier}
    return amount, currency, snapshot


def settle_deal(session: Session, program: Program, deal: Deal, partner: Partner | None) -> Settlement:
    """Bring the deal's ledger in line with the deal, in the caller's transaction."""
    now = utcnow()
    due = _due(program, deal, partner)
    live = _live(session, deal)

    def new_entry(key: str) -> LedgerEntry:
        assert due is not None and partner is not None
        amount, currency, snapshot = due
        entry = LedgerEntry(
            natural_key=key, partner_id=partner.id, deal_id=deal.id, kind="commission",
            amount_minor=amount, currency=currency, status="pending", rule_snapshot=snapshot,
            expected_payment_date=program.payouts.expected_date(now.date()),
            created_at=now, updated_at=now,
        )
        session.add(entry)
        session.flush()
        return entry

    if live is None:
        return Settlement(earned=new_entry(f"commission:deal:{deal.id}")) if due else Settlement()

    if live.status in SETTLED:
        if due and (live.amount_minor, live.currency) == (due[0], due[1]):
            return Settlement()
        reversal = LedgerEntry(
            natural_key=f"reversal:{live.id}", partner_id=live.partner_id, deal_id=deal.id,
            kind="reversal", amount_minor=-live.amount_minor, currency=live.currency,
            status="pending", rule_snapshot={"reverses": live.id, "reason": _reason(deal)},
            reverses_id=live.id, created_at=now, updated_at=now,
        )
        session.add(reversal)
        session.flush()
        earned = new_entry(f"commission:deal:{deal.id}:after:{live.id}") if due else None
        return Settlement(earned=earned, reversed=reversal)

    # pending or cancelled: still ours to change
    if due is None:
        if live.status == "cancelled":
            return Settlement()
        live.status = "cancelled"
        live.updated_at = now
        return Settlement(cancelled=live)
    amount, currency, snapshot = due
    was_cancelled = live.status == "cancelled"
    if (live.amount_minor, live.currency, live.status) == (amount, currency, "pending"):
        return Settlement()
    live.amount_minor, live.currency, live.rule_snapshot = amount, currency, snapshot
    live.status = "pending"
    live.updated_at = now
    if was_cancelled:
        live.expected_payment_date = program.payouts.expected_date(now.date())
        return Settlement(earned=live)
    return Settlement()


def _reason(deal: Deal) -> str:
    if deal.deleted:
        return "deal deleted"
    if deal.status != "closed_won":
        return f"deal moved to {deal.status}"
    return "deal amount changed"


def balances(session: Session, partner_id: int) -> dict[str, dict[str, int]]:
    """Per currency: pending, approved, paid totals (reversals net against them)."""
    totals: dict[str, dict[str, int]] = {}
    for entry in session.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == partner_id)):
        if entry.status == "cancelled":
            continue
        bucket = "paid" if entry.status == "paid" else "approved" if entry.status in ("approved", "in_payout") else "pending"
        per = totals.setdefault(entry.currency, {"pending": 0, "approved": 0, "paid": 0})
        per[bucket] += entry.amount_minor
    return totals


def on_revenue_fact(session: Session, hub: Any, fact: Any) -> None:
    """A revenue fact was recorded or changed (``hub.facts.record_fact``), in the caller's
    transaction. The program engine's revenue rules (recurring commissions, proportional
    clawbacks on refunds) hang here; until a rule applies, the fact is only marked seen."""
    fact.processed_at = utcnow()


def on_transfer_reversed(
    session: Session, hub: Any, *, payout_id: int, transfer_id: str, amount_reversed_minor: int,
    currency: str, event_id: str,
) -> None:
    """A payout's transfer was reversed at the provider. Money decisions stay with people: an
    alert names the payout and the amount (the payouts engine settles the ledger)."""
    from hub.alerts import raise_alert
    from hub.notifications import format_money

    raise_alert(
        session, key=f"transfer_reversed:{transfer_id}", kind="transfer_reversed",
        message=f"payout #{payout_id}: transfer {transfer_id} reversed by "
        f"{format_money(amount_reversed_minor, currency)}; check the partner's ledger",
    )
