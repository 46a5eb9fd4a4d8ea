"""Fraud signals hold commissions for a person.

A commission a signal flags keeps moving through its states (pending, approved, into a payout),
but it is *held*: ``hold_reason`` says why, every payout containing it waits for a person
(``hub.program.payouts.needs_review``) and that payout cannot be approved until a person
releases the hold (``release``, named and audited). The signals, each switched and tuned in the
program file's ``fraud`` section (``docs/program.md``):

* **own domain**: the referred contact's e-mail, or the referred company's domain, is the
  partner's own (the domain of the partner's e-mail; a free-mail partner: the address itself);
* **matching payout details**: two partners' payout accounts share a bank-account (or card)
  fingerprint (``external_accounts.data[].fingerprint`` of their Stripe Connect accounts, read
  from ``account.updated``) or a payout e-mail: every unpaid commission of both is held;
* **won too fast**: a deal won within ``won_within_minutes`` of the referral that claims it;
* **burst**: more than ``burst.max_referrals`` referrals from the partner inside
  ``burst.window_minutes`` around the referral that earned the commission;
* **loss rates**: the partner's share of paid customer payments refunded, or lost to a
  dispute, above ``loss_rates`` over its window: every unpaid commission of the partner is held.

A released hold stays released for the reasons it had; a new reason holds the entry again.
Reasons are stable sentences (no running figures), so the same signal never re-holds what a
person released; the figures go into the audit entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.pipeline.store import utcnow
from hub.program.errors import InvalidState, NotFound
from hub.program.models import AuditEntry, Deal, LedgerEntry, Partner, Payout, Referral, RevenueFact
from hub.program.program_file import Program
from hub.program.states import LedgerStatus, PayoutStatus

#: the actor of automatic holds in the audit log
ACTOR = "fraud-screening"
SEPARATOR = "; "
#: entries that can still be held: not yet paid out, not undone
HOLDABLE = (LedgerStatus.PENDING, LedgerStatus.APPROVED, LedgerStatus.IN_PAYOUT)
#: revenue statuses that brought money in / refund statuses that took it back (``hub.commissions``)
PAID = ("paid", "succeeded")
REFUNDED = ("succeeded",)
LOST = "lost"


def reasons_of(entry: LedgerEntry) -> list[str]:
    return [r for r in (entry.hold_reason or "").split(SEPARATOR) if r]


def is_held(entry: LedgerEntry) -> bool:
    """A hold no person has released yet."""
    return bool(entry.hold_reason) and entry.hold_released_at is None


def hold(
    session: Session, entry: LedgerEntry, reason: str, *, now: datetime, figures: dict[str, Any] | None = None
) -> bool:
    """Hold ``entry`` for ``reason`` (audited); False when it cannot be held (paid, undone, not a
    commission) or already carries that reason (held, or released by a person)."""
    if entry.kind != "commission" or entry.status not in HOLDABLE:
        return False
    if entry.status == LedgerStatus.IN_PAYOUT and entry.payout_id is not None:
        payout = session.get(Payout, entry.payout_id)
        if payout is not None and payout.status != PayoutStatus.REVIEW:
            return False  # already approved by a person, or on its way: too late to hold
    known = reasons_of(entry)
    if reason in known:
        return False
    entry.hold_reason = SEPARATOR.join([*known, reason])  # released reasons stay: never held for them again
    entry.held_at = now
    entry.hold_released_by = None
    entry.hold_released_at = None
    session.add(
        AuditEntry(
            actor=ACTOR,
            action="ledger.hold",
            subject=f"ledger:{entry.id}",
            before=None,
            after={"hold_reason": entry.hold_reason, "reason": reason, **(figures or {})},
            at=utcnow(),
        )
    )
    return True


def release(session: Session, entry_id: int, *, by: str, reason: str, now: datetime) -> LedgerEntry:
    """A person releases a held commission (named, audited): payouts may then take it."""
    entry = session.get(LedgerEntry, entry_id, with_for_update=True)
    if entry is None:
        raise NotFound(f"no ledger entry #{entry_id}")
    if not is_held(entry):
        raise InvalidState(f"ledger entry #{entry_id} is not held for review")
    entry.hold_released_by, entry.hold_released_at, entry.updated_at = by, now, now
    session.add(
        AuditEntry(
            actor=by,
            action="ledger.release_hold",
            subject=f"ledger:{entry.id}",
            before={"hold_reason": entry.hold_reason},
            after={"hold_released_by": by, "reason": reason},
            at=utcnow(),
        )
    )
    return entry


def held(session: Session) -> list[LedgerEntry]:
    """Every unpaid commission held and not released, oldest first (the review queue; a held
    commission cancelled or reversed since needs no decision)."""
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(
                LedgerEntry.hold_reason.is_not(None),
                LedgerEntry.hold_released_at.is_(None),
                LedgerEntry.status.in_(HOLDABLE),
            )
            .order_by(LedgerEntry.id)
        )
    )


def _hold_unpaid(session: Session, partner_id: int, reason: str, *, now: datetime, figures: dict[str, Any]) -> int:
    entries = session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.kind == "commission",
            LedgerEntry.status.in_(HOLDABLE),
        )
        .order_by(LedgerEntry.id)
    ).all()
    return sum(hold(session, e, reason, now=now, figures=figures) for e in entries)


# -- the signals ----------------------------------------------------------------------------------------


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].strip().lower() or None


def own_domain(program: Program, partner: Partner, referral: Referral) -> str | None:
    """Why the referral is the partner's own company, or None."""
    mine = (partner.email or "").strip().lower()
    contact = (referral.contact_email or "").strip().lower()
    if contact and contact == mine:
        return "own domain: the referred contact's e-mail is the partner's own"
    domain = _domain(mine)
    if domain is None or program.attribution.is_free_mail(domain):
        return None
    if _domain(contact) == domain:
        return f"own domain: the referred contact's e-mail is at the partner's own domain {domain}"
    if (referral.company_domain or "").strip().lower() == domain:
        return f"own domain: the referred company's domain is the partner's own ({domain})"
    return None


