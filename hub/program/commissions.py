"""Commission ledger entries, kept right as what earned them changes.

A *source* earns commissions: a won deal (``deal:<id>``), a paid recurring invoice (a revenue
fact, ``fact:<id>``), a referral accepted into the CRM (``referral:<id>``). One *live*
commission per source. Each settlement compares what the source should earn now (``hub.rules``:
the program's first applicable rule, capped, with its holding period) with the live entry:

* no live entry and something is earned: a pending entry (natural key ``commission:<source>``,
  so a replayed event never makes a second one);
* live entry still pending (or cancelled): its amount is recomputed (a partial refund reduces
  it in proportion), or it is cancelled (deal reopened or lost, invoice fully refunded), or
  reactivated;
* live entry approved, in a payout or paid: it is never edited; a change becomes a reversing
  entry (negative, ``reversal:<entry id>``, approved at once so it nets against the partner's
  next payout) plus, if the source still earns, a new entry (``commission:<source>:after:<id>``).

* live entry belonging to another partner (an admin moved the source's attribution,
  ``hub.program.reattribution``): the old partner's entry is moved off (``move_off``: cancelled
  before payment, pulled out of a payout still waiting for a person, reversed once paid or
  while its transfer may be moving) and the partner now credited gets a new entry
  (``commission:<source>:after:<id>``) under their own rules.

States: pending -> approved (the scheduled pass, after the holding period) -> in_payout -> paid;
cancelled (never approved); reversed (undone after approval by a reversing entry or an admin).
Amounts are integer minor units with their currency; nothing sums across currencies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.pipeline.engine import READ_AHEAD
from hub.pipeline.store import utcnow
from hub.program import conditions, fraud, rules
from hub.program.models import Deal, LedgerEntry, Partner, Referral, RevenueFact
from hub.program.program_file import CommissionRule, Program
from hub.program.states import CommissionEvent, LedgerStatus, ReferralStatus

SETTLED = (LedgerStatus.APPROVED, LedgerStatus.IN_PAYOUT, LedgerStatus.PAID)
#: refund statuses that took money back (a dispute's ``lost``: its money went back like a refund)
REFUNDED = ("succeeded", "lost")
#: revenue statuses that brought money in
PAID = ("paid", "succeeded")


@dataclass(frozen=True)
class Settlement:
    """What changed: ``earned`` is the entry a partner should hear about (new or reactivated);
    ``moved`` the entry of another partner moved off the source (see ``move_off``)."""

    earned: LedgerEntry | None = None
    cancelled: LedgerEntry | None = None
    reversed: LedgerEntry | None = None
    moved: MovedOff | None = None


@dataclass(frozen=True)
class MovedOff:
    """How a partner's entry left a source credited now to someone else: ``cancelled`` (not paid
    yet: also when pulled out of a payout waiting for a person, ``payout_id`` set), ``reversed``
    (paid, or in a payout whose money may be moving: ``reversal`` nets against the partner's next
    payout; ``payout_id`` set for the latter, with an alert)."""

    entry: LedgerEntry
    outcome: str  # cancelled | reversed
    reversal: LedgerEntry | None = None
    payout_id: int | None = None


def meets(session: Session, partner: rules.RulePartner, source_key: str, at: datetime) -> Any:
    """``Program.rule_for``'s ``meets``: does ``partner`` meet a rule's ``requires`` at ``at``
    (the moment the commission is earned)? The rule the source's live entry was made under
    counts as met: a condition that lapses later (an expired certification) never reverses or
    changes an entry made while it held."""
    live = live_entry(session, source_key)
    kept = (live.rule_snapshot or {}).get("rule_name") if live is not None and live.status != "cancelled" else None
    facts: list[conditions.PartnerFacts] = []

    def check(rule: CommissionRule) -> bool:
        if rule.name == kept:
            return True
        if not facts:
            row = session.get(Partner, partner.id)
            if row is None:
                return False
            found = conditions.facts_for(session, row, at)
            facts.append(
                conditions.PartnerFacts(**{**found.__dict__, "tier": partner.tier, "segment": partner.segment})
            )
        return not conditions.unmet(rule.requires, facts[0])

    return check


def live_entry(session: Session, source_key: str) -> LedgerEntry | None:
    """The source's live commission (not reversed; a cancelled one counts), or None."""
    entries = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.source_key == source_key, LedgerEntry.kind == "commission")
            .order_by(LedgerEntry.id)
        )
    )
    undone = set(
        session.scalars(
            select(LedgerEntry.reverses_id).where(LedgerEntry.source_key == source_key, LedgerEntry.kind == "reversal")
        )
    )
    live = [e for e in entries if e.id not in undone and e.status != LedgerStatus.REVERSED]
    return live[-1] if live else None


