"""E-mail partners send to the hub (``inbound_email`` records, ``mappings/sendgrid/inbound_parse.yaml``):

* ``route: referral`` — a partner forwarded an introduction to the referral address (or copied
  it): the introduced contact (``hub.introductions``) becomes a referral for that partner through
  ``hub.referrals.submit``, exactly like an API referral (same validation, same conflict check
  afterwards). The e-mail's Message-ID is the idempotency key, so the same e-mail delivered or
  forwarded twice makes one referral.
* ``route: reply`` — a reply to one of the hub's e-mails: the partner's activity
  (``hub.partners.record_activity``), which stops re-engagement sequences.

Only mail from an active partner's own address is used (``hub.screening`` already refused the
rest at the door; checked again here), and the sender was proven by SPF and DKIM before it was
stored (the connector's job). Nothing else is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from hub.mapping import Canonical
from hub.pipeline.unit_of_work import owe_inbox
from hub.program import referrals
from hub.program.email.introductions import find_introduction
from hub.program.errors import IdempotencyConflict
from hub.program.partners import record_activity
from hub.program.screening import partner_by_email
from hub.program.submission import ReferralIn  # the same rules as an API referral

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hub.program.context import ProgramContext


def apply(session: Session, hub: ProgramContext, change: Canonical) -> str:
    f = change.fields
    partner = partner_by_email(session, f.get("sender"))
    if partner is None:
        return "unknown_sender"
    route = str(f.get("route") or "other")
    if route == "reply":
        record_activity(session, partner)
        return "reply:activity"
    if route != "referral":
        return "ignored"
    intro = find_introduction(
        text=f.get("text"),
        to=f.get("recipients") or [],
        cc=f.get("cc") or [],
        partner_email=partner.email,
        hub_addresses=f.get("delivered_to") or [],
    )
    if intro is None:
        return "referral:no_contact"
    domain = None if hub.program.attribution.is_free_mail(intro.company_domain) else intro.company_domain
    subject = str(f.get("subject") or "").strip()
    try:
        body = ReferralIn(
            company_name=intro.company_name,
            company_domain=domain,
            contact_name=intro.contact_name,
            contact_email=intro.contact_email,
            notes=f"Forwarded by e-mail: {subject}"[:5000] if subject else "Forwarded by e-mail",
        )
    except ValidationError:
        return "referral:invalid_contact"
    key = f"email:{f.get('message_id') or change.key}"[:255]
    try:
        submission = referrals.submit(session, partner, body.model_dump(), idempotency_key=key)
    except IdempotencyConflict:
        return "referral:duplicate"
    record_activity(session, partner)
    if submission.event_id is not None:
        owe_inbox(session, [submission.event_id])
    return f"referral:{'created' if submission.created else 'duplicate'}"
