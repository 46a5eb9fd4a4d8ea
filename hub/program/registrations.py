"""Deal registration: a partner claims a deal before it exists in the CRM.

``submit`` stores the registration with an internal inbox event (answered 202 at once, like a
referral); a worker runs ``process``: the CRM (the hub's records of it first, then
``find_conflicts`` unless they found an open deal or a customer: ``hub.program.parties``) and the other
partners' registrations within the protection window are searched by company domain, normalized
company name and contact email.

* an open deal or a customer in the CRM: a duplicate of an existing opportunity, declined at
  once with the reason; so is a match with another partner's approved, still protected
  registration on the same domain or email;
* a weaker match (a known contact, another partner's registration still in review, or only the
  normalized company name): held for an admin (approve/decline through the admin API);
* nothing: approved. Approval makes a referral and sends it down the referral path
  (``hub.referrals.send_to_crm`` -> ``create_referral_deal``), so the CRM deal carries the
  partner's attribution; the registration is protected for ``registrations.protection_days``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.models import InboxEvent, WorkState
from hub.pipeline.store import utcnow
from hub.program import conditions, parties, referrals
from hub.program.email.notify import notify
from hub.program.errors import IdempotencyConflict, InvalidState, NotFound
from hub.program.lifecycle_file import Condition
from hub.program.models import AuditEntry, DealRegistration, Partner, Referral
from hub.program.partners import record_activity

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

EVENT_TYPE = "registration.submitted"
#: legal-form words dropped when comparing company names
LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "corp", "corporation", "co", "company", "llc", "llp", "lp", "ltd", "limited", "plc",
    "gmbh", "mbh", "ag", "kg", "ug", "ohg", "gbr", "ev", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab",
    "as", "aps", "kk", "pty", "pte", "sl", "sro", "zoo", "kft", "group", "holding", "holdings",
})  # fmt: skip


def normalize_company(name: str) -> str:
    """``"ACME, Inc."`` and ``"Acme GmbH"`` -> ``"acme"``: case, accents, punctuation and legal
    suffixes do not tell companies apart."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    words = re.sub(r"[^a-z0-9]+", " ", re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", text)).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def submit(
    session: Session,
    partner: Partner,
    fields: dict[str, Any],
    *,
    idempotency_key: str | None,
    at: datetime | None = None,
    requires: Condition | None = None,
) -> tuple[DealRegistration, bool, int | None]:
    """Store the registration and its internal event (caller's transaction): (row, created, event id).
    ``requires`` (``registrations.requires``): a partner not meeting it is refused
    (``ConditionUnmet`` naming what is missing) and nothing is stored."""
    if idempotency_key:
        existing = session.scalars(
            select(DealRegistration).where(
                DealRegistration.partner_id == partner.id, DealRegistration.idempotency_key == idempotency_key
            )
        ).first()
        if existing is not None:
            if not all(getattr(existing, k) == v for k, v in fields.items()):
                raise IdempotencyConflict("this Idempotency-Key was used with a different registration")
            return existing, False, None
    conditions.require(session, partner, requires, at or utcnow(), "deal registration")
    now = utcnow()
    registration = DealRegistration(
        partner_id=partner.id,
        idempotency_key=idempotency_key,
        status="received",
        company_key=normalize_company(fields["company_name"]),
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(registration)
    record_activity(session, partner, at=at)
    session.flush()
    [event_id] = insert_ignoring_conflicts(
        session,
        InboxEvent,
        [
            {
                "connector": referrals.INTERNAL,
                "event_key": f"{EVENT_TYPE}:{registration.id}",
                "event_type": EVENT_TYPE,
                "object_type": "deal_registration",
                "object_id": str(registration.id),
                "version_ms": None,
                "payload": {"registration_id": registration.id},
                "received_at": now,
                "state": WorkState.RECEIVED,
                "attempts": 0,
                "next_attempt_at": now + timedelta(seconds=30),
            }
        ],
        ("connector", "event_key"),
    )
    return registration, True, event_id


def _others(
    session: Session, registration: DealRegistration, domain: str | None, since: datetime
) -> list[DealRegistration]:
    same = [DealRegistration.company_key == registration.company_key]
    if domain:
        same.append(DealRegistration.company_domain == domain)
    if registration.contact_email:
        same.append(DealRegistration.contact_email == registration.contact_email)
    return list(
        session.scalars(
            select(DealRegistration)
            .where(
                or_(*same),
                DealRegistration.partner_id != registration.partner_id,
                DealRegistration.id != registration.id,
                DealRegistration.status.in_(("received", "held_for_review", "approved")),
                DealRegistration.created_at >= since,
            )
            .order_by(DealRegistration.id)
        )
    )


def check(
    session: Session, hub: ProgramContext, registration: DealRegistration, now: datetime
) -> tuple[str, list[str]]:
    """("declined" | "held_for_review" | "approved", reasons)."""
    program = hub.program
    domain = None if program.attribution.is_free_mail(registration.company_domain) else registration.company_domain
    duplicates: list[str] = []
    ambiguous: list[str] = []
    decisive = ("open_deal", "customer")
    for m in parties.find_conflicts(
        session,
        hub.crm,
        email=registration.contact_email,
        domain=domain,
        enough=lambda found: any(m.kind in decisive for m in found),
    ):
        text = f"{m.kind.replace('_', ' ')} in the CRM matching the {m.matched_on} ({m.name or m.object_id})"
        (duplicates if m.kind in decisive else ambiguous).append(text)
    since = now - timedelta(days=program.registrations.protection_days)
    for other in _others(session, registration, domain, since):
        on = [
            what
            for what, same in (
                ("company domain", domain is not None and other.company_domain == domain),
                (
                    "contact email",
                    registration.contact_email is not None and other.contact_email == registration.contact_email,
                ),
                ("company name", other.company_key == registration.company_key),
            )
            if same
        ]
        text = f"registered by another partner on {other.created_at.date().isoformat()} (same {', '.join(on)})"
        protected = other.status == "approved" and other.protected_until is not None and other.protected_until > now
        if protected and on != ["company name"]:
            duplicates.append(text + f", protected until {other.protected_until.date().isoformat()}")  # type: ignore[union-attr]
        else:
            ambiguous.append(text)
    if duplicates:
        return "declined", duplicates
    if ambiguous:
        return "held_for_review", ambiguous
    return "approved", []


def process(session: Session, hub: ProgramContext, registration_id: int) -> str:
    """The worker's step for a submitted registration."""
    from hub.program import clock

    registration = session.get(DealRegistration, registration_id, with_for_update=True)
    if registration is None:
        return "missing"
    if registration.status != "received":
        return "already_processed"
    now = clock.now(hub)
    decision, reasons = check(session, hub, registration, now)
    if decision == "approved":
        approve(session, hub, registration, now=now)
    elif decision == "declined":
        decline(session, hub, registration, reason="duplicate of an existing opportunity: " + "; ".join(reasons))
    else:
        _set(registration, "held_for_review", "; ".join(reasons))
        partner = session.get(Partner, registration.partner_id)
        assert partner is not None
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="registration_held",
            to_email=partner.email,
            partner_id=partner.id,
            natural_key=f"registration-held:{registration.id}",
            context=_context(partner, registration),
        )
    return f"registration:{registration.status}"


