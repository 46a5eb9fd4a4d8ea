"""Notifications: the emails partners, deal owners and the admin receive.

An email is owed like any other effect (ARCHITECTURE.md invariant 2): ``notify`` renders it, then
in the caller's transaction inserts the ``notifications`` row under its natural key and the
outbox row that sends it through SendGrid. The same natural key twice owes nothing new. The
outbox marks the notification ``sent`` only on SendGrid's 202 (``record_sent``, its on-done
step for ``send_email``); issue 6's Event Webhook moves it on (delivered, bounced…).

Templates are files, ``<templates>/email/<kind>/{subject.txt,body.txt,body.html}``, rendered in
jinja2's immutable sandbox: the HTML part is autoescaped, the text parts are not, and a variable
a template needs but the caller did not give is an error (``StrictUndefined``), so a partner never
gets "Hi ," or a "None". Variants live beside the default and are chosen whole: all three
parts come from the first folder of ``variant_dirs`` that has a ``subject.txt``. A partner's
mail is looked up by its locale (``Partner.locale``, falling back ``de-AT`` -> ``de`` -> the
default) and, within each locale, by its segment, then its country, then neither::

    email/<kind>/de-AT/segment-smb/   email/<kind>/de-AT/country-AT/   email/<kind>/de-AT/
    email/<kind>/de/segment-smb/      email/<kind>/de/country-AT/      email/<kind>/de/
    email/<kind>/segment-smb/         email/<kind>/country-AT/         email/<kind>/

(the ``segment-``/``country-`` prefixes keep a segment such as ``smb`` from being read as a
language). Filters for templates: ``money(currency)`` (integer minor units, ISO 4217 exponent),
``date``, ``label``.

Before owing a partner's mail, ``notify`` checks that it may be sent: a partner whose address
bounced or reported spam (``Partner.email_status``) and a partner who opted out of the kind's
unsubscribe group (``EmailPreference``, kinds mapped to groups by
``PARTNERHUB_SENDGRID__UNSUBSCRIBE_GROUPS``) get none; the notification is still recorded, as
``suppressed`` or ``skipped`` with the reason, so the admin sees what was not sent and why.

Partner emails always say whom to contact when automation does not fit: their layout names the
partner manager (``partner_manager`` in the context; ``None`` names the partner team instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import structlog
from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session

from connectors.errors import ConfigurationError
from connectors.sendgrid import Address, OutboundEmail, SendGridSettings
from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.models import OutboxItem
from hub.pipeline.outbox import owe
from hub.pipeline.store import rowcount, utcnow
from hub.program.email.preferences import opted_out
from hub.program.email.templates import (
    EmailTemplates,
    templates_for,
)
from hub.program.models import Notification, Partner

log = structlog.get_logger(__name__)


PARTNER_KINDS: Final = frozenset(
    {"referral_received", "referral_held", "referral_declined", "referral_status", "deal_closed"}
)
ADMIN_ALERT: Final = "admin_alert"
#: kinds whose body holds a one-time link: erased from the outbox row once SendGrid took it
ONE_TIME_LINK_KINDS: Final = frozenset({"application_confirm"})
ERASED: Final = "[erased after sending: it held a one-time link]"
EMAIL_ACTION: Final = "send_email"
EMAIL_CONNECTOR: Final = "sendgrid"
#: the payload key of what is filled in at send time (``notify(at_send=...)``)
AT_SEND: Final = "at_send"


class NotificationStatus:
    QUEUED = "queued"  # owed; the outbox has not had SendGrid's 202 yet
    SENT = "sent"  # SendGrid answered 202 (queued there, not yet delivered)
    SUPPRESSED = "suppressed"  # not sent: the partner's address bounced or reported spam
    SKIPPED = "skipped"  # not sent: the partner opted out of this kind's unsubscribe group
    # later statuses come from the provider's events: see hub.email_events


# -- owing and recording ------------------------------------------------------------------------


def notify(
    session: Session,
    *,
    kind: str,
    to_email: str,
    context: Mapping[str, Any],
    natural_key: str,
    partner_id: int | None = None,
    locale: str | None = None,
    custom_args: Mapping[str, Any] | None = None,
    to_name: str | None = None,
    reply_to: str | None = None,
    templates: EmailTemplates | None = None,
    owed: list[int] | None = None,
    mail_settings: SendGridSettings | None = None,
    ungrouped: bool = False,
    click_tracking: bool | None = None,
    at_send: Mapping[str, Any] | None = None,
    priority: bool = False,
) -> int | None:
    """Owe one email, in the caller's transaction: the ``notifications`` row (unique
    ``natural_key``) and the outbox row that sends it. Returns the notification id, or ``None``
    when that natural key was already notified (nothing is written).

    ``custom_args`` (e.g. ``tracking_id``) travel with the mail and come back on every SendGrid
    event, with ``notification_id`` and ``partner_id``. ``owed`` collects the new outbox id so the
    caller can enqueue it after commit (otherwise the reconciler finds it on its next pass).
    A partner's mail (``partner_id``) uses the partner's locale (unless ``locale`` is given),
    segment and country for the template, and is recorded but not sent when the partner's
    address bounced or the partner opted out of the kind's unsubscribe group.

    ``mail_settings``: the process's e-mail settings (``Settings.sendgrid``: unsubscribe groups,
    reply address); callers in the domain pass their context's.

    ``ungrouped``: outside every unsubscribe group (a sign-in link); ``click_tracking=False``:
    SendGrid leaves the links alone; ``at_send``: what the outbox's send-time step
    (``hub.program.handlers.outbox_preparers``) fills in just before the mail goes, kept in the
    payload under ``at_send`` instead of anything secret; ``priority``: enqueued ahead of
    the backlog.

    Raises ``ConfigurationError`` for a template that is missing or cannot render with this
    context, and for a recipient SendGrid would refuse."""
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    mail = mail_settings or SendGridSettings()
    group = None if ungrouped else mail.unsubscribe_groups.get(kind)
    rendered = (templates or templates_for()).render(
        kind,
        context,
        locale=locale or (partner.locale if partner else None),
        segment=partner.segment if partner else None,
        country=partner.country if partner else None,
    )
    status, reason = _may_send(session, partner, to_email, group)
    try:
        to = Address(email=to_email, name=to_name)
        reply = Address(email=reply_to) if reply_to else None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigurationError(
            f"notification {kind} ({natural_key}): recipient or reply-to address: {first['msg']}"
        ) from None
    now = utcnow()
    ids = insert_ignoring_conflicts(
        session,
        Notification,
        [
            {
                "natural_key": natural_key,
                "partner_id": partner_id,
                "kind": kind,
                "to_email": to_email,
                "subject": rendered.subject,
                "status": status,
                "status_reason": reason,
                "created_at": now,
                "updated_at": now,
            }
        ],
        ("natural_key",),
    )
    if not ids:
        return None
    notification_id = ids[0]
    if status != NotificationStatus.QUEUED:
        log.info("notification not sent", notification_id=notification_id, kind=kind, status=status)
        return notification_id
    if reply is None and partner is not None and mail.reply_address:
        reply = Address(email=reply_address_for(mail.reply_address, notification_id))
    args = {str(k): str(v) for k, v in (custom_args or {}).items() if v is not None}
    if partner_id is not None:
        args["partner_id"] = str(partner_id)
    args["notification_id"] = str(notification_id)
    email = OutboundEmail(
        notification_id=notification_id,
        kind=kind,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=reply,
        custom_args=args,
        categories=[kind],
        asm_group_id=group,
        click_tracking=click_tracking,
    )
    payload = email.model_dump(mode="json", by_alias=True, exclude_none=True)
    if at_send:
        payload[AT_SEND] = dict(at_send)
    item_id = owe(
        session,
        natural_key=outbox_key(notification_id),
        connector=EMAIL_CONNECTOR,
        action=EMAIL_ACTION,
        payload=payload,
        idempotency_key=natural_key,
        first=priority,
    )
    if owed is not None and item_id is not None:
        owed.append(item_id)
    return notification_id


def reply_address_for(reply_address: str, notification_id: int) -> str:
    """``replies@parse.example.com`` -> ``replies+n42@parse.example.com``: a reply names the
    notification it answers (Inbound Parse routes it back as the partner's activity)."""
    local, _, domain = reply_address.strip().partition("@")
    return f"{local}+n{notification_id}@{domain}"


def _may_send(session: Session, partner: Partner | None, to_email: str, group: int | None) -> tuple[str, str | None]:
    """(status, reason) for a new notification: ``queued``, or why it is not sent."""
    if partner is None:
        return NotificationStatus.QUEUED, None
    if partner.email_status != "ok" and to_email.strip().lower() == partner.email.lower():
        return NotificationStatus.SUPPRESSED, f"the partner's address is marked {partner.email_status}"
    if opted_out(session, partner.id, group):
        return NotificationStatus.SKIPPED, f"the partner unsubscribed from group {group}"
    return NotificationStatus.QUEUED, None


def outbox_key(notification_id: int) -> str:
    """The natural key of the outbox row that sends a notification."""
    return f"email:notification:{notification_id}"


def mark_sent(session: Session, notification_id: int, message_id: str | None) -> bool:
    """SendGrid accepted the mail (202): ``queued`` becomes ``sent`` with its message id. A
    status already moved on by a later event (issue 6) is kept; only a missing id is filled in.
    Returns whether the status changed to ``sent``."""
    now = utcnow()
    moved = rowcount(
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == NotificationStatus.QUEUED)
            .values(status=NotificationStatus.SENT, provider_message_id=message_id, updated_at=now)
        )
    )
    if not moved:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.provider_message_id.is_(None))
            .values(provider_message_id=message_id, updated_at=now)
        )
    return bool(moved)


def record_sent(session: Session, item: OutboxItem) -> None:
    """The outbox's on-done step for ``send_email``: run in the transaction that marks the item
    done, after ``item.result`` is set, so the notification is ``sent`` exactly when the outbox
    row is ``done``."""
    notification_id = (item.payload or {}).get("notification_id")
    if notification_id is None:
        return
    message_id = (item.result or {}).get("message_id")
    mark_sent(session, int(notification_id), None if message_id is None else str(message_id))
    if item.payload.get("kind") in ONE_TIME_LINK_KINDS:  # no usable link stays in the outbox
        item.payload = {**item.payload, "text": ERASED, "html": ERASED}
