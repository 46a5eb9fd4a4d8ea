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

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.base import ConfigurationError
from connectors.sendgrid import Address, OutboundEmail, SendGridSettings
from hub import queue
from hub.inbox import insert_ignoring_conflicts
from hub.mapping.money import exponent, from_minor_units
from hub.email_events import opted_out
from hub.models import Alert, Notification, OutboxItem, Partner, utcnow
from hub.outbox import owe
from hub.settings import REPO_ROOT

if TYPE_CHECKING:
    from hub.context import Hub

log = structlog.get_logger(__name__)

#: the templates shipped with the code (``Settings.templates_dir`` defaults to it)
DEFAULT_TEMPLATES_DIR: Final = REPO_ROOT / "templates"
#: the parts of one email, by file name
PARTS: Final = ("subject.txt", "body.txt", "body.html")
#: kinds sent to partners: their layout names the partner manager
PARTNER_KINDS: Final = frozenset(
    {"referral_received", "referral_held", "referral_declined", "referral_status", "deal_closed"}
)
ADMIN_ALERT: Final = "admin_alert"
EMAIL_ACTION: Final = "send_email"
EMAIL_CONNECTOR: Final = "sendgrid"


class NotificationStatus:
    QUEUED = "queued"  # owed; the outbox has not had SendGrid's 202 yet
    SENT = "sent"  # SendGrid answered 202 (queued there, not yet delivered)
    SUPPRESSED = "suppressed"  # not sent: the partner's address bounced or reported spam
    SKIPPED = "skipped"  # not sent: the partner opted out of this kind's unsubscribe group
    # later statuses come from the provider's events: see hub.email_events


_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))*$")
_SYMBOLS: Final = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


# -- formatting (template filters) -------------------------------------------------------------


def format_money(minor: int, currency: str) -> str:
    """``123456, "USD" -> "$1,234.56"``, ``1500, "JPY" -> "¥1,500"``, ``1234, "KWD" ->
    "KWD 1.234"``: the ISO 4217 exponent decides the decimals; exact, no floats."""
    code = currency.upper()
    text = from_minor_units(minor, code)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = digits.partition(".")
    grouped = f"{int(whole):,}" + (f".{fraction}" if exponent(code) else "")
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{grouped}" if symbol else f"{sign}{code} {grouped}"


def format_date(value: date | datetime | str | None) -> str:
    """``2026-02-15 -> "February 15, 2026"`` (ISO text accepted); ``None`` -> "to be confirmed"."""
    if value is None or value == "":
        return "to be confirmed"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    day = value.date() if isinstance(value, datetime) else value
    return f"{day:%B} {day.day}, {day.year}"


def label(value: str) -> str:
    """A status word for people: ``demo_scheduled -> "Demo Scheduled"``."""
    return " ".join(word.capitalize() for word in str(value).replace("-", "_").split("_") if word)


# -- templates -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    #: the template folder used, relative to the templates dir (``email/referral_status/de``)
    variant: str


def normalize_locale(locale: str | None) -> str | None:
    """``de_de -> "de-DE"``; anything that is not a plain locale tag is ignored (``None``)."""
    if not locale or not _LOCALE.match(locale.strip()):
        return None
    parts = re.split(r"[-_]", locale.strip())
    first, rest = parts[0].lower(), parts[1:]
    return "-".join([first, *(p.upper() if len(p) == 2 else p for p in rest)])


_SLUG = re.compile(r"[^a-z0-9_-]+")