def matching_payout_details(session: Session, partner: Partner) -> list[tuple[str, int]]:
    """(reason, other partner id) for every other partner sharing a payout fingerprint or e-mail."""
    found: list[tuple[str, int]] = []
    mine = set(partner.payout_fingerprints or [])
    if mine:
        for other in session.scalars(
            select(Partner).where(Partner.id != partner.id, Partner.payout_fingerprints.is_not(None))
        ):
            if mine & set(other.payout_fingerprints or []):
                found.append((f"matching payout details: the same bank account as partner #{other.id}", other.id))
    if partner.payout_email:
        for other_id in session.scalars(
            select(Partner.id).where(
                Partner.id != partner.id, func.lower(Partner.payout_email) == partner.payout_email.strip().lower()
            )
        ):
            found.append((f"matching payout details: the same payout e-mail as partner #{other_id}", other_id))
    return found


def won_too_fast(program: Program, referral: Referral, won_at: datetime) -> str | None:
    limit = program.fraud.won_within_minutes
    if limit is None or won_at - referral.created_at > timedelta(minutes=limit):
        return None
    return f"won too fast: the deal was won within {limit} minutes of referral {referral.tracking_id}"


def burst(session: Session, program: Program, referral: Referral) -> str | None:
    rule = program.fraud.burst
    if rule is None:
        return None
    window = timedelta(minutes=rule.window_minutes)
    # the busiest window that holds this referral: the one ending at it, or starting at it
    counts = [
        session.scalar(
            select(func.count(Referral.id)).where(
                Referral.partner_id == referral.partner_id,
                Referral.created_at >= start,
                Referral.created_at <= start + window,
            )
        )
        or 0
        for start in (referral.created_at - window, referral.created_at)
    ]
    if max(counts) <= rule.max_referrals:
        return None
    return (
        f"referral burst: more than {rule.max_referrals} referrals within {rule.window_minutes} minutes (fraud.burst)"
    )


