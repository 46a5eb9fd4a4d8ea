"""Payouts: approved ledger entries of one partner in one currency, paid together.

The scheduled run (``run``; once per period, on ``payouts.day_of_month``) groups each partner's
approved entries per currency. A total under the minimum waits for the next run; a total at or
below zero carries over too, with an alert (nothing goes negative silently). People decide
money: a payout waits in the review queue for an admin unless it may be approved without a
person (``needs_review``: its currency is listed in ``payouts.auto_approve_up_to`` and it is at
or below that amount, it is not the partner's first payout, and the run's
``payouts.auto_approve_run_cap`` for the currency still has room). An approved payout goes out
as a Stripe transfer through the outbox (``create_transfer``, natural
key ``transfer:payout:<id>``, idempotency key ``payout-<id>``) when the partner can receive
transfers, else it stays approved with the reason, for manual payment (``payouts export --csv``
then ``payouts mark-paid``). A transfer whose outcome is unknown leaves the payout ``unknown``
until a lookup (``find_transfers``) or a person (``payouts settle``) settles it. The partner is
told of each step: scheduled, paid, failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.capabilities import TransferLookup
from hub.pipeline.alerts import raise_alert, resolve_alert
from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.models import OutboxItem, WorkState
from hub.pipeline.outbox import owe
from hub.pipeline.store import utcnow
from hub.program import fraud, writeback
from hub.program.email.formatting import format_money
from hub.program.email.notify import notify
from hub.program.errors import FourEyes, HeldForReview, InvalidInput, InvalidState, NotFound
from hub.program.ledger import made_by_hand
from hub.program.models import AuditEntry, LedgerEntry, Partner, Payout, ProgramRun
from hub.program.states import LedgerStatus, PayoutStatus

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

log = structlog.get_logger(__name__)

TRANSFER_CONNECTOR = "stripe"
TRANSFER_ACTION = "create_transfer"
DEFAULT_HOLDING_DAYS = 30
#: payout states in which its entries are spoken for
OPEN = (PayoutStatus.REVIEW, PayoutStatus.APPROVED, PayoutStatus.SENDING, PayoutStatus.UNKNOWN)


def transfer_key(payout_id: int) -> str:
    return f"transfer:payout:{payout_id}"


# -- approval of held commissions --------------------------------------------------------------------


def approve_due(session: Session, now: datetime, hub: ProgramContext | None = None) -> int:
    """Pending entries past their holding period become approved; negative entries (reversals,
    clawbacks) have none. Returns how many moved. With ``hub``, their deals' commission state
    is written back to the CRM (``writeback.sync_deals``)."""
    from datetime import timedelta

    moved = 0
    deal_ids: list[int | None] = []
    for entry in session.scalars(
        select(LedgerEntry).where(LedgerEntry.status == LedgerStatus.PENDING).with_for_update()
    ):
        after = entry.approve_after
        if after is None:  # made before holding periods existed
            after = (
                entry.created_at if entry.amount_minor < 0 else entry.created_at + timedelta(days=DEFAULT_HOLDING_DAYS)
            )
        if after <= now:
            entry.status = LedgerStatus.APPROVED
            entry.updated_at = now
            moved += 1
            deal_ids.append(entry.deal_id)
    if hub is not None and deal_ids:
        writeback.sync_deals(session, hub, deal_ids)
    return moved


# -- the run ------------------------------------------------------------------------------------------


def payout_dict(p: Payout) -> dict[str, Any]:
    """A payout as the API and the CLI show it."""
    return {
        "id": p.id,
        "partner_id": p.partner_id,
        "period": p.period,
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "status": p.status,
        "method": p.method,
        "reason": p.reason,
        "transfer_id": p.transfer_id,
        "decided_by": p.decided_by,
        "paid_at": p.paid_at,
    }


def due_period(hub: ProgramContext, now: datetime) -> str | None:
    """The run due at ``now`` (``YYYY-MM``), or None before this month's payout day."""
    if now.day < hub.program.payouts.day_of_month:
        return None
    return f"{now.year:04d}-{now.month:02d}"


