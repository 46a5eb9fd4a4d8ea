"""Partners and their API keys.

A key is shown once, when it is made: ``ph_live_`` + 32 random bytes (URL-safe base64). Only its
SHA-256 is stored. The keys are long random strings, so a fast hash is as safe as a slow one
here and lets a request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.bounds import is_mail_address
from hub.pipeline.store import utcnow
from hub.program.errors import InvalidInput
from hub.program.models import Partner

KEY_PREFIX = "ph_live_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewPartner:
    partner: Partner
    api_key: str  # shown once


def add_partner(
    session: Session,
    *,
    name: str,
    email: str,
    region: str | None = None,
    segment: str | None = None,
    tier: str | None = None,
    partner_manager: str | None = None,
) -> NewPartner:
    address = email.strip().lower()
    if not is_mail_address(address):
        raise InvalidInput(f"not an e-mail address: {email!r} (one local@domain.tld)")
    key = new_key()
    partner = Partner(
        name=name.strip(),
        email=address,
        region=region,
        segment=segment,
        segment_attribute=segment,
        tier=tier,
        partner_manager=partner_manager,
        api_key_hash=hash_key(key),
        status="active",
        created_at=utcnow(),
    )
    session.add(partner)
    session.flush()
    return NewPartner(partner, key)


def rotate_key(session: Session, partner: Partner) -> str:
    key = new_key()
    partner.api_key_hash = hash_key(key)
    return key


_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


def set_locale(session: Session, partner: Partner, locale: str | None) -> None:
    """The language of the partner's mail (``de``, ``de-AT``; empty: the default templates)."""
    value = (locale or "").strip() or None
    if value is not None and not _LOCALE.match(value):
        raise InvalidInput("a language is written like de or de-AT")
    partner.locale = value


def partner_for_key(session: Session, key: str) -> Partner | None:
    if not key.startswith(KEY_PREFIX):
        return None
    partner = session.scalars(select(Partner).where(Partner.api_key_hash == hash_key(key))).first()
    if partner is None or partner.status != "active":
        return None
    return partner


def record_activity(session: Session, partner: Partner, *, at: datetime | None = None) -> None:
    """The partner showed a sign of life (a referral, an API call, a reply to our email): what
    re-engagement sequences stop on. Never moves the stamp backwards."""
    at = at or utcnow()
    if partner.last_activity_at is None or at > partner.last_activity_at:
        partner.last_activity_at = at


def flag(session: Session, partner: Partner, reason: str) -> None:
    """Ask a person to look at this partner (shown in the admin API and ``partners list``)."""
    if partner.flag_reason != reason:
        partner.flag_reason = reason
        partner.flagged_at = utcnow()


#: what an operator may edit on a partner record (the tier goes through ``tiers.set_tier``)
EDITABLE = ("name", "email", "region", "segment", "partner_manager", "locale", "country")
STATUSES = ("active", "paused", "inactive")


def edit(
    session: Session, partner: Partner, changes: dict[str, str | None], *, actor: str, reason: str
) -> dict[str, Any]:
    """An operator's edit of a partner's details (audited, before and after); returns what
    changed. An address another partner holds is refused."""
    from hub.program.errors import InvalidInput
    from hub.program.models import AuditEntry

    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot edit {', '.join(sorted(unknown))}")
    if "name" in changes and not (changes["name"] or "").strip():
        raise InvalidInput("a partner needs a name")
    if "email" in changes:
        email = (changes["email"] or "").strip().lower()
        if not is_mail_address(email):
            raise InvalidInput("a partner needs an e-mail address (one local@domain.tld)")
        taken = session.scalars(select(Partner.id).where(Partner.email == email, Partner.id != partner.id)).first()
        if taken is not None:
            raise InvalidInput("another partner has this address")
        changes = {**changes, "email": email}
    before, after = {}, {}
    for field, value in changes.items():
        value = (value or "").strip() or None
        if getattr(partner, field) != value:
            before[field], after[field] = getattr(partner, field), value
            setattr(partner, field, value)
    if after:
        session.add(
            AuditEntry(
                actor=actor,
                action="partner.edit",
                subject=f"partner:{partner.id}",
                before=before,
                after={**after, "reason": reason},
                at=utcnow(),
            )
        )
    return after


def set_status(session: Session, partner: Partner, status: str, *, actor: str, reason: str) -> bool:
    """Activate, pause or deactivate a partner (audited). A partner that is not active loses its
    users' sessions at once and its API key stops working (``partner_for_key``)."""
    from hub.program.access import revoke_partner_sessions
    from hub.program.errors import InvalidInput
    from hub.program.models import AuditEntry

    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    if partner.status == status:
        return False
    session.add(
        AuditEntry(
            actor=actor,
            action="partner.status",
            subject=f"partner:{partner.id}",
            before={"status": partner.status},
            after={"status": status, "reason": reason},
            at=utcnow(),
        )
    )
    partner.status = status
    if status != "active":
        revoke_partner_sessions(session, partner.id)
    return True
