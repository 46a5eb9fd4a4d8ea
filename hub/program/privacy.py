"""Forgetting a person: a CRM deletion, a CRM privacy request, or ``partnerhub privacy forget``.

What the hub holds about a person (a referred contact, or a partner's own contact details) is
anonymized everywhere it was copied: the referral's contact fields, the stored provider events and
outbox payloads, notification addresses, audit snapshots, the partner's own name and address, a
payment provider's customer record (its email and name; its attribution and revenue stay).
Money stays: ledger entries, deals, payouts and their amounts are untouched, so statements and
totals still add up. The audit entry names the request by a hash of the address, never the address.

Matching is on the address (case-insensitive) and, for a CRM deletion, on the CRM contact id the
referrals recorded. Each JSON document that mentions the address has every string containing it
(and the person's name, where the hub knew it) replaced by ``[forgotten]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from hub.pipeline.models import InboxEvent, OutboxItem
from hub.pipeline.store import utcnow
from hub.program.models import (
    AuditEntry,
    Notification,
    Partner,
    PaymentCustomer,
    Referral,
)

FORGOTTEN = "[forgotten]"

#: (model, JSON columns) scanned for the address
_DOCUMENTS: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (InboxEvent, ("payload",)),
    (OutboxItem, ("payload", "result")),
    (Referral, ("history",)),
    (AuditEntry, ("before", "after")),
    (PaymentCustomer, ("properties",)),
)


@dataclass
class Forgotten:
    """What one request anonymized, by kind of record (counts only)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def _scrub(value: Any, needles: tuple[str, ...]) -> tuple[Any, bool]:
    """``value`` with every string mentioning a needle replaced; (new value, changed)."""
    if isinstance(value, str):
        lowered = value.lower()
        if any(n in lowered for n in needles):
            return FORGOTTEN, True
        return value, False
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            out[key], hit = _scrub(item, needles)
            changed |= hit
        return out, changed
    if isinstance(value, list):
        items = [_scrub(item, needles) for item in value]
        return [item for item, _ in items], any(hit for _, hit in items)
    return value, False


def forget(
    session: Session,
    *,
    email: str | None,
    actor: str,
    crm: str | None = None,
    contact_id: str | None = None,
    reason: str = "request",
) -> Forgotten:
    """Anonymize one person, in the caller's transaction. ``email`` and/or (``crm``,
    ``contact_id``) say who. Safe to run twice (the second run finds nothing left)."""
    report = Forgotten()
    emails = {email.strip().lower()} if email else set()
    names: set[str] = set()
    referral_filters: list[ColumnElement[bool]] = []
    if emails:
        referral_filters.append(func.lower(Referral.contact_email).in_(emails))
    if crm and contact_id:
        referral_filters.append(and_(Referral.crm == crm, Referral.crm_contact_id == str(contact_id)))
    referrals = list(session.scalars(select(Referral).where(or_(*referral_filters)))) if referral_filters else []
    for referral in referrals:
        if referral.contact_email:
            emails.add(referral.contact_email.lower())
        if referral.contact_name and len(referral.contact_name.strip()) >= 3:
            names.add(referral.contact_name.strip().lower())
    for partner in session.scalars(select(Partner).where(func.lower(Partner.email).in_(emails))) if emails else ():
        names.add(partner.name.strip().lower())
        partner.name = FORGOTTEN
        partner.email = f"forgotten-{partner.id}@invalid.invalid"
        partner.api_key_hash = None
        partner.status = "forgotten"
        report.add("partner")
    if not emails and not referrals:
        return report
    for referral in referrals:
        referral.contact_email = None
        referral.contact_name = FORGOTTEN if referral.contact_name else None
        referral.notes = FORGOTTEN if referral.notes else None
        referral.updated_at = utcnow()
        report.add("referral")
    for notification in (
        session.scalars(select(Notification).where(func.lower(Notification.to_email).in_(emails))) if emails else ()
    ):
        notification.to_email = FORGOTTEN
        report.add("notification")
    for customer in (
        session.scalars(select(PaymentCustomer).where(func.lower(PaymentCustomer.email).in_(emails))) if emails else ()
    ):
        if customer.name and len(customer.name.strip()) >= 3:
            names.add(customer.name.strip().lower())
        customer.email = None
        customer.name = FORGOTTEN if customer.name else None
        report.add("payment_customer")
    needles = tuple(sorted(emails | names))
    if needles:
        for model, columns in _DOCUMENTS:
            report.add(model.__tablename__, _scrub_documents(session, model, columns, needles))
    session.add(
        AuditEntry(
            actor=actor,
            action="privacy.forget",
            subject=f"email-sha256:{email_digest(email) if email else '-'}",
            before=None,
            after={"reason": reason, "crm": crm, "contact_id": contact_id, "anonymized": report.counts},
            at=utcnow(),
        )
    )
    return report


def _scrub_documents(session: Session, model: Any, columns: Iterable[str], needles: tuple[str, ...]) -> int:
    """Rows of ``model`` whose JSON columns mention a needle, scrubbed; returns how many."""
    columns = tuple(columns)
    mention = or_(
        *(
            func.lower(cast(getattr(model, column), Text)).contains(needle, autoescape=True)
            for column in columns
            for needle in needles
        )
    )
    count = 0
    for row in session.scalars(select(model).where(mention)):
        touched = False
        for column in columns:
            value, hit = _scrub(getattr(row, column), needles)
            if hit:
                setattr(row, column, value)
                touched = True
        count += touched
    return count


def is_person_deletion(object_type: str, event_type: str) -> bool:
    """A CRM event that means "this person is gone": ``contact.deletion`` or
    ``contact.privacyDeletion`` (the canonical event types every CRM connector emits)."""
    return object_type == "contact" and event_type.rpartition(".")[2] in ("deletion", "privacyDeletion")


def email_in(payload: Any) -> str | None:
    """The person's address in a CRM deletion event, where the connector could include it."""
    if not isinstance(payload, dict):
        return None
    for key in ("email", "Email"):
        if isinstance(payload.get(key), str) and "@" in payload[key]:
            return str(payload[key])
    for nested in ("properties", "previous", "data"):
        found = email_in(payload.get(nested))
        if found:
            return found
    return None