def claim_run(session: Session, kind: str, period: str, now: datetime) -> bool:
    """Take the once-per-period slot for a scheduled pass (unique kind+period): False when it
    ran already, here or in another process."""
    return bool(
        insert_ignoring_conflicts(
            session, ProgramRun, [{"kind": kind, "period": period, "ran_at": now, "summary": None}], ("kind", "period")
        )
    )


def run(session: Session, hub: ProgramContext, period: str, now: datetime) -> dict[str, Any]:
    """Group approved, unpaid entries per partner and currency into payouts (caller's
    transaction). Returns a summary."""
    schedule = hub.program.payouts
    groups: dict[tuple[int, str], list[LedgerEntry]] = {}
    for entry in session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.status == LedgerStatus.APPROVED, LedgerEntry.payout_id.is_(None))
        .order_by(LedgerEntry.id)
        .with_for_update()
    ):
        groups.setdefault((entry.partner_id, entry.currency), []).append(entry)
    summary: dict[str, Any] = {"payouts": [], "carried_over": []}
    auto_approved: dict[str, int] = {}  # currency -> minor units approved without a person in this run
    for (partner_id, currency), entries in sorted(groups.items()):
        total = sum(e.amount_minor for e in entries)  # one currency per group: never mixed
        partner = session.get(Partner, partner_id)
        assert partner is not None
        if total <= 0 or total < schedule.minimum_minor(currency):
            summary["carried_over"].append({"partner_id": partner_id, "currency": currency, "amount_minor": total})
            if total < 0:
                raise_alert(
                    session,
                    key=f"payout_negative:{partner_id}:{currency}",
                    kind="payout_negative",
                    severity="warning",
                    message=f"partner #{partner_id} ({partner.name}) owes {format_money(-total, currency)} "
                    f"after clawbacks; carried over to the next payout run",
                )
            continue
        why = needs_review(
            session, hub, partner_id, currency, total, auto_approved.get(currency, 0), entries=entries, now=now
        )
        review = why is not None
        if not review:
            auto_approved[currency] = auto_approved.get(currency, 0) + total
        payout = Payout(
            partner_id=partner_id,
            currency=currency,
            amount_minor=total,
            period=period,
            status=PayoutStatus.REVIEW if review else PayoutStatus.APPROVED,
            reason=why,
            created_at=now,
            updated_at=now,
        )
        session.add(payout)
        session.flush()
        for entry in entries:
            entry.status, entry.payout_id, entry.updated_at = LedgerStatus.IN_PAYOUT, payout.id, now
        writeback.sync_deals(session, hub, [e.deal_id for e in entries])  # the CRM shows "in_payout"
        summary["payouts"].append(
            {
                "id": payout.id,
                "partner_id": partner_id,
                "currency": currency,
                "amount_minor": total,
                "status": payout.status,
            }
        )
        note = None
        if not review:
            note = send(session, hub, payout, partner)
        _tell(session, hub, partner, payout, "payout_scheduled", review=review, note=note)
    return summary


#: a partner with an earlier payout in one of these states has been paid (or approved) before
PAID_BEFORE = (PayoutStatus.PAID, PayoutStatus.SENDING, PayoutStatus.APPROVED)


#: a payout within this long of a change to the partner's payout account always waits for a person
ACCOUNT_CHANGE_REVIEW = timedelta(days=30)


def always_reviewed(
    session: Session, partner_id: int, entries: Sequence[LedgerEntry], now: datetime | None
) -> str | None:
    """Why a payout of these entries waits for a person whatever the amounts, or None: it holds
    a commission a fraud signal holds, or a manual ledger change, or the partner's payout
    account changed in the last 30 days."""
    for entry in entries:
        if fraud.is_held(entry):
            return f"holds commission #{entry.id} held for review ({entry.hold_reason})"
    for entry in entries:
        by = made_by_hand(entry)
        if by is not None:
            return f"holds a manual ledger change (#{entry.id} by {by}): a person approves it"
    partner = session.get(Partner, partner_id)
    changed = partner.payout_account_changed_at if partner is not None else None
    if changed is not None and (now or utcnow()) - changed < ACCOUNT_CHANGE_REVIEW:
        return (
            f"the partner's payout account changed on {changed.date().isoformat()} "
            "(within 30 days): a person approves it"
        )
    return None


