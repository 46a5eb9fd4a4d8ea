"""What follows a carried-out outbox action, in the same transaction that marks it done.

Keyed by action name, so every provider with the same action (every CRM's
``create_referral_deal``) gets the same follow-up: the records learn the provider's ids, the
written values become echo fingerprints, a sent email's notification becomes ``sent``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from hub.pipeline import echo
from hub.pipeline.models import OutboxItem
from hub.program import referrals
from hub.program.email.notify import record_sent

if TYPE_CHECKING:
    from hub.runtime.context import Hub


def _remember(session: Session, item: OutboxItem, result: dict[str, Any]) -> None:
    """Every write action reports ``written`` ({object type: {id: {field: value}}}) and
    ``created`` ({object type: [ids]}): they become echo fingerprints."""
    echo.remember_writes(session, item.connector, result.get("written") or {}, created=result.get("created") or {})


def _referral_deal(session: Session, hub: Hub, item: OutboxItem) -> None:
    result = item.result or {}
    _remember(session, item, result)
    referral_id = item.payload.get("referral_id")
    if referral_id is not None:
        referrals.deal_created(session, int(referral_id), result)


def _crm_write(session: Session, hub: Hub, item: OutboxItem) -> None:
    _remember(session, item, item.result or {})


def _email_sent(session: Session, hub: Hub, item: OutboxItem) -> None:
    record_sent(session, item)


def _transfer_made(session: Session, hub: Hub, item: OutboxItem) -> None:
    from hub.program import payouts

    payouts.transfer_done(session, hub, item)


ON_DONE: dict[str, Callable[[Session, Hub, OutboxItem], None]] = {
    "create_referral_deal": _referral_deal,
    "update_deal": _crm_write,
    "send_email": _email_sent,
    "create_transfer": _transfer_made,  # payout paid, its entries paid, partner emailed
}


def on_done(session: Session, hub: Hub, item: OutboxItem) -> None:
    follow_up = ON_DONE.get(item.action)
    if follow_up is not None:
        follow_up(session, hub, item)