def settle(
    session: Session,
    program: Program,
    partner: Partner | None,
    source_key: str,
    due: rules.Due | None,
    *,
    now: datetime,
    reason: str,
    deal_id: int | None = None,
) -> Settlement:
    """Bring one source's ledger in line with what it should earn now (caller's transaction)."""
    live = live_entry(session, source_key)

    def new_entry(key: str) -> LedgerEntry:
        assert due is not None and partner is not None
        entry = LedgerEntry(
            natural_key=key,
            partner_id=partner.id,
            deal_id=deal_id,
            kind="commission",
            source_key=source_key,
            amount_minor=due.amount_minor,
            currency=due.currency,
            status=LedgerStatus.PENDING,
            rule_snapshot=due.snapshot,
            approve_after=due.approve_after,
            expected_payment_date=program.payouts.expected_date(due.approve_after.date()),
            created_at=now,
            updated_at=now,
        )
        session.add(entry)
        session.flush()
        fraud.screen_entry(session, program, entry)  # a fraud signal holds it for a person
        return entry

    if live is not None and live.partner_id != (partner.id if partner is not None else None):
        if live.status == LedgerStatus.CANCELLED and not due:
            return Settlement()
        moved = move_off(session, live, reason=reason, now=now)
        earned = new_entry(f"commission:{source_key}:after:{live.id}") if due else None
        return Settlement(earned=earned, moved=moved)

    if live is None:
        return Settlement(earned=new_entry(f"commission:{source_key}")) if due else Settlement()

    if live.status in SETTLED:
        if due and (live.amount_minor, live.currency) == (due.amount_minor, due.currency):
            return Settlement()
        reversal = reverse_entry(session, live, reason=reason, now=now)
        earned = new_entry(f"commission:{source_key}:after:{live.id}") if due else None
        return Settlement(earned=earned, reversed=reversal)

    # pending or cancelled: still ours to change
    if due is None:
        if live.status == LedgerStatus.CANCELLED:
            return Settlement()
        live.status = LedgerStatus.CANCELLED
        live.rule_snapshot = {**(live.rule_snapshot or {}), "cancelled_because": reason}
        live.updated_at = now
        return Settlement(cancelled=live)
    was_cancelled = live.status == LedgerStatus.CANCELLED
    if (live.amount_minor, live.currency, live.status) == (due.amount_minor, due.currency, LedgerStatus.PENDING):
        return Settlement()
    live.amount_minor, live.currency, live.rule_snapshot = due.amount_minor, due.currency, due.snapshot
    live.status = LedgerStatus.PENDING
    live.updated_at = now
    if was_cancelled:
        live.approve_after = due.approve_after
        live.expected_payment_date = program.payouts.expected_date(due.approve_after.date())
        return Settlement(earned=live)
    return Settlement()


def move_off(session: Session, entry: LedgerEntry, *, reason: str, now: datetime) -> MovedOff:
    """Take a live commission away from its partner (the source is credited to another now).

    * not paid and in no payout (pending, approved, cancelled): cancelled;
    * in a payout still waiting for a person (review, or approved for manual payment): pulled out
      of it (``hub.program.payouts.withdraw_entry``: the payout shrinks and waits for a person
      again, with an alert) and cancelled;
    * paid: a reversing entry nets it against the partner's next payout;
    * in a payout whose money may be moving (sending, unknown): the payout is left as it is
      (never altered under a transfer) and a reversing entry nets it against the partner's next
      payout, with an alert for a person (if the transfer fails, the entry returns to the
      balance and the reversal cancels it there)."""
    from hub.program import payouts

    if (
        entry.status in (LedgerStatus.PENDING, LedgerStatus.APPROVED, LedgerStatus.CANCELLED)
        and entry.payout_id is None
    ):
        if entry.status != LedgerStatus.CANCELLED:
            entry.status = LedgerStatus.CANCELLED
            entry.rule_snapshot = {**(entry.rule_snapshot or {}), "cancelled_because": reason}
            entry.updated_at = now
        return MovedOff(entry, "cancelled")
    if entry.status == LedgerStatus.IN_PAYOUT and entry.payout_id is not None:
        payout_id = entry.payout_id
        if payouts.withdraw_entry(session, entry, reason=reason, now=now):
            entry.status = LedgerStatus.CANCELLED
            entry.rule_snapshot = {**(entry.rule_snapshot or {}), "cancelled_because": reason}
            entry.updated_at = now
            return MovedOff(entry, "cancelled", payout_id=payout_id)
        reversal = reverse_entry(session, entry, reason=reason, now=now)
        payouts.alert_in_flight(session, entry, reversal, reason=reason)
        return MovedOff(entry, "reversed", reversal=reversal, payout_id=payout_id)
    return MovedOff(entry, "reversed", reversal=reverse_entry(session, entry, reason=reason, now=now))


