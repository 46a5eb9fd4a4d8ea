"""An admin moves a deal to another partner, and the money moves with it.

``reattribute`` is the audited override of a deal's attribution (``hub.program.attribution.override``)
followed by everything that hangs on it, in the caller's transaction:

* the deal's commission is settled for the partner now credited (``commissions.settle_deal``):
  the old partner's live entry is moved off (``commissions.move_off``: cancelled before
  payment; pulled out of a payout still waiting for a person, with an alert; reversed once paid,
  or while its payout's transfer may be moving, with an alert: the reversal nets against their
  next payout) and the new partner gets an entry under their own rules (tier, region, segment);
* the revenue attribution follows: payment customers linked to the deal and credited to the old
  partner, and their revenue facts (recurring invoices and refunds), now carry the new partner,
  and each invoice's commission is settled the same way; later invoices of those customers are
  credited to the new partner as they arrive;
* an audit entry lists what moved (``attribution.money``), and both partners are e-mailed
  (``attribution_removed`` / ``attribution_added``, through the outbox). Neither mail names the
  other partner.

A referral's own commission (``referral:<id>``, for a referral accepted into the CRM) stays with
the partner who made the referral: the override moves the deal, not the referral. Customers of
the deal credited to a third partner keep their own (sticky) attribution; customers of an
unattributed deal, credited to nobody, follow the deal to its first partner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.pipeline.store import utcnow
from hub.program import clock, commissions
from hub.program.attribution import override
from hub.program.email.notify import notify
from hub.program.errors import InvalidInput, NotFound
from hub.program.models import AuditEntry, Deal, LedgerEntry, Partner, PaymentCustomer, Referral, RevenueFact

if TYPE_CHECKING:
    from hub.program.context import ProgramContext


def _entry(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "partner_id": e.partner_id,
        "source": e.source_key,
        "amount_minor": e.amount_minor,
        "currency": e.currency,
        "status": e.status,
    }


def reattribute(
    session: Session,
    hub: ProgramContext,
    deal_id: int,
    *,
    partner_id: int | None,
    referral_tracking_id: str | None,
    actor: str,
    reason: str,
) -> dict[str, Any]:
    """Credit the deal to ``partner_id`` (None: to nobody) and move its money (see the module)."""
    deal = session.get(Deal, deal_id, with_for_update=True)
    if deal is None:
        raise NotFound(f"no deal #{deal_id}")
    new_partner = session.get(Partner, partner_id) if partner_id is not None else None
    if partner_id is not None and new_partner is None:
        raise InvalidInput(f"no partner #{partner_id}")
    referral_id = None
    if referral_tracking_id:
        referral = session.scalars(select(Referral).where(Referral.tracking_id == referral_tracking_id)).first()
        if referral is None:
            raise InvalidInput(f"no referral {referral_tracking_id}")
        referral_id = referral.id
    old_id = deal.partner_id
    audit = override(session, deal, partner_id=partner_id, referral_id=referral_id, actor=actor, reason=reason)
    moved: dict[str, Any] = {"moved_off": [], "earned": [], "customers": [], "facts": []}
    result = {
        "deal_id": deal.id,
        "partner_id": deal.partner_id,
        "referral_id": deal.referral_id,
        "attribution_source": deal.attribution_source,
        "money": moved,
    }
    if old_id == partner_id:
        return result
    now = clock.now(hub)
    why = f"attribution moved by {actor}: {reason}"
    settlements = [commissions.settle_deal(session, hub.program, deal, new_partner, now=now, reason=why)]

    customers = list(
        session.scalars(
            select(PaymentCustomer)
            .where(PaymentCustomer.deal_id == deal.id, _credited(PaymentCustomer.partner_id, old_id))
            .with_for_update()
        )
    )
    for customer in customers:
        customer.partner_id, customer.referral_id = partner_id, deal.referral_id
        customer.attribution_source = "admin" if partner_id is not None else None
        customer.attributed_at, customer.updated_at = utcnow(), utcnow()
        moved["customers"].append(customer.external_id)
    linked = [RevenueFact.deal_id == deal.id]
    for customer in customers:
        linked.append((RevenueFact.source == customer.source) & (RevenueFact.customer_id == customer.external_id))
    facts = list(
        session.scalars(
            select(RevenueFact)
            .where(_credited(RevenueFact.partner_id, old_id), or_(*linked))
            .order_by(RevenueFact.id)
            .with_for_update()
        )
    )
    for fact in facts:
        fact.partner_id, fact.deal_id, fact.updated_at = partner_id, fact.deal_id or deal.id, utcnow()
        moved["facts"].append(fact.natural_key)
    session.flush()
    for fact in facts:
        if fact.kind == "revenue":
            settlements.append(commissions.settle_revenue(session, hub, fact, now=now, reason=why))

    for settled in settlements:
        if settled.moved is not None:
            off = settled.moved
            moved["moved_off"].append(
                {
                    **_entry(off.entry),
                    "outcome": off.outcome,
                    "reversal_id": off.reversal.id if off.reversal is not None else None,
                    "payout_id": off.payout_id,
                }
            )
        if settled.earned is not None:
            moved["earned"].append(_entry(settled.earned))
    session.add(
        AuditEntry(
            actor=actor,
            action="attribution.money",
            subject=f"deal:{deal.id}",
            before={"partner_id": old_id, "entries": moved["moved_off"]},
            after={
                "partner_id": partner_id,
                "entries": moved["earned"],
                "customers": moved["customers"],
                "facts": moved["facts"],
                "override_audit_id": audit.id,
            },
            at=utcnow(),
        )
    )
    old_partner = session.get(Partner, old_id) if old_id is not None else None
    _tell(session, hub, old_partner, deal, "attribution_removed", audit.id, moved["moved_off"])
    _tell(session, hub, new_partner, deal, "attribution_added", audit.id, moved["earned"])
    return result


def _credited(column: Any, partner_id: int | None) -> Any:
    """``column`` names ``partner_id`` (None: nobody; an unattributed deal's customers follow it)."""
    return column.is_(None) if partner_id is None else column == partner_id


def _tell(
    session: Session,
    hub: ProgramContext,
    partner: Partner | None,
    deal: Deal,
    kind: str,
    audit_id: int,
    entries: list[dict[str, Any]],
) -> None:
    if partner is None:
        return
    notify(
        session,
        mail_settings=hub.settings.sendgrid,
        kind=kind,
        to_email=partner.email,
        partner_id=partner.id,
        natural_key=f"{kind.replace('_', '-')}:{audit_id}",
        context={
            "partner_name": partner.name,
            "partner_manager": partner.partner_manager,
            "deal_name": deal.name or f"deal #{deal.id}",
            "entries": [
                {"amount_minor": e["amount_minor"], "currency": e["currency"], "outcome": e.get("outcome", e["status"])}
                for e in entries
            ],
        },
    )
