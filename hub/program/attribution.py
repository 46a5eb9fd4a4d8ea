"""Source attribution: which partner a CRM deal belongs to. Sticky once set.

In order: the tracking id or partner id carried on the CRM record; else a referral whose contact
email or company domain (free-mail domains excluded) matches the deal's contacts or companies,
with the deal created within the program's window after the referral (first touch by default,
last touch configurable); else unattributed. A deal once attributed stays so — replays and later
events cannot move it — and only an admin override (audited) changes it. An unattributed deal can
still be attributed later by a tracking id. The same inputs always give the same answer.

A chunk of inbox events reads the referrals its deals' contacts and companies could match in one
statement before its events run (``preload_candidates``, through ``DomainHandlers.prefetch``);
``find_attribution`` then picks among them in memory, by the same rules as its query, when they
cover every email and domain it is asked about, and queries as before when they do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.pipeline.engine import READ_AHEAD
from hub.pipeline.store import utcnow
from hub.program.models import AuditEntry, Deal, Partner, PaymentCustomer, Referral
from hub.program.program_file import Attribution
from hub.program.states import ReferralStatus


@dataclass(frozen=True)
class Attributed:
    partner_id: int
    referral_id: int | None
    source: str  # tracking_id | partner_id | email | domain | admin


#: ``session.info[READ_AHEAD]`` key: the chunk's referral candidates (``preload_candidates``)
CANDIDATES_AHEAD = "referral_candidates"


@dataclass(frozen=True)
class Candidates:
    """The referrals (not declined) whose contact email or company domain is one of ``emails``
    or ``domains``, whatever their date: read once for a chunk."""

    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    referrals: tuple[Referral, ...] = field(default=())


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower().strip()


def match_keys(
    rules: Attribution, contact_emails: Iterable[str], company_domains: Iterable[str]
) -> tuple[list[str], list[str]]:
    """The emails and domains a referral match looks for (free-mail domains left out)."""
    emails = sorted({e.strip().lower() for e in contact_emails if e and "@" in e})
    domains = sorted(
        {d.strip().lower() for d in company_domains if d and not rules.is_free_mail(d)}
        | {_domain(e) for e in emails if not rules.is_free_mail(_domain(e))}
    )
    return emails, domains


def _not_declined(emails: list[str], domains: list[str]):  # type: ignore[no-untyped-def]
    conditions = []
    if emails:
        conditions.append(Referral.contact_email.in_(emails))
    if domains:
        conditions.append(Referral.company_domain.in_(domains))
    return or_(*conditions), Referral.status.notin_((ReferralStatus.DECLINED,))


def preload_candidates(
    session: Session, rules: Attribution, contact_emails: Iterable[str], company_domains: Iterable[str]
) -> Candidates:
    """The referrals a chunk's deals could be matched to, in one statement."""
    emails, domains = match_keys(rules, contact_emails, company_domains)
    if not emails and not domains:
        return Candidates()
    found = session.scalars(select(Referral).where(*_not_declined(emails, domains))).all()
    return Candidates(frozenset(emails), frozenset(domains), tuple(found))


def _from_candidates(
    session: Session, rules: Attribution, emails: list[str], domains: list[str], window: tuple[datetime, datetime]
) -> list[Referral] | None:
    """The matching referrals from the chunk's candidates, in the query's order; None when
    they do not cover these emails and domains."""
    ahead = session.info.get(READ_AHEAD, {}).get(CANDIDATES_AHEAD)
    if not isinstance(ahead, Candidates) or not (ahead.emails.issuperset(emails) and ahead.domains.issuperset(domains)):
        return None
    start, end = window
    found = [
        r
        for r in ahead.referrals
        if (r.contact_email in emails or r.company_domain in domains)
        and start <= r.created_at <= end
        and r.status != ReferralStatus.DECLINED
    ]
    first = rules.model == "first_touch"
    found.sort(key=lambda r: (r.created_at, r.id), reverse=not first)
    return found


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
    emails, domains = match_keys(rules, contact_emails, company_domains)
    if not emails and not domains:
        return None
    created = deal_created_at or utcnow()
    window_start = created - timedelta(days=rules.window_days)
    candidates: Sequence[Referral] | None = _from_candidates(session, rules, emails, domains, (window_start, created))
    if candidates is None:
        order = Referral.created_at.asc() if rules.model == "first_touch" else Referral.created_at.desc()
        candidates = session.scalars(
            select(Referral)
            .where(
                *_not_declined(emails, domains),
                Referral.created_at >= window_start,
                Referral.created_at <= created,
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
