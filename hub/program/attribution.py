"""Source attribution: which partner a CRM deal belongs to. Sticky once set.

In order: the tracking id or partner id carried on the CRM record; else a referral whose contact
email or company domain (free-mail domains excluded) matches the deal's contacts or companies,
with the deal created within the program's window after the referral (first touch by default,
last touch configurable); else unattributed. A deal once attributed stays so — replays and later
events cannot move it — and only an admin override (audited) changes it. An unattributed deal can
still be attributed later by a tracking id. The same inputs always give the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.pipeline.store import utcnow
from hub.program.models import AuditEntry, Deal, Partner, PaymentCustomer, Referral
from hub.program.program_file import Attribution
from hub.program.states import ReferralStatus


@dataclass(frozen=True)
class Attributed:
    partner_id: int
    referral_id: int | None
    source: str  # tracking_id | partner_id | email | domain | admin


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower().strip()


def find_attribution(
    session: Session,
    rules: Attribution,
    *,
    tracking_id: str | None,
    partner_id: str | None,
    deal_created_at: datetime | None,
    contact_emails: Iterable[str] = (),
    company_domains: Iterable[str] = (),
) -> Attributed | None:
    if tracking_id:
        referral = session.scalars(select(Referral).where(Referral.tracking_id == tracking_id.strip())).first()
        if referral is not None:
            return Attributed(referral.partner_id, referral.id, "tracking_id")
    if partner_id and str(partner_id).strip().isdigit():
        partner = session.get(Partner, int(str(partner_id).strip()))
        if partner is not None:
            return Attributed(partner.id, None, "partner_id")
    emails = sorted({e.strip().lower() for e in contact_emails if e and "@" in e})
    domains = sorted(
        {d.strip().lower() for d in company_domains if d and not rules.is_free_mail(d)}
        | {_domain(e) for e in emails if not rules.is_free_mail(_domain(e))}
    )
    if not emails and not domains:
        return None
    created = deal_created_at or utcnow()
    window_start = created - timedelta(days=rules.window_days)
    conditions = []
    if emails:
        conditions.append(Referral.contact_email.in_(emails))
    if domains:
        conditions.append(Referral.company_domain.in_(domains))
    order = Referral.created_at.asc() if rules.model == "first_touch" else Referral.created_at.desc()
    candidates = session.scalars(
        select(Referral)
        .where(
            or_(*conditions),
            Referral.created_at >= window_start,
            Referral.created_at <= created,
            Referral.status.notin_((ReferralStatus.DECLINED,)),
        )
        .order_by(order, Referral.id.asc() if rules.model == "first_touch" else Referral.id.desc())
    ).all()
    for referral in candidates:
        by_email = referral.contact_email in emails
        return Attributed(referral.partner_id, referral.id, "email" if by_email else "domain")
    return None


def attribute(session: Session, deal: Deal | PaymentCustomer, found: Attributed | None) -> bool:
    """Set the attribution unless the deal (or payment customer: the same columns, the same
    rules) already has one (sticky). True when it was set now."""
    if deal.partner_id is not None or found is None:
        return False
    deal.partner_id = found.partner_id
    deal.referral_id = found.referral_id
    deal.attribution_source = found.source
    deal.attributed_at = utcnow()
    return True


def override(
    session: Session, deal: Deal, *, partner_id: int | None, referral_id: int | None, actor: str, reason: str
) -> AuditEntry:
    """An admin's decision, recorded in the audit log with what it replaced (the records only:
    ``hub.program.reattribution.reattribute`` moves the money with it)."""
    before = {"partner_id": deal.partner_id, "referral_id": deal.referral_id, "source": deal.attribution_source}
    deal.partner_id = partner_id
    deal.referral_id = referral_id
    deal.attribution_source = "admin" if partner_id is not None else None
    deal.attributed_at = utcnow()
    after = {"partner_id": partner_id, "referral_id": referral_id, "source": deal.attribution_source, "reason": reason}
    audit = AuditEntry(
        actor=actor,
        action="attribution.override",
        subject=f"deal:{deal.id}",
        before=before,
        after=after,
        at=utcnow(),
    )
    session.add(audit)
    session.flush()
    return audit
