"""Applications to join the program: submitted, confirmed by e-mail, decided by a person.

``submit`` (the public ``POST /api/v1/applications``, no key) checks the program's eligibility
(``applications.eligibility``: a refusal names the reason and stores nothing), flags duplicates
(the same e-mail or company domain as a partner or another open application), marks it
recommended when ``applications.recommend`` matches (a mark for the person, never a decision),
and mails a one-time confirmation link. Only the link token's SHA-256 is stored; the mail's body
is erased from its outbox row once SendGrid took it (``notify.ONE_TIME_LINK_KINDS``). An address
with an unconfirmed application still in time gets no second mail, so the form cannot be used
to mail a stranger over and over.

``confirm`` (the link) moves it to ``pending``: only then is it in the review queue. ``decide``
is a person's approve or decline, with a reason, audited; the applicant is told either way.
Approval creates the partner (its attributes from the application, its segment from the
segment rules), mails a welcome and a one-time portal sign-in link, and starts the onboarding track.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from connectors.bounds import is_mail_address
from hub.pipeline.store import utcnow
from hub.program import access, onboarding
from hub.program.conditions import PartnerFacts, unmet
from hub.program.email.notify import notify
from hub.program.errors import Ineligible, InvalidInput, InvalidState, NotFound
from hub.program.models import Application, AuditEntry, Partner
from hub.program.partners import add_partner

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

FIELDS = (
    "email", "contact_name", "company_name", "company_domain", "website", "country",
    "company_size", "industry", "specialization", "partner_type", "message",
)  # fmt: skip
OPEN = ("unconfirmed", "pending")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _domain(fields: dict[str, Any]) -> str | None:
    domain = fields.get("company_domain")
    if not domain and fields.get("website"):
        host = str(fields["website"]).split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        domain = host[4:] if host.startswith("www.") else host
    return domain.strip().lower() if domain else None


def eligibility(hub: ProgramContext, fields: dict[str, Any]) -> list[str]:
    """Why the program refuses this application (empty: eligible)."""
    rules = hub.program.applications.eligibility
    reasons = []
    country = (fields.get("country") or "").upper()
    if rules.countries is not None and country not in rules.countries:
        reasons.append(f"the program accepts applications from {', '.join(rules.countries)} only")
    if rules.website_required and not fields.get("website"):
        reasons.append("a website is required")
    if rules.partner_types is not None and fields.get("partner_type") not in rules.partner_types:
        reasons.append(f"the partner type must be one of {', '.join(rules.partner_types)}")
    return reasons


def _duplicates(
    session: Session, hub: ProgramContext, email: str, domain: str | None, own_id: int | None
) -> str | None:
    found: list[str] = []
    company = None if hub.program.attribution.is_free_mail(domain) else domain
    by_mail = session.scalars(select(Partner.id).where(func.lower(Partner.email) == email)).first()
    if by_mail is not None:
        found.append(f"partner #{by_mail} has this e-mail address")
    if company:
        by_domain = session.scalars(
            select(Partner.id).where(func.lower(Partner.email).like(f"%@{company}")).order_by(Partner.id)
        ).first()
        if by_domain is not None and by_domain != by_mail:
            found.append(f"partner #{by_domain} has an address at {company}")
    others = select(Application.id).where(Application.status.in_(OPEN))
    if own_id is not None:
        others = others.where(Application.id != own_id)
    conds = [Application.email == email] + ([Application.company_domain == company] if company else [])
    other = session.scalars(others.where(or_(*conds)).order_by(Application.id)).first()
    if other is not None:
        found.append(f"application #{other} is open with the same e-mail or company domain")
    return "; ".join(found) or None


def _recommended(hub: ProgramContext, fields: dict[str, Any]) -> bool:
    facts = PartnerFacts(
        partner_id=0,
        attributes={
            k: fields.get(k) for k in ("company_size", "industry", "country", "specialization", "partner_type")
        },
        tier=None,
        segment=None,
    )
    return any(not unmet(condition, facts) for condition in hub.program.applications.recommend)


@dataclass(frozen=True)
class Submitted:
    application: Application | None  # None: a honeypot hit (answered like a success)
    mailed: bool


def submit(session: Session, hub: ProgramContext, fields: dict[str, Any], now: datetime) -> Submitted:
    """Store an application and mail its confirmation link (caller's transaction). ``Ineligible``
    names the reason and stores nothing."""
    program = hub.program.applications
    if not program.enabled:
        raise InvalidState("the program does not take applications")
    fields = {k: fields.get(k) for k in FIELDS}
    fields["email"] = str(fields["email"]).strip().lower()
    if not is_mail_address(fields["email"]):
        raise InvalidInput("email: not an e-mail address (one local@domain.tld)")
    if fields.get("country"):
        fields["country"] = str(fields["country"]).upper()
    fields["company_domain"] = _domain(fields)
    reasons = eligibility(hub, fields)
    if reasons:
        raise Ineligible("not eligible: " + "; ".join(reasons))
    waiting = session.scalars(
        select(Application).where(
            Application.email == fields["email"],
            Application.status == "unconfirmed",
            Application.confirm_expires_at > now,
        )
    ).first()
    if waiting is not None:
        return Submitted(waiting, False)  # no second mail to the same address while the first works
    token = secrets.token_urlsafe(32)
    application = Application(
        **fields,
        status="unconfirmed",
        duplicate_of=_duplicates(session, hub, fields["email"], fields["company_domain"], None),
        recommended=_recommended(hub, fields),
        confirm_token_hash=token_hash(token),
        confirm_expires_at=now + timedelta(hours=program.confirm_hours),
        created_at=now,
        updated_at=now,
    )
    session.add(application)
    session.flush()
    notify(
        session,
        mail_settings=hub.settings.sendgrid,
        kind="application_confirm",
        to_email=application.email,
        natural_key=f"application-confirm:{application.id}",
        context={
            "contact_name": application.contact_name,
            "company_name": application.company_name,
            "confirm_url": f"{_base(hub)}/apply/confirm?token={token}",
            "hours": program.confirm_hours,
            "partner_manager": None,
        },
    )
    return Submitted(application, True)


def _base(hub: ProgramContext) -> str:
    return (hub.settings.public_base_url or "http://127.0.0.1:8000").rstrip("/")


def confirm(session: Session, hub: ProgramContext, token: str, now: datetime) -> Application:
    """The applicant opened the link: the application enters the review queue. The token works
    once and until it expires (``NotFound`` otherwise, the same answer for every failure)."""
    application = session.scalars(
        select(Application).where(Application.confirm_token_hash == token_hash(token)).with_for_update()
    ).first()
    if (
        application is None
        or application.status != "unconfirmed"
        or (application.confirm_expires_at is not None and application.confirm_expires_at <= now)
    ):
        raise NotFound("this confirmation link is not valid (used, expired or unknown)")
    application.status, application.confirmed_at, application.confirm_token_hash = "pending", now, None
    # duplicates are looked for again: another application may have been confirmed meanwhile
    application.duplicate_of = _duplicates(session, hub, application.email, application.company_domain, application.id)
    application.updated_at = now
    return application


def queue(session: Session, status: str = "pending") -> list[Application]:
    return list(session.scalars(select(Application).where(Application.status == status).order_by(Application.id)))


def decide(
    session: Session,
    hub: ProgramContext,
    application_id: int,
    *,
    approve_it: bool,
    actor: str,
    reason: str,
    now: datetime,
    signin_secret: bytes | None = None,
) -> Application:
    """A person's decision on a confirmed application, audited; the applicant is told. With
    ``signin_secret`` (the web secret, from the entry layer) an approval also mails a one-time
    portal sign-in link (``access.send_link``, filled in at send time)."""
    application = session.get(Application, application_id, with_for_update=True)
    if application is None:
        raise NotFound(f"no application #{application_id}")
    if application.status != "pending":
        raise InvalidState(f"the application is {application.status}; only a confirmed (pending) one is decided")
    before = {"status": application.status}
    context: dict[str, Any] = {
        "contact_name": application.contact_name,
        "company_name": application.company_name,
        "reason": reason,
        "partner_manager": None,
    }
    if approve_it:
        if session.scalars(select(Partner.id).where(func.lower(Partner.email) == application.email)).first():
            raise InvalidState("a partner with this e-mail address exists already")
        new = add_partner(session, name=application.company_name, email=application.email)
        partner = new.partner
        partner.api_key_hash = None  # the partner signs in by e-mailed link; an API key is made on request
        for name in ("country", "company_size", "industry", "specialization", "partner_type"):
            setattr(partner, name, getattr(application, name))
        partner.created_at = now
        onboarding.admit(session, hub, partner, now)
        application.partner_id = partner.id
        application.status = "approved"
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="application_approved",
            to_email=application.email,
            partner_id=partner.id,
            natural_key=f"application-approved:{application.id}",
            context={**context, "sign_in_url": f"{_base(hub)}/signin"},
        )
        if signin_secret is not None:
            person = access.find_by_email(session, partner.email)
            if person is not None:
                access.send_link(session, signin_secret, person, now=now, mail_settings=hub.settings.sendgrid)
    else:
        application.status = "declined"
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="application_declined",
            to_email=application.email,
            natural_key=f"application-declined:{application.id}",
            context=context,
        )
    application.decided_by, application.decided_at, application.reason = actor, now, reason
    application.updated_at = now
    session.add(
        AuditEntry(
            actor=actor,
            action="application.approve" if approve_it else "application.decline",
            subject=f"application:{application.id}",
            before=before,
            after={"status": application.status, "reason": reason, "partner_id": application.partner_id},
            at=utcnow(),
        )
    )
    return application


def expire(session: Session, now: datetime) -> int:
    """Unconfirmed applications whose link ran out: ``expired`` (never in the queue)."""
    count = 0
    for application in session.scalars(
        select(Application).where(Application.status == "unconfirmed", Application.confirm_expires_at <= now)
    ):
        application.status, application.confirm_token_hash, application.updated_at = "expired", None, now
        count += 1
    return count


def as_dict(a: Application) -> dict[str, Any]:
    """An application as the admin API and the CLI show it (no token)."""
    return {
        "id": a.id,
        "status": a.status,
        **{name: getattr(a, name) for name in FIELDS},
        "duplicate_of": a.duplicate_of,
        "recommended": a.recommended,
        "confirmed_at": a.confirmed_at,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "reason": a.reason,
        "partner_id": a.partner_id,
        "created_at": a.created_at,
    }