def needs_review(
    session: Session,
    hub: ProgramContext,
    partner_id: int,
    currency: str,
    amount_minor: int,
    approved_minor: int,
    *,
    entries: Sequence[LedgerEntry] = (),
    now: datetime | None = None,
) -> str | None:
    """Why a new payout of ``amount_minor`` in ``currency`` (made of ``entries``) must wait for a
    person, or None when the run may approve it (``approved_minor``: what the run approved
    without a person in that currency so far). The reason is kept as the payout's ``reason``."""
    always = always_reviewed(session, partner_id, entries, now)
    if always is not None:
        return always
    schedule = hub.program.payouts
    up_to = schedule.auto_approve_up_to_minor(currency)
    if up_to is None:
        return f"{currency} is not listed in payouts.auto_approve_up_to: every {currency} payout is reviewed"
    if amount_minor > up_to:
        return f"above payouts.auto_approve_up_to ({format_money(up_to, currency)})"
    paid_before = session.scalar(
        select(Payout.id).where(Payout.partner_id == partner_id, Payout.status.in_(PAID_BEFORE)).limit(1)
    )
    if paid_before is None:
        return "the partner's first payout: a person approves it"
    cap = schedule.auto_approve_run_cap_minor(currency)
    if approved_minor + amount_minor > cap:
        return f"past this run's payouts.auto_approve_run_cap ({format_money(cap, currency)})"
    return None


def send(session: Session, hub: ProgramContext, payout: Payout, partner: Partner) -> str | None:
    """Owe the transfer of an approved payout, or say why it waits (returned, and kept as the
    payout's ``reason``)."""
    if not (partner.payouts_enabled and partner.stripe_account_id):
        payout.method = "manual"
        payout.reason = "the partner has no payouts-enabled Stripe account: pay manually (payouts export --csv)"
        return None
    payout.method = "stripe"
    payout.status = PayoutStatus.SENDING
    payout.reason = None
    payout.updated_at = utcnow()
    owe(
        session,
        natural_key=transfer_key(payout.id),
        connector=TRANSFER_CONNECTOR,
        action=TRANSFER_ACTION,
        idempotency_key=f"payout-{payout.id}",
        payload={
            "payout_id": payout.id,
            "destination": partner.stripe_account_id,
            "amount_minor": payout.amount_minor,
            "currency": payout.currency.lower(),
            "description": f"Partner payout #{payout.id} ({payout.period})",
        },
    )
    return None


def _tell(session: Session, hub: ProgramContext, partner: Partner, payout: Payout, kind: str, **extra: Any) -> None:
    notify(
        session,
        mail_settings=hub.settings.sendgrid,
        kind=kind,
        to_email=partner.email,
        partner_id=partner.id,
        natural_key=f"{kind.replace('_', '-')}:{payout.id}",
        context={
            "partner_name": partner.name,
            "partner_manager": partner.partner_manager,
            "segment": partner.segment,
            "locale": partner.locale,
            "payout_id": payout.id,
            "amount_minor": payout.amount_minor,
            "currency": payout.currency,
            "review": False,
            "note": None,
            "reason": None,
            "reference": None,
            **extra,
        },
    )


def _audit(session: Session, actor: str, action: str, payout: Payout, before: dict[str, Any]) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            subject=f"payout:{payout.id}",
            before=before,
            after={"status": payout.status, "reason": payout.reason, "transfer_id": payout.transfer_id},
            at=utcnow(),
        )
    )


# -- people's decisions ---------------------------------------------------------------------------------


def approver_name(name: str | None) -> str:
    """The named person who decides (until the console's signed-in operators exist, the CLI's
    ``--by`` and the admin API's ``by``)."""
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > 200:
        raise InvalidInput("name the person who decides (1 to 200 characters)")
    return cleaned


def _locked(session: Session, payout_id: int) -> Payout:
    payout = session.get(Payout, payout_id, with_for_update=True)
    if payout is None:
        raise NotFound(f"no payout #{payout_id}")
    return payout


