"""Quarterly tier review: partners move between the program file's tier levels on last
quarter's performance (referrals made, won deal revenue), are told, and each move is audited.

Every change is kept in the partner's tier history (``PartnerTierChange``, effective from when it
was made), so ``tier_at`` answers which tier a partner had at an earlier time (``partnerhub
program diff`` recomputes past commissions with it).

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
from hub.program.models import AuditEntry, LedgerEntry, Partner, PartnerTierChange, Referral
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
    at: datetime | None = None,
) -> bool:
    """Move a partner to ``tier`` (audited, kept in the tier history as effective from ``at``,
    default now; the partner is told). False when it is there already."""
    if partner.tier == tier:
        return False
    before = {"tier": partner.tier}
    old = partner.tier
    partner.tier = tier
    session.add(
        PartnerTierChange(
            partner_id=partner.id,
            tier_before=old,
            tier=tier,
            effective_at=at or utcnow(),
            actor=actor,
            reason=reason,
        )
    )
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
            at=now,
        ):
            moved.append({"partner_id": partner.id, "tier": tier})
    return {"quarter": quarter, "moved": moved}


def tier_at(session: Session, partner: Partner, at: datetime) -> str | None:
    """The tier ``partner`` had at ``at``: the last change made by then, else (before its first
    change) the tier that change replaced, else (never changed) its tier now."""
    last = session.scalars(
        select(PartnerTierChange)
        .where(PartnerTierChange.partner_id == partner.id, PartnerTierChange.effective_at <= at)
        .order_by(PartnerTierChange.effective_at.desc(), PartnerTierChange.id.desc())
        .limit(1)
    ).first()
    if last is not None:
        return last.tier
    first = session.scalars(
        select(PartnerTierChange)
        .where(PartnerTierChange.partner_id == partner.id)
        .order_by(PartnerTierChange.effective_at, PartnerTierChange.id)
        .limit(1)
    ).first()
    return first.tier_before if first is not None else partner.tier
