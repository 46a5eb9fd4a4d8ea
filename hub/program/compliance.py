"""Compliance and renewals: certifications and agreements (``Credential``) with expiry dates.

The daily pass (``run``, from ``hub.program.tick``) sends each partner one reminder per offset
of ``compliance.remind_days_before`` (e.g. 30 and 7 days before expiry: the nearest offset
already reached; an offset passed over while the hub was down is not sent late), and on expiry
tells the partner and its manager once. Benefits that require the credential
(``hub.program.conditions``: deal registration, commission rules, portal features) close by
themselves at expiry, since each is checked against valid credentials when it is used; a renewal
(a new expiry, ``onboarding.grant``) reopens them and, its expiry being new, gets its own
reminders. Every message has a natural key naming the credential and its expiry date, so a pass
run twice, or after a restart, never sends one twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.program.email.notify import notify
from hub.program.models import Credential, Notification, Partner

if TYPE_CHECKING:
    from hub.program.context import ProgramContext


def _key(credential: Credential, what: str) -> str:
    assert credential.expires_at is not None
    return f"credential-{what}:{credential.id}:{credential.expires_at.date().isoformat()}"


def run(session: Session, hub: ProgramContext, now: datetime) -> dict[str, int]:
    offsets = hub.program.compliance.remind_days_before
    horizon = now + timedelta(days=max(offsets, default=0))
    counts = {"reminded": 0, "expired": 0}
    due: list[tuple[Credential, str, int | None]] = []
    for credential in session.scalars(
        select(Credential)
        .where(Credential.expires_at.is_not(None), Credential.expires_at <= horizon)
        .order_by(Credential.id)
    ):
        assert credential.expires_at is not None
        if credential.expires_at <= now:
            due.append((credential, _key(credential, "expired"), None))
            continue
        reached = [d for d in offsets if credential.expires_at - timedelta(days=d) <= now]
        if reached:
            nearest = min(reached)
            due.append((credential, _key(credential, f"expiring-{nearest}d"), nearest))
    if not due:
        return counts
    keys = [k for _, k, _ in due]
    sent = set()
    for start in range(0, len(keys), 500):
        sent |= set(
            session.scalars(
                select(Notification.natural_key).where(Notification.natural_key.in_(keys[start : start + 500]))
            )
        )
    todo = [(c, k, d) for c, k, d in due if k not in sent]
    partners = (
        {p.id: p for p in session.scalars(select(Partner).where(Partner.id.in_({c.partner_id for c, _, _ in todo})))}
        if todo
        else {}
    )
    for credential, key, days in todo:
        partner = partners[credential.partner_id]
        if partner.status != "active":
            continue
        assert credential.expires_at is not None
        context = {
            "partner_name": partner.name,
            "partner_manager": partner.partner_manager,
            "segment": partner.segment,
            "locale": partner.locale,
            "credential": credential.name.replace("_", " "),
            "kind": credential.kind,
            "expires_at": credential.expires_at.date().isoformat(),
        }
        if days is not None:
            notify(
                session,
                mail_settings=hub.settings.sendgrid,
                kind="credential_expiring",
                to_email=partner.email,
                partner_id=partner.id,
                natural_key=key,
                context={**context, "days": days},
            )
            counts["reminded"] += 1
            continue
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="credential_expired",
            to_email=partner.email,
            partner_id=partner.id,
            natural_key=key,
            context=context,
        )
        manager = partner.partner_manager or hub.settings.admin_email
        if manager and "@" in manager:
            notify(
                session,
                mail_settings=hub.settings.sendgrid,
                kind="credential_expired_manager",
                to_email=manager,
                natural_key=key + ":manager",
                context={**context, "partner_email": partner.email},
            )
        counts["expired"] += 1
    return counts
