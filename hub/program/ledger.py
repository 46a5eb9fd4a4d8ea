"""People's changes to the ledger: an override of an entry's amount or status, a manual
adjustment. Each names the person who made it (kept on the entry, ``made_by_hand``) and writes
an audit entry (who, when, before, after). A payout holding such a change always waits for a
person, and never for the one who made it (four eyes, ``hub.program.payouts.approve``). Paid
money is never edited: reversing a settled entry adds a reversing entry that nets against the
next payout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.mapping.money import MoneyError, exponent
from hub.pipeline.store import utcnow
from hub.program.commissions import SETTLED, reverse_entry
from hub.program.errors import InvalidState, NotFound
from hub.program.models import AuditEntry, LedgerEntry, Partner
from hub.program.states import LedgerStatus


def made_by_hand(entry: LedgerEntry) -> str | None:
    """Who made or changed this entry by hand (a manual adjustment, a person's reversal or
    override), or None for the program's own entries."""
    snap = entry.rule_snapshot or {}
    by = snap.get("by") or snap.get("overridden_by")
    return str(by) if by else None


def entry_dict(e: LedgerEntry) -> dict[str, Any]:
    from hub.program.fraud import hold_dict

    return {
        "id": e.id,
        "partner_id": e.partner_id,
        "kind": e.kind,
        "source": e.source_key,
        "amount_minor": e.amount_minor,
        "currency": e.currency,
        "status": e.status,
        "payout_id": e.payout_id,
        "by": made_by_hand(e),
        **hold_dict(e),
    }


def _audit(session: Session, actor: str, action: str, entry: LedgerEntry, before: dict[str, Any], reason: str) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            subject=f"ledger:{entry.id}",
            before=before,
            after={**entry_dict(entry), "reason": reason},
            at=utcnow(),
        )
    )


def override(
    session: Session,
    entry_id: int,
    *,
    actor: str,
    reason: str,
    status: str | None,
    amount_minor: int | None,
    now: datetime,
) -> dict[str, Any]:
    entry = session.get(LedgerEntry, entry_id, with_for_update=True)
    if entry is None:
        raise NotFound("no such ledger entry")
    if status is None and amount_minor is None:
        raise InvalidState("give status or amount_minor")
    before = entry_dict(entry)
    editable = (
        entry.status in (LedgerStatus.PENDING, LedgerStatus.APPROVED, LedgerStatus.CANCELLED)
        and entry.payout_id is None
    )
    if amount_minor is not None:
        if not editable:
            raise InvalidState(
                f"entry #{entry.id} is {entry.status}{' in a payout' if entry.payout_id else ''}: "
                "its amount is history; reverse it or add an adjustment"
            )
        entry.amount_minor = amount_minor
        entry.rule_snapshot = {**(entry.rule_snapshot or {}), "overridden_by": actor, "override_reason": reason}
    extra: dict[str, Any] = {}
    if status is not None and status != entry.status:
        if status == LedgerStatus.REVERSED:
            if entry.status not in SETTLED:
                raise InvalidState(f"entry #{entry.id} is {entry.status}: cancel it instead")
            reversal = reverse_entry(session, entry, reason=f"{reason} (by {actor})", now=now)
            reversal.rule_snapshot = {**(reversal.rule_snapshot or {}), "by": actor}
            entry.status = (
                LedgerStatus.REVERSED
                if entry.status == LedgerStatus.APPROVED and entry.payout_id is None
                else entry.status
            )
            extra["reversal_id"] = reversal.id
            if entry.status == LedgerStatus.REVERSED:  # never paid: the entry and its reversal cancel out now
                reversal.status = LedgerStatus.REVERSED
        elif not editable:
            raise InvalidState(f"entry #{entry.id} is {entry.status}{' in a payout' if entry.payout_id else ''}")
        else:
            entry.status = LedgerStatus(status)
    if entry.status not in (LedgerStatus.CANCELLED, LedgerStatus.REVERSED):
        entry.rule_snapshot = {**(entry.rule_snapshot or {}), "overridden_by": actor, "override_reason": reason}
    entry.updated_at = now
    _audit(session, actor, "ledger.override", entry, before, reason)
    return {**entry_dict(entry), **extra}


def adjust(
    session: Session, partner_id: int, amount_minor: int, currency: str, *, actor: str, reason: str, now: datetime
) -> dict[str, Any]:
    """A manual entry (a bonus, a correction), approved: it goes into the next payout run."""
    code = currency.upper()
    try:
        exponent(code)
    except MoneyError as exc:
        raise InvalidState(str(exc)) from None
    if session.get(Partner, partner_id) is None:
        raise NotFound("no such partner")
    if amount_minor == 0:
        raise InvalidState("an adjustment of zero changes nothing")
    entry = LedgerEntry(
        natural_key=f"adjustment:manual:{partner_id}:{now.isoformat()}:{utcnow().timestamp()}",
        partner_id=partner_id,
        kind="adjustment",
        source_key=None,
        amount_minor=amount_minor,
        currency=code,
        status=LedgerStatus.APPROVED,
        rule_snapshot={"reason": reason, "by": actor},
        approve_after=now,
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    session.flush()
    _audit(session, actor, "ledger.adjust", entry, {}, reason)
    return entry_dict(entry)