def reverse_entry(session: Session, entry: LedgerEntry, *, reason: str, now: datetime) -> LedgerEntry:
    """A negative entry undoing a settled one, due for approval at once (no holding period): it
    nets against the partner's next payout (one that would go negative carries over instead,
    see ``hub.payouts``)."""
    snap = entry.rule_snapshot or {}
    reversal = LedgerEntry(
        natural_key=f"reversal:{entry.id}",
        partner_id=entry.partner_id,
        deal_id=entry.deal_id,
        kind="reversal",
        source_key=entry.source_key,
        amount_minor=-entry.amount_minor,
        currency=entry.currency,
        status=LedgerStatus.PENDING,
        rule_snapshot={"reverses": entry.id, "reason": reason, "rule_name": snap.get("rule_name")},
        reverses_id=entry.id,
        approve_after=now,
        created_at=now,
        updated_at=now,
    )
    session.add(reversal)
    session.flush()
    return reversal


# -- won deals ---------------------------------------------------------------------------------


#: ``session.info[READ_AHEAD]`` key: ids of the chunk's deals that have no ledger entries (read
#: for the chunk in one statement, ``unsettled_deals``; deals the chunk creates join it), so a
#: deal with no partner is settled without reading its ledger
UNSETTLED_AHEAD = "unsettled_deals"


def unsettled_deals(session: Session, deal_ids: Iterable[int]) -> set[int]:
    """Those of these deals that have no ledger entries, in one statement."""
    keys = {f"deal:{deal_id}": deal_id for deal_id in deal_ids}
    if not keys:
        return set()
    settled = session.scalars(select(LedgerEntry.source_key).where(LedgerEntry.source_key.in_(sorted(keys))).distinct())
    return set(keys.values()) - {keys[key] for key in settled if key is not None}


def settle_deal(
    session: Session,
    program: Program,
    deal: Deal,
    partner: Partner | None,
    *,
    now: datetime | None = None,
    reason: str | None = None,
) -> Settlement:
    """Bring the deal's ledger in line with the deal, in the caller's transaction (``reason``:
    why an entry is cancelled or reversed, when the caller knows better than the deal)."""
    unsettled = session.info.get(READ_AHEAD, {}).get(UNSETTLED_AHEAD)
    if unsettled is not None and deal.id is not None:
        if partner is None and deal.id in unsettled:
            return Settlement()  # no partner, no entries: nothing to bring in line
        unsettled.discard(deal.id)  # it may have entries from now on
    now = now or utcnow()
    due = deal_due(session, program, deal, partner, at=now) if partner is not None else None
    key = f"deal:{deal.id}"
    return settle(session, program, partner, key, due, now=now, reason=reason or _reason(deal), deal_id=deal.id)


def deal_due(
    session: Session,
    program: Program,
    deal: Deal,
    partner: rules.RulePartner,
    *,
    at: datetime,
    earned: rules.Earned | None = None,
) -> rules.Due | None:
    """What a won deal earns ``partner`` under ``program`` at ``at`` (None: nothing)."""
    if deal.status != ReferralStatus.CLOSED_WON or deal.deleted:
        return None
    rule = program.rule_for(
        CommissionEvent.DEAL_WON,
        partner,
        product=(deal.properties or {}).get("product"),
        meets=meets(session, partner, f"deal:{deal.id}", at),
    )
    if rule is None:
        return None
    return rules.due(
        session,
        rule,
        partner,
        event=CommissionEvent.DEAL_WON,
        base_minor=deal.amount_minor,
        base_currency=deal.currency,
        at=at,
        source_key=f"deal:{deal.id}",
        extra={"deal_amount_minor": deal.amount_minor, "deal_currency": deal.currency},
        earned=earned,
    )