#: ``DealRegistration.decided_by`` of the automatic check's decisions
AUTOMATIC = "program"


def _set(registration: DealRegistration, status: str, reason: str | None, *, by: str = AUTOMATIC) -> None:
    registration.status, registration.reason, registration.updated_at = status, reason, utcnow()
    if status in ("approved", "declined") and registration.decided_at is None:
        registration.decided_at, registration.decided_by = registration.updated_at, by[:200]


def _context(partner: Partner, registration: DealRegistration, **extra: Any) -> dict[str, Any]:
    return {
        "partner_name": partner.name,
        "partner_manager": partner.partner_manager,
        "segment": partner.segment,
        "locale": partner.locale,
        "company_name": registration.company_name,
        **extra,
    }


def approve(
    session: Session,
    hub: ProgramContext,
    registration: DealRegistration,
    *,
    now: datetime,
    approved_by: str | None = None,
) -> None:
    """A referral for the registration goes down the referral path to the CRM deal (with its
    tracking id, so the deal is attributed to the partner); protected for the window."""
    partner = session.get(Partner, registration.partner_id)
    assert partner is not None
    created = utcnow()
    referral = Referral(
        tracking_id=referrals.new_tracking_id(),
        partner_id=partner.id,
        idempotency_key=f"registration:{registration.id}",
        company_name=registration.company_name,
        company_domain=registration.company_domain,
        contact_name=registration.contact_name,
        contact_email=registration.contact_email,
        notes=registration.notes,
        company_country=registration.company_country,
        company_industry=registration.company_industry,
        status="received",
        history=[{"status": "received", "at": created.isoformat(), "reason": f"deal registration #{registration.id}"}],
        created_at=created,
        updated_at=created,
    )
    session.add(referral)
    session.flush()
    referrals.send_to_crm(
        session, hub, referral, partner, approved_by=approved_by or f"deal registration #{registration.id}"
    )
    registration.referral_id = referral.id
    registration.protected_until = now + timedelta(days=hub.program.registrations.protection_days)
    _set(
        registration,
        "approved",
        f"approved by {approved_by}" if approved_by else None,
        by=approved_by or AUTOMATIC,
    )
    notify(
        session,
        mail_settings=hub.settings.sendgrid,
        kind="registration_approved",
        to_email=partner.email,
        partner_id=partner.id,
        natural_key=f"registration-approved:{registration.id}",
        context=_context(
            partner,
            registration,
            tracking_id=referral.tracking_id,
            protected_until=registration.protected_until.isoformat(),
        ),
    )


def decline(
    session: Session, hub: ProgramContext, registration: DealRegistration, *, reason: str, by: str = AUTOMATIC
) -> None:
    partner = session.get(Partner, registration.partner_id)
    assert partner is not None
    _set(registration, "declined", reason, by=by)
    notify(
        session,
        mail_settings=hub.settings.sendgrid,
        kind="registration_declined",
        to_email=partner.email,
        partner_id=partner.id,
        natural_key=f"registration-declined:{registration.id}",
        context=_context(partner, registration, reason=reason),
    )


def decide(
    session: Session, hub: ProgramContext, registration_id: int, *, approve_it: bool, actor: str, reason: str
) -> DealRegistration:
    """An admin's decision on a held registration (or an override of an automatic one that has
    not produced a CRM deal yet), audited."""
    from hub.program import clock

    registration = session.get(DealRegistration, registration_id, with_for_update=True)
    if registration is None:
        raise NotFound(f"no deal registration #{registration_id}")
    if registration.status not in ("held_for_review", "declined") or (
        not approve_it and registration.status == "declined"
    ):
        raise InvalidState(f"the registration is {registration.status}")
    before = {"status": registration.status, "reason": registration.reason}
    if approve_it:
        approve(session, hub, registration, now=clock.now(hub), approved_by=actor)
    else:
        decline(session, hub, registration, reason=reason, by=actor)
    session.add(
        AuditEntry(
            actor=actor,
            action="registration.approve" if approve_it else "registration.decline",
            subject=f"registration:{registration.id}",
            before=before,
            after={"status": registration.status, "reason": reason},
            at=utcnow(),
        )
    )
    return registration
