"""Quarterly tier review: partners move between the program file's tier levels on last
quarter's performance (referrals made, won deal revenue), are told, and each move is audited.

Won revenue is the deal amount behind the deal commissions earned in the quarter (from their
rule snapshots), per currency; a level's threshold counts its own currency only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.pipeline.store import utcnow
from hub.program.email.notify import notify
from hub.program.models import AuditEntry, LedgerEntry, Partner, Referral
from hub.program.rules import add_months
from hub.program.states import LedgerStatus

if TYPE_CHECKING:
    from connectors.sendgrid import SendGridSettings
    from hub.program.context import ProgramContext


def previous_quarter(now: datetime) -> tuple[str, datetime, datetime]:
    """(``2026-Q3``, start, end) of the quarter before the one containing ``now``."""
    q_start_month = 3 * ((now.month - 1) // 3) + 1
    this_start = datetime(now.year, q_start_month, 1, tzinfo=UTC)
    start_date = add_months(this_start.date(), -3)
    start = datetime(start_date.year, start_date.month, 1, tzinfo=UTC)
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}", start, this_start


def performance(session: Session, partner_id: int, start: datetime, end: datetime) -> tuple[int, dict[str, int]]:
    """(referrals, won revenue per currency) in [start, end)."""
    referrals = (
        session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(Referral.partner_id == partner_id, Referral.created_at >= start, Referral.created_at < end)
        )
        or 0
    )
    won: dict[str, int] = {}
    for entry in session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.kind == "commission",
            LedgerEntry.source_key.like("deal:%"),
            LedgerEntry.status != LedgerStatus.CANCELLED,
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < end,
        )
    ):
        snap = entry.rule_snapshot or {}
        amount, currency = snap.get("deal_amount_minor"), snap.get("deal_currency")
        if isinstance(amount, int) and currency:
            won[currency] = won.get(currency, 0) + amount
    return int(referrals), won


def set_tier(
    session: Session,
    partner: Partner,
    tier: str | None,
    *,
    actor: str,
    reason: str,
    quarter: str | None = None,
    referrals: int | None = None,
    mail_settings: SendGridSettings | None = None,
) -> bool:
    """Move a partner to ``tier`` (audited, partner told). False when it is there already."""
    if partner.tier == tier:
        return False
    before = {"tier": partner.tier}
    old = partner.tier
    partner.tier = tier
    session.add(
        AuditEntry(
            actor=actor,
            action="partner.tier",
            subject=f"partner:{partner.id}",
            before=before,
            after={"tier": tier, "reason": reason},
            at=utcnow(),
        )
    )
    if tier is not None:
        stamp = quarter or utcnow().isoformat(timespec="seconds")
        notify(
            session,
            mail_settings=mail_settings,
            kind="tier_changed",
            to_email=partner.email,
            partner_id=partner.id,
            natural_key=f"tier-changed:{partner.id}:{stamp}:{tier}",
            context={
                "partner_name": partner.name,
                "partner_manager": partner.partner_manager,
                "segment": partner.segment,
                "locale": partner.locale,
                "old_tier": old,
                "new_tier": tier,
                "quarter": quarter or "manual",
                "referrals": referrals if referrals is not None else 0,
            },
        )
    return True


def review(session: Session, hub: ProgramContext, now: datetime) -> dict[str, Any]:
    """Apply last quarter's performance to every active partner (caller runs it once per quarter)."""
    levels = hub.program.tiers
    quarter, start, end = previous_quarter(now)
    moved: list[dict[str, Any]] = []
    if not levels.levels:
        return {"quarter": quarter, "moved": moved}
    for partner in session.scalars(select(Partner).where(Partner.status == "active").order_by(Partner.id)):
        referrals, won = performance(session, partner.id, start, end)
        tier = levels.level_for(referrals, won)
        if tier is not None and set_tier(
            session,
            partner,
            tier,
            actor="program",
            quarter=quarter,
            referrals=referrals,
            mail_settings=hub.settings.sendgrid,
            reason=f"{quarter}: {referrals} referral(s), won {won}",
        ):
            moved.append({"partner_id": partner.id, "tier": tier})
    return {"quarter": quarter, "moved": moved}