def _reason(deal: Deal) -> str:
    if deal.deleted:
        return "deal deleted"
    if deal.status != ReferralStatus.CLOSED_WON:
        return f"deal moved to {deal.status}"
    return "deal amount changed"


# -- qualified referrals -------------------------------------------------------------------------


def settle_referral(
    session: Session, program: Program, referral: Referral, partner: Partner, *, now: datetime | None = None
) -> Settlement:
    """A referral accepted into the CRM earns what a ``referral_qualified`` rule pays (flat)."""
    now = now or utcnow()
    due = referral_due(session, program, referral, partner, at=now)
    return settle(session, program, partner, f"referral:{referral.id}", due, now=now, reason="referral not qualified")


def referral_due(
    session: Session,
    program: Program,
    referral: Referral,
    partner: rules.RulePartner,
    *,
    at: datetime,
    earned: rules.Earned | None = None,
) -> rules.Due | None:
    """What an accepted referral earns ``partner`` under ``program`` at ``at`` (None: nothing)."""
    rule = program.rule_for(
        CommissionEvent.REFERRAL_QUALIFIED, partner, meets=meets(session, partner, f"referral:{referral.id}", at)
    )
    if rule is None:
        return None
    return rules.due(
        session,
        rule,
        partner,
        event=CommissionEvent.REFERRAL_QUALIFIED,
        base_minor=None,
        base_currency=None,
        at=at,
        source_key=f"referral:{referral.id}",
        extra={"tracking_id": referral.tracking_id},
        earned=earned,
    )


# -- revenue facts ---------------------------------------------------------------------------------


def fact_partner(session: Session, fact: RevenueFact) -> Partner | None:
    """The partner a revenue fact is credited to: its own, else its deal's."""
    partner_id = fact.partner_id
    if partner_id is None and fact.deal_id is not None:
        deal = session.get(Deal, fact.deal_id)
        partner_id = deal.partner_id if deal else None
    return session.get(Partner, partner_id) if partner_id else None


def _first_recurring_start(session: Session, fact: RevenueFact) -> datetime:
    """When this customer's recurring revenue for this partner began (their first invoice)."""
    starts = [
        f.period_start or f.occurred_at
        for f in session.scalars(
            select(RevenueFact).where(
                RevenueFact.kind == "revenue",
                RevenueFact.recurrence == "recurring",
                RevenueFact.customer_id == fact.customer_id,
                RevenueFact.partner_id == fact.partner_id,
            )
        )
    ]
    return min(starts, default=fact.period_start or fact.occurred_at)


def settle_revenue(
    session: Session, hub: Any, revenue: RevenueFact, *, now: datetime, reason: str | None = None
) -> Settlement:
    """What one revenue fact earns, net of its succeeded refunds (in proportion)."""
    program = hub.program
    partner = fact_partner(session, revenue)
    key = f"fact:{revenue.id}"
    live = live_entry(session, key)
    due = None
    if partner is not None:
        ours = live is not None and live.partner_id == partner.id
        # the rule that earned it stays (a program edit does not rewrite history); a partner newly
        # credited with the source earns under their own rules, from now
        due = revenue_due(
            session,
            program,
            revenue,
            partner,
            at=live.created_at if ours and live is not None else now,
            kept_rule=_snapshot_rule(live) if ours else None,
        )
    reason = reason or ("invoice refunded" if revenue.status in PAID else f"invoice {revenue.status}")
    return settle(session, program, partner, key, due, now=now, reason=reason, deal_id=revenue.deal_id)