def approve(session: Session, hub: ProgramContext, payout_id: int, *, actor: str, reason: str) -> Payout:
    """A named person (``actor``) approves a payout in review. Refused while it holds a commission
    held for review (release it first, or reject the payout), and refused to the person who made
    a manual ledger change inside it (four eyes)."""
    actor = approver_name(actor)
    payout = _locked(session, payout_id)
    if payout.status != PayoutStatus.REVIEW:
        raise InvalidState(f"payout #{payout_id} is {payout.status}, not waiting for review")
    entries = list(session.scalars(select(LedgerEntry).where(LedgerEntry.payout_id == payout.id)))
    for entry in entries:
        if fraud.is_held(entry):
            raise HeldForReview(
                f"payout #{payout_id} holds commission #{entry.id}, held for review ({entry.hold_reason}): "
                "release the hold (ledger release) or reject the payout"
            )
        by = made_by_hand(entry)
        if by is not None and by.strip().casefold() == actor.casefold():
            raise FourEyes(
                f"four eyes: {actor} made the manual ledger change #{entry.id} in payout #{payout_id}, "
                "so another person must approve it"
            )
    before = {"status": payout.status}
    payout.status, payout.decided_by, payout.updated_at = PayoutStatus.APPROVED, actor, utcnow()
    partner = session.get(Partner, payout.partner_id)
    assert partner is not None
    send(session, hub, payout, partner)
    _audit(session, actor, "payout.approve", payout, {**before, "reason": reason})
    return payout


def reject(session: Session, hub: ProgramContext, payout_id: int, *, actor: str, reason: str) -> Payout:
    """The entries go back to approved and unpaid: the next run proposes them again, unless an
    admin changes them (``ledger`` override)."""
    payout = _locked(session, payout_id)
    if payout.status not in (PayoutStatus.REVIEW, PayoutStatus.APPROVED):
        raise InvalidState(
            f"payout #{payout_id} is {payout.status}; only a payout in review or "
            "waiting for manual payment can be rejected"
        )
    before = {"status": payout.status}
    payout.status, payout.reason, payout.decided_by, payout.updated_at = PayoutStatus.REJECTED, reason, actor, utcnow()
    _release(session, payout)
    _audit(session, actor, "payout.reject", payout, before)
    return payout


def _release(session: Session, payout: Payout) -> None:
    session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.payout_id == payout.id, LedgerEntry.status == LedgerStatus.IN_PAYOUT)
        .values(status=LedgerStatus.APPROVED, payout_id=None, updated_at=utcnow())
    )


def mark_paid(
    session: Session,
    hub: ProgramContext,
    payout: Payout,
    *,
    transfer_id: str | None,
    by: str | None,
    reference: str | None = None,
) -> None:
    """The money reached the partner: payout and entries paid, partner told (once)."""
    now = utcnow()
    payout.status, payout.paid_at, payout.updated_at = PayoutStatus.PAID, now, now
    payout.transfer_id = transfer_id or payout.transfer_id
    if by:
        payout.decided_by = by
    session.execute(
        update(LedgerEntry).where(LedgerEntry.payout_id == payout.id).values(status=LedgerStatus.PAID, updated_at=now)
    )
    writeback.sync_deals(
        session, hub, session.scalars(select(LedgerEntry.deal_id).where(LedgerEntry.payout_id == payout.id))
    )
    partner = session.get(Partner, payout.partner_id)
    assert partner is not None
    _tell(session, hub, partner, payout, "payout_paid", reference=reference or payout.transfer_id)
    resolve_alert(session, f"payout_unknown:{payout.id}")


def mark_failed(session: Session, hub: ProgramContext, payout: Payout, *, reason: str) -> None:
    """The transfer did not happen: the entries return to the partner's approved balance."""
    payout.status, payout.reason, payout.updated_at = PayoutStatus.FAILED, reason, utcnow()
    _release(session, payout)
    partner = session.get(Partner, payout.partner_id)
    assert partner is not None
    _tell(session, hub, partner, payout, "payout_failed", reason=reason)
    resolve_alert(session, f"payout_unknown:{payout.id}")
    raise_alert(
        session,
        key=f"payout_failed:{payout.id}",
        kind="payout_failed",
        message=f"payout #{payout.id} to partner #{partner.id} ({format_money(payout.amount_minor, payout.currency)}) "
        f"failed: {reason}",
    )


