"""What happened to the e-mails the hub sent: ``notification_event`` records (the e-mail
provider's delivery and engagement events, ``mappings/sendgrid/events.yaml``) applied to the
notifications, the partners' address status and their unsubscribe choices.

* The notification is found by its id (a custom arg sent with every mail), else by the
  provider's message id (SendGrid's ``sg_message_id`` starts with the ``X-Message-Id`` the send
  answered with).
* Its status only moves forward: ``sent < processed < deferred < delivered < unsubscribed <
  dropped/blocked/bounced < spam_reported``. Events arrive in any order and more than once; a
  ``delivered`` arriving after a ``bounce`` does not un-bounce it, a repeat changes nothing.
* A hard bounce, a drop because the address bounced before or is invalid, and a spam report stop
  all further mail to that partner's address (``Partner.email_status``; ``hub.notifications``
  suppresses before owing mail) and flag the partner for a person. A ``blocked`` bounce (the
  receiving server refused this one message) is recorded on the notification only.
* Any event for a notification proves SendGrid accepted its mail: an outbox row parked
  ``unknown`` (its 202 was lost to a timeout) is settled as done and its alert resolved, with no
  resend and no person needed.
* ``open`` / ``click`` stamp the notification's first engagement (``engaged_at``: the health
  score's e-mail signal, ``hub.program.health``).
* ``group_unsubscribe`` / ``group_resubscribe`` / ``unsubscribe`` record the partner's choice per
  unsubscribe group (``EmailPreference``; a plain unsubscribe without a group is group 0, every
  group), newest event wins; the hub then skips the kinds of that group itself.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.mapping import Canonical
from hub.pipeline.alerts import resolve_alert
from hub.pipeline.models import OutboxItem, WorkState
from hub.pipeline.store import utcnow
from hub.program.email.notify import NotificationStatus, outbox_key
from hub.program.email.preferences import GLOBAL_GROUP, record_choice
from hub.program.models import Notification, Partner
from hub.program.partners import flag

#: the notification status each event stands for (open, click: engagement, no status)
STATUS_OF_EVENT = {
    "processed": "processed", "deferred": "deferred", "delivered": "delivered",
    "bounce": "bounced", "dropped": "dropped", "spamreport": "spam_reported",
    "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed",
}  # fmt: skip
#: statuses only move up this order
RANK = {
    "queued": 0, "sent": 1, "processed": 2, "deferred": 3, "delivered": 4, "unsubscribed": 5,
    "dropped": 6, "blocked": 6, "bounced": 6, "spam_reported": 7,
}  # fmt: skip
_DROPPED_BOUNCED = re.compile(r"bounced address|invalid", re.I)
_DROPPED_SPAM = re.compile(r"spam report", re.I)


def apply(session: Session, change: Canonical) -> str:
    """Apply one event; returns the inbox outcome (what it changed)."""
    f = change.fields
    event = str(f.get("event") or "")
    notification = _notification(session, f)
    partner = _partner(session, f, notification)
    done = []
    status = STATUS_OF_EVENT.get(event)
    if event == "bounce" and str(f.get("bounce_type") or "").lower() == "blocked":
        status = "blocked"
    if notification is not None and _settle_unknown_send(session, notification):
        done.append("send:settled")
    if notification is not None and status is not None:
        if RANK.get(status, 0) > RANK.get(notification.status, 0):
            notification.status = status
            notification.status_reason = _short(f.get("reason") or f.get("status"))
            notification.updated_at = utcnow()
            done.append(f"status:{status}")
        else:
            done.append("status:kept")
    if notification is not None and event in ("open", "click") and notification.engaged_at is None:
        notification.engaged_at = utcnow()
        done.append("engaged")
    own_address = partner is not None and str(f.get("email") or "").lower() == partner.email.lower()
    stop = _stops_mail(event, f)
    if stop and own_address:
        assert partner is not None
        if partner.email_status != stop:
            partner.email_status = stop
            done.append(f"partner:{stop}")
        what = "bounced" if stop == "bounced" else "was reported as spam"
        flag(
            session,
            partner,
            f"e-mail to the partner's address {what}; no more mail is sent to it until a person fixes the address",
        )
    if event in ("group_unsubscribe", "group_resubscribe", "unsubscribe") and partner is not None:
        group = f.get("asm_group_id")
        group = int(group) if group is not None else GLOBAL_GROUP
        occurred = f.get("occurred_at")
        at = occurred if isinstance(occurred, datetime) else utcnow()
        if record_choice(session, partner, group, opted_out=event != "group_resubscribe", at=at):
            done.append(f"group:{group}:{'out' if event != 'group_resubscribe' else 'in'}")
    if notification is None and not done:
        return "no_notification"
    return ",".join(done)[:64] or "recorded"


def _settle_unknown_send(session: Session, notification: Notification) -> bool:
    """The send whose answer was lost did reach SendGrid: finish its parked outbox row."""
    item = session.scalars(
        select(OutboxItem)
        .where(OutboxItem.natural_key == outbox_key(notification.id), OutboxItem.state == WorkState.UNKNOWN)
        .with_for_update()
    ).first()
    if item is None:
        return False
    now = utcnow()
    item.state, item.finished_at = WorkState.DONE, now
    item.result = {"message_id": None, "settled_by": "sendgrid event"}
    if notification.status == NotificationStatus.QUEUED:
        notification.status, notification.updated_at = NotificationStatus.SENT, now
    resolve_alert(session, f"outcome_unknown:outbox:{item.id}")
    return True


def _stops_mail(event: str, f: dict[str, Any]) -> str | None:
    """``bounced`` / ``spam_report`` when the event means the address must get no more mail."""
    if event == "bounce" and str(f.get("bounce_type") or "bounce").lower() != "blocked":
        return "bounced"
    if event == "spamreport":
        return "spam_report"
    if event == "dropped":
        reason = str(f.get("reason") or "")
        if _DROPPED_SPAM.search(reason):
            return "spam_report"
        if _DROPPED_BOUNCED.search(reason):
            return "bounced"
    return None


def _notification(session: Session, f: dict[str, Any]) -> Notification | None:
    raw_id = str(f.get("notification_id") or "")
    if raw_id.isdigit():
        found = session.get(Notification, int(raw_id), with_for_update=True)
        if found is not None:
            return found
    message_id = str(f.get("provider_message_id") or "").split(".")[0]
    if message_id:
        return session.scalars(
            select(Notification).where(Notification.provider_message_id == message_id).with_for_update()
        ).first()
    return None


def _partner(session: Session, f: dict[str, Any], notification: Notification | None) -> Partner | None:
    if notification is not None and notification.partner_id is not None:
        return session.get(Partner, notification.partner_id)
    raw_id = str(f.get("partner_id") or "")
    if raw_id.isdigit():
        return session.get(Partner, int(raw_id))
    email = str(f.get("email") or "").lower()
    if not email:
        return None
    return session.scalars(select(Partner).where(func.lower(Partner.email) == email)).first()


def _short(value: Any) -> str | None:
    return None if value in (None, "") else str(value)[:500]