def revenue_due(
    session: Session,
    program: Program,
    revenue: RevenueFact,
    partner: rules.RulePartner,
    *,
    at: datetime,
    kept_rule: Any = None,
    earned: rules.Earned | None = None,
) -> rules.Due | None:
    """What a paid recurring invoice earns ``partner`` at ``at``, net of its succeeded refunds:
    under ``kept_rule`` (the rule its entry was made with) or else ``program``'s rule."""
    if revenue.kind != "revenue" or revenue.status not in PAID or revenue.recurrence != "recurring":
        return None
    refunded = -sum(
        f.amount_minor
        for f in session.scalars(
            select(RevenueFact).where(
                RevenueFact.kind == "refund",
                RevenueFact.revenue_key == revenue.natural_key,
                RevenueFact.status.in_(REFUNDED),
            )
        )
    )
    net = max(0, revenue.amount_minor - refunded)
    rule = kept_rule or program.rule_for(
        CommissionEvent.RECURRING_INVOICE_PAID,
        partner,
        product=revenue.product,
        meets=meets(session, partner, f"fact:{revenue.id}", at),
    )
    if rule is None or not _within_months(session, rule, revenue):
        return None
    return rules.due(
        session,
        rule,
        partner,
        event=CommissionEvent.RECURRING_INVOICE_PAID,
        base_minor=revenue.amount_minor,
        base_currency=revenue.currency,
        at=at,
        source_key=f"fact:{revenue.id}",
        extra={
            "revenue_key": revenue.natural_key,
            "customer_id": revenue.customer_id,
            "refunded_minor": refunded,
        },
        scale=(net, revenue.amount_minor) if refunded else None,
        earned=earned,
    )


def _snapshot_rule(entry: LedgerEntry | None) -> Any:
    from hub.program.program_file import CommissionRule

    rule = (entry.rule_snapshot or {}).get("rule") if entry is not None else None
    if not rule:
        return None
    return CommissionRule.model_validate(rule)


def _within_months(session: Session, rule: Any, fact: RevenueFact) -> bool:
    if rule.months is None:
        return True
    first = _first_recurring_start(session, fact)
    end = rules.add_months(first.date(), rule.months)
    return (fact.period_start or fact.occurred_at).date() < end


def on_revenue_fact(session: Session, hub: Any, fact: RevenueFact) -> None:
    """A revenue fact was recorded or changed (``hub.facts.record_fact``), in the caller's
    transaction: a paid recurring invoice earns its commission; a refund reduces the commission
    of the revenue it takes back (``revenue_key``) in proportion — by editing a pending entry,
    or, once paid, by a negative entry netted against the next payout."""
    from hub.program import clock

    now = clock.now(hub)
    if fact.kind == "refund":
        if fact.revenue_key:
            revenue = session.scalars(select(RevenueFact).where(RevenueFact.natural_key == fact.revenue_key)).first()
            if revenue is not None:
                settle_revenue(session, hub, revenue, now=now)
    else:
        settle_revenue(session, hub, fact, now=now)
    fact.processed_at = utcnow()


# -- balances and transfer reversals ---------------------------------------------------------------


def balances(session: Session, partner_id: int) -> dict[str, dict[str, int]]:
    """Per currency: pending, approved (incl. in a payout), paid totals; reversals net in.

    One grouped sum over the partner's entries (``ix_ledger_entries_partner_money`` covers it),
    so a partner with thousands of entries costs a few index pages, not thousands of objects."""
    totals: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(LedgerEntry.currency, LedgerEntry.status, func.sum(LedgerEntry.amount_minor))
        .where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.status.not_in([LedgerStatus.CANCELLED, LedgerStatus.REVERSED]),
        )
        .group_by(LedgerEntry.currency, LedgerEntry.status)
    )
    for currency, status, amount in rows:
        bucket = (
            "paid"
            if status == LedgerStatus.PAID
            else "approved"
            if status in (LedgerStatus.APPROVED, LedgerStatus.IN_PAYOUT)
            else "pending"
        )
        per = totals.setdefault(currency, {"pending": 0, "approved": 0, "paid": 0})
        per[bucket] += int(amount)
    return totals


def on_transfer_reversed(
    session: Session,
    hub: Any,
    *,
    payout_id: int,
    transfer_id: str,
    amount_reversed_minor: int,
    currency: str,
    event_id: str,
) -> None:
    """A payout's transfer was reversed at the provider (money went back from the partner): the
    reversed amount becomes a negative adjustment (netted against the partner's next payout, so
    the ledger says what the partner really has) and a person is alerted."""
    from hub.program import payouts

    payouts.transfer_reversed(
        session,
        hub,
        payout_id=payout_id,
        transfer_id=transfer_id,
        amount_reversed_minor=amount_reversed_minor,
        currency=currency,
        event_id=event_id,
    )