def settle(
    session: Session,
    hub: ProgramContext,
    payout_id: int,
    *,
    paid: bool,
    actor: str,
    transfer_id: str | None = None,
    reason: str | None = None,
) -> Payout:
    """A person settles a payout whose transfer outcome is unknown (they checked Stripe), or
    marks a manual payout paid. The outbox row waiting ``unknown`` is closed, never resent."""
    payout = _locked(session, payout_id)
    allowed = (
        (PayoutStatus.UNKNOWN, PayoutStatus.SENDING)
        if not paid
        else (PayoutStatus.UNKNOWN, PayoutStatus.SENDING, PayoutStatus.APPROVED)
    )
    if payout.status not in allowed:
        raise InvalidState(f"payout #{payout_id} is {payout.status}; nothing to settle")
    before = {"status": payout.status}
    _close_transfer_row(session, payout, {"settled_by": actor, "paid": paid, "transfer_id": transfer_id})
    if paid:
        mark_paid(session, hub, payout, transfer_id=transfer_id, by=actor, reference=transfer_id or reason)
    else:
        mark_failed(session, hub, payout, reason=reason or f"marked failed by {actor}")
    _audit(session, actor, "payout.settle", payout, before)
    return payout


def _close_transfer_row(session: Session, payout: Payout, result: dict[str, Any]) -> None:
    session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.natural_key == transfer_key(payout.id),
            OutboxItem.state.in_((WorkState.UNKNOWN, WorkState.DEAD, WorkState.PENDING, WorkState.RETRYING)),
        )
        .values(state=WorkState.DONE, result=result, finished_at=utcnow())
    )


# -- the transfer's outcome ------------------------------------------------------------------------------


def transfer_done(session: Session, hub: ProgramContext, item: OutboxItem) -> None:
    """The outbox follow-up of ``create_transfer`` (``hub.program.handlers``): Stripe made the transfer (or had made it: ``existing``)."""
    payout = session.get(Payout, int(item.payload["payout_id"]), with_for_update=True)
    if payout is None or payout.status == PayoutStatus.PAID:
        return
    result = item.result or {}
    if (
        int(result.get("amount_minor", payout.amount_minor)) != payout.amount_minor
        or str(result.get("currency", payout.currency)).upper() != payout.currency
    ):
        raise_alert(
            session,
            key=f"payout_mismatch:{payout.id}",
            kind="payout_mismatch",
            message=f"payout #{payout.id}: the transfer says {result.get('amount_minor')} "
            f"{result.get('currency')}, the payout {payout.amount_minor} {payout.currency}",
        )
    mark_paid(session, hub, payout, transfer_id=result.get("transfer_id"), by=None)


def check_transfers(session: Session, hub: ProgramContext) -> dict[str, int]:
    """Settle payouts whose transfer row ended without an answer we can trust.

    * ``unknown`` (the answer was lost): the payout becomes ``unknown`` (alert) and is looked up
      at the provider (``find_transfers(payout_id)``): exactly one transfer of the payout's
      amount settles it paid; none found leaves it for a person (a lost request may still land).
    * ``dead`` (the provider refused, or we gave up): failed (entries back to the balance) only
      when the lookup shows no transfer for the payout; otherwise (a transfer exists, or no
      lookup is possible) it waits ``unknown`` for a person. Money is never sent twice."""
    counts = {"unknown": 0, "settled": 0, "failed": 0}
    stuck = list(
        session.scalars(
            select(OutboxItem).where(
                OutboxItem.action == TRANSFER_ACTION, OutboxItem.state.in_((WorkState.UNKNOWN, WorkState.DEAD))
            )
        )
    )
    for item in stuck:
        payout = session.get(Payout, int(item.payload["payout_id"]), with_for_update=True)
        if payout is None or payout.status not in (PayoutStatus.SENDING, PayoutStatus.UNKNOWN):
            continue
        found = _look_up(hub, payout)
        if item.state == WorkState.DEAD and found == []:
            mark_failed(session, hub, payout, reason=item.last_error or "the transfer failed")
            item.state, item.result = WorkState.DONE, {"settled": "failed"}  # a replay must never send it
            counts["failed"] += 1
            continue
        if payout.status != PayoutStatus.UNKNOWN:
            payout.status, payout.updated_at = PayoutStatus.UNKNOWN, utcnow()
            payout.reason = (
                f"the transfer's outcome is unknown ({item.last_error or item.state}): check Stripe, then "
                f"partnerhub payouts settle {payout.id} --paid|--failed"
            )
            raise_alert(session, key=f"payout_unknown:{payout.id}", kind="payout_unknown", message=payout.reason)
            counts["unknown"] += 1
        if item.state != WorkState.UNKNOWN or not found:
            continue
        matching = [t for t in found if _amount(t) == payout.amount_minor]
        if len(found) == 1 and matching:
            transfer_id = _transfer_id(found[0])
            item.state, item.result, item.finished_at = (
                WorkState.DONE,
                {"transfer_id": transfer_id, "found": True},
                utcnow(),
            )
            mark_paid(session, hub, payout, transfer_id=transfer_id, by="lookup")
            counts["settled"] += 1
        else:
            raise_alert(
                session,
                key=f"payout_lookup:{payout.id}",
                kind="payout_lookup",
                message=f"payout #{payout.id}: {len(found)} transfer(s) found at the provider, "
                f"{len(matching)} of its amount; a person must settle it",
            )
    return counts