def variant_dirs(
    kind: str, locale: str | None = None, *, segment: str | None = None, country: str | None = None
) -> list[str]:
    """Folders to try, most specific first (see the module docstring): for the locale, then its
    language, then the default, each with the segment, then the country, then neither."""
    base = f"email/{kind}"
    tag = normalize_locale(locale)
    locales = []
    if tag:
        parts = tag.split("-")
        locales += [f"{base}/{'-'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    locales.append(base)
    qualifiers = []
    slug = _SLUG.sub("-", segment.strip().lower()).strip("-") if segment else ""
    if slug:
        qualifiers.append(f"segment-{slug}")
    if country and re.fullmatch(r"[A-Za-z]{2}", country.strip()):
        qualifiers.append(f"country-{country.strip().upper()}")
    candidates = [f"{folder}/{q}" for folder in locales for q in [*qualifiers, ""]]
    return [*dict.fromkeys(c.rstrip("/") for c in candidates)]


class EmailTemplates:
    """The templates folder, rendered in jinja2's immutable sandbox. Edits to the files are
    picked up on the next render (jinja2 checks modification times)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(str(self.directory)),
            autoescape=select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            auto_reload=True,
        )
        self.env.filters.update(money=format_money, date=format_date, label=label)

    def kinds(self) -> list[str]:
        root = self.directory / "email"
        return sorted(p.name for p in root.iterdir() if p.is_dir() and _KIND.match(p.name))

    def render(
        self, kind: str, context: Mapping[str, Any], *, locale: str | None = None,
        segment: str | None = None, country: str | None = None,
    ) -> RenderedEmail:
        if not _KIND.match(kind):
            raise ConfigurationError(f"notification kind {kind!r} is not a template name")
        variant = self._variant(kind, locale, segment, country)
        values = dict(context)
        parts = {}
        for part in PARTS:
            name = f"{variant}/{part}"
            try:
                parts[part] = self.env.get_template(name).render(values)
            except TemplateError as exc:
                where = f"{self.directory / name}" + (f":{exc.lineno}" if getattr(exc, "lineno", None) else "")
                raise ConfigurationError(f"{where}: {exc.message or type(exc).__name__}") from None
        subject = " ".join(parts["subject.txt"].split())
        if not subject:
            raise ConfigurationError(f"{self.directory / variant}/subject.txt renders empty")
        return RenderedEmail(
            subject=subject[:255],
            text=parts["body.txt"].strip() + "\n",
            html=parts["body.html"].strip() + "\n",
            variant=variant,
        )

    def _variant(self, kind: str, locale: str | None, segment: str | None, country: str | None) -> str:
        for folder in variant_dirs(kind, locale, segment=segment, country=country):
            if (self.directory / folder / PARTS[0]).is_file():
                return folder
        raise ConfigurationError(f"no templates for notification kind {kind!r} in {self.directory}/email")


@lru_cache(maxsize=8)
def templates_for(directory: Path = DEFAULT_TEMPLATES_DIR) -> EmailTemplates:
    """One renderer per templates folder per process."""
    return EmailTemplates(directory)


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

    Raises ``ConfigurationError`` for a template that is missing or cannot render with this
    context, and for a recipient SendGrid would refuse."""
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    mail = mail_settings or _mail_settings()
    group = mail.unsubscribe_groups.get(kind)
    rendered = (templates or templates_for()).render(
        kind, context, locale=locale or (partner.locale if partner else None),
        segment=partner.segment if partner else None, country=partner.country if partner else None)
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
    )
    item_id = owe(
        session,
        natural_key=outbox_key(notification_id),
        connector=EMAIL_CONNECTOR,
        action=EMAIL_ACTION,
        payload=email.model_dump(mode="json", by_alias=True, exclude_none=True),
        idempotency_key=natural_key,
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


def _mail_settings() -> SendGridSettings:
    """The process's e-mail settings (the open hub's, else the environment's)."""
    from hub import context

    hub = context._current
    if hub is not None:
        return hub.settings.sendgrid
    from hub.settings import load_settings

    return load_settings().sendgrid


def outbox_key(notification_id: int) -> str:
    """The natural key of the outbox row that sends a notification."""
    return f"email:notification:{notification_id}"


def mark_sent(session: Session, notification_id: int, message_id: str | None) -> bool:
    """SendGrid accepted the mail (202): ``queued`` becomes ``sent`` with its message id. A
    status already moved on by a later event (issue 6) is kept; only a missing id is filled in.
    Returns whether the status changed to ``sent``."""
    now = utcnow()
    moved = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.QUEUED)
        .values(status=NotificationStatus.SENT, provider_message_id=message_id, updated_at=now)
    ).rowcount
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


# -- admin alerts ----------------------------------------------------------------------------------


def alert_key(alert_id: int) -> str:
    """One email per alert row: a repeat of an open alert only bumps its count (emailing each
    count would loop when the alert is about mail itself); a resolved and re-raised alert is a
    new row and is emailed again."""
    return f"admin-alert:{alert_id}"


def deliver_alerts(hub: Hub, *, limit: int = 100) -> int:
    """Email the admin each open alert not delivered yet, once, and set its ``delivered_at`` in
    the same transaction. Returns how many were owed; the outbox ids are enqueued after commit.
    Does nothing (returns 0) when ``PARTNERHUB_ADMIN_EMAIL`` is unset."""
    admin = hub.settings.admin_email
    if not admin:
        return 0
    templates = templates_for(hub.settings.templates_dir)
    owed: list[int] = []
    with hub.sessions() as session, session.begin():
        alerts = list(
            session.scalars(
                select(Alert)
                .where(Alert.state == "open", Alert.delivered_at.is_(None))
                .order_by(Alert.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for alert in alerts:
            notify(
                session,
                mail_settings=hub.settings.sendgrid,
                kind=ADMIN_ALERT,
                to_email=admin,
                natural_key=alert_key(alert.id),
                context={
                    "alert_kind": alert.kind,
                    "alert_key": alert.key,
                    "severity": alert.severity,
                    "message": alert.message,
                    "count": alert.count,
                    "first_seen_at": alert.first_seen_at.isoformat(timespec="seconds"),
                    "last_seen_at": alert.last_seen_at.isoformat(timespec="seconds"),
                },
                custom_args={"alert_id": alert.id},
                templates=templates,
                owed=owed,
            )
            alert.delivered_at = utcnow()
    if owed:
        try:
            queue.enqueue(hub.redis, hub.settings.queue_prefix, queue.OUTBOX, owed)
        except Exception as exc:  # noqa: BLE001 - the reconciler enqueues them on its next pass
            log.warning("alert emails not enqueued; the reconciler will", error=str(exc))
    return len(alerts)