def loss_rates(session: Session, program: Program, partner_id: int, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """(reason, figures) for each loss rate of the partner above its threshold."""
    rule = program.fraud.loss_rates
    if rule is None:
        return []
    since = now - timedelta(days=rule.window_days)
    payments = set(
        session.scalars(
            select(RevenueFact.natural_key).where(
                RevenueFact.partner_id == partner_id,
                RevenueFact.kind == "revenue",
                RevenueFact.status.in_(PAID),
                RevenueFact.occurred_at >= since,
            )
        )
    )
    if len(payments) < rule.min_payments:
        return []
    refunded: set[str] = set()
    disputed: set[str] = set()
    for fact in session.scalars(
        select(RevenueFact).where(RevenueFact.kind == "refund", RevenueFact.revenue_key.in_(payments))
    ):
        assert fact.revenue_key is not None
        if (fact.details or {}).get("dispute"):
            if fact.status == LOST:
                disputed.add(fact.revenue_key)
        elif fact.status in REFUNDED and fact.amount_minor < 0:
            refunded.add(fact.revenue_key)
    found = []
    for name, keys, limit in (
        ("refund", refunded, rule.max_refund_percent),
        ("lost-dispute", disputed, rule.max_lost_dispute_percent),
    ):
        rate = Decimal(len(keys)) * 100 / Decimal(len(payments))
        if rate > limit:
            found.append(
                (
                    f"{name} rate above {limit}% of payments over {rule.window_days} days (fraud.loss_rates)",
                    {f"{name}_rate_percent": str(rate.quantize(Decimal("0.01"))), "payments": len(payments)},
                )
            )
    return found


# -- when they are checked ------------------------------------------------------------------------------


def _referral_of(session: Session, entry: LedgerEntry) -> tuple[Referral | None, bool]:
    """The referral that earned the entry, and whether the entry is a won deal's."""
    kind, _, ident = (entry.source_key or "").partition(":")
    if not ident.isdigit():
        return None, False
    if kind == "referral":
        return session.get(Referral, int(ident)), False
    deal_id = None
    if kind == "deal":
        deal_id = int(ident)
    elif kind == "fact":
        fact = session.get(RevenueFact, int(ident))
        deal_id = fact.deal_id if fact is not None else None
    deal = session.get(Deal, deal_id) if deal_id is not None else None
    referral = session.get(Referral, deal.referral_id) if deal is not None and deal.referral_id else None
    return referral, kind == "deal"


def screen_entry(session: Session, program: Program, entry: LedgerEntry) -> list[str]:
    """Check a new commission against every signal and hold it for each one that fires (the
    caller's transaction). Returns the reasons."""
    partner = session.get(Partner, entry.partner_id)
    if partner is None or entry.kind != "commission":
        return []
    rules = program.fraud
    now = entry.created_at
    reasons: list[tuple[str, dict[str, Any]]] = []
    referral, won_deal = _referral_of(session, entry)
    if referral is not None:
        if rules.own_domain and (why := own_domain(program, partner, referral)):
            reasons.append((why, {}))
        if won_deal and (why := won_too_fast(program, referral, now)):
            reasons.append((why, {"referred_at": referral.created_at.isoformat(), "won_at": now.isoformat()}))
        if why := burst(session, program, referral):
            reasons.append((why, {}))
    if rules.matching_payout_details:
        reasons += [(why, {"other_partner_id": other}) for why, other in matching_payout_details(session, partner)]
    reasons += loss_rates(session, program, partner.id, now)
    for why, figures in reasons:
        hold(session, entry, why, now=now, figures=figures)
    return [why for why, _ in reasons]


def on_payout_details(session: Session, program: Program, partner: Partner, *, now: datetime) -> int:
    """The partner's payout details changed: hold the unpaid commissions of both partners of
    every match. Returns how many entries were held."""
    if not program.fraud.matching_payout_details:
        return 0
    count = 0
    for why, other_id in matching_payout_details(session, partner):
        count += _hold_unpaid(session, partner.id, why, now=now, figures={"other_partner_id": other_id})
        mirror = why.replace(f"partner #{other_id}", f"partner #{partner.id}")
        count += _hold_unpaid(session, other_id, mirror, now=now, figures={"other_partner_id": partner.id})
    return count


def on_money_back(session: Session, program: Program, partner_id: int | None, *, now: datetime) -> int:
    """A refund or a dispute of the partner's customer changed: hold the partner's unpaid
    commissions while a loss rate is above its threshold. Returns how many entries were held."""
    if partner_id is None:
        return 0
    return sum(
        _hold_unpaid(session, partner_id, why, now=now, figures=figures)
        for why, figures in loss_rates(session, program, partner_id, now)
    )


def hold_dict(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "hold_reason": entry.hold_reason,
        "held": is_held(entry),
        "held_at": entry.held_at,
        "hold_released_by": entry.hold_released_by,
        "hold_released_at": entry.hold_released_at,
    }