def look_up(session: Session, hub: ProgramContext, payout_id: int) -> tuple[Payout, list[dict[str, Any]] | None]:
    """What a person checks before settling a payout whose transfer outcome is unknown
    (:func:`settle`): the provider's transfers for it, each as ``transfer_id``, ``amount_minor``
    and ``matches`` (the payout's amount); None when no lookup is possible here (no connector
    that can, or the provider did not answer). Reads only; changes nothing."""
    payout = session.get(Payout, payout_id)
    if payout is None:
        raise NotFound(f"no payout #{payout_id}")
    if payout.status not in (PayoutStatus.UNKNOWN, PayoutStatus.SENDING):
        raise InvalidState(f"payout #{payout_id} is {payout.status}; nothing to look up")
    found = _look_up(hub, payout)
    if found is None:
        return payout, None
    return payout, [
        {"transfer_id": _transfer_id(t), "amount_minor": _amount(t), "matches": _amount(t) == payout.amount_minor}
        for t in found
    ]


def _look_up(hub: ProgramContext, payout: Payout) -> list[Any] | None:
    """The provider's transfers for the payout; None when no lookup is possible now."""
    connector = hub.connectors.get(TRANSFER_CONNECTOR)
    if not isinstance(connector, TransferLookup):
        return None
    try:
        return list(connector.find_transfers(payout.id))
    except Exception as exc:
        log.warning("transfer lookup failed", payout_id=payout.id, error=f"{type(exc).__name__}: {exc}")
        return None


def _transfer_id(transfer: Any) -> str:
    if isinstance(transfer, dict):
        return str(transfer.get("transfer_id") or transfer.get("id"))
    return str(getattr(transfer, "id", transfer))


def _amount(transfer: Any) -> int | None:
    """Minor units of a transfer as the connector reports it (its answer, or Stripe's object)."""
    value = (
        transfer.get("amount_minor", transfer.get("amount"))
        if isinstance(transfer, dict)
        else getattr(transfer, "amount", None)
    )
    return int(value) if value is not None else None


def transfer_reversed(
    session: Session,
    hub: ProgramContext,
    *,
    payout_id: int,
    transfer_id: str,
    amount_reversed_minor: int,
    currency: str,
    event_id: str,
) -> None:
    """Money went back from the partner: a negative adjustment of the reversed amount (approved:
    it nets against the next payout) and an alert. One per provider event."""
    payout = session.get(Payout, payout_id)
    now = utcnow()
    message = f"payout #{payout_id}: transfer {transfer_id} reversed by {format_money(amount_reversed_minor, currency)}"
    if payout is None:
        raise_alert(
            session,
            key=f"transfer_reversed:{transfer_id}",
            kind="transfer_reversed",
            message=message + "; no such payout here, check the ledger by hand",
        )
        return
    if currency.upper() != payout.currency:
        raise_alert(
            session,
            key=f"transfer_reversed:{transfer_id}",
            kind="transfer_reversed",
            message=message + f"; the payout is in {payout.currency}: nothing booked, check by hand",
        )
        return
    added = insert_ignoring_conflicts(
        session,
        LedgerEntry,
        [
            {
                "natural_key": f"transfer-reversal:{event_id}",
                "partner_id": payout.partner_id,
                "deal_id": None,
                "kind": "adjustment",
                "source_key": f"payout:{payout_id}",
                "amount_minor": -abs(amount_reversed_minor),
                "currency": payout.currency,
                "status": LedgerStatus.APPROVED,
                "rule_snapshot": {"reason": "transfer reversed", "transfer_id": transfer_id, "payout_id": payout_id},
                "approve_after": now,
                "created_at": now,
                "updated_at": now,
            }
        ],
        ("natural_key",),
    )
    if added:
        raise_alert(
            session,
            key=f"transfer_reversed:{transfer_id}",
            kind="transfer_reversed",
            message=message + "; booked as a negative adjustment against the partner's next payout",
        )


# -- an entry leaving a payout (its source is credited to another partner now) ---------------------------


def withdraw_entry(session: Session, entry: LedgerEntry, *, reason: str, now: datetime) -> bool:
    """Pull ``entry`` out of its payout when no money can be moving yet (``hub.program.commissions.move_off``).

    A payout in ``review`` shrinks by the entry and stays in review; one ``approved`` (a person or
    the run approved it; it waits for manual payment) shrinks and goes back to ``review``, since
    the amount approved is not the amount owed any more. A payout left with nothing to pay is
    rejected and its other entries return to the balance. Audited, with an alert for a person.
    False (nothing changed) when the payout is ``sending`` or ``unknown`` (a transfer may be
    moving: the caller reverses the entry instead) or already closed."""
    payout = session.get(Payout, entry.payout_id, with_for_update=True) if entry.payout_id else None
    if payout is None or payout.status not in (PayoutStatus.REVIEW, PayoutStatus.APPROVED):
        return False
    before = {"status": payout.status, "amount_minor": payout.amount_minor}
    entry.payout_id = None
    payout.amount_minor -= entry.amount_minor
    payout.updated_at = now
    was = payout.status
    if payout.amount_minor <= 0:
        payout.status, payout.reason = PayoutStatus.REJECTED, f"nothing left to pay: {reason}"
        session.flush()
        _release(session, payout)
    else:
        payout.status = PayoutStatus.REVIEW
        payout.reason = f"entry #{entry.id} ({format_money(entry.amount_minor, entry.currency)}) pulled out: {reason}"
    session.add(
        AuditEntry(
            actor="program",
            action="payout.withdraw_entry",
            subject=f"payout:{payout.id}",
            before=before,
            after={
                "status": payout.status,
                "amount_minor": payout.amount_minor,
                "entry_id": entry.id,
                "reason": reason,
            },
            at=utcnow(),
        )
    )
    raise_alert(
        session,
        key=f"payout_changed:{payout.id}",
        kind="payout_changed",
        severity="warning",
        message=f"payout #{payout.id} to partner #{payout.partner_id} ({was}): entry #{entry.id} of "
        f"{format_money(entry.amount_minor, entry.currency)} pulled out ({reason}); it is now "
        f"{format_money(payout.amount_minor, payout.currency)}, {payout.status}"
        + (
            ". If it was already paid by hand, approve and mark it paid, then add an adjustment"
            if was == PayoutStatus.APPROVED
            else ""
        ),
    )
    return True


def alert_in_flight(session: Session, entry: LedgerEntry, reversal: LedgerEntry, *, reason: str) -> None:
    """An entry of a payout whose transfer may be moving was reversed (``commissions.move_off``):
    the payout is left alone; a person should know."""
    raise_alert(
        session,
        key=f"payout_entry_reversed:{entry.payout_id}:{entry.id}",
        kind="payout_entry_reversed",
        message=f"payout #{entry.payout_id} (transfer may be under way) holds entry #{entry.id} of "
        f"{format_money(entry.amount_minor, entry.currency)} for partner #{entry.partner_id}: {reason}. "
        f"The payout is unchanged; reversal #{reversal.id} nets it against the partner's next payout. "
        "Check the transfer at the provider",
    )
