"""SendGrid mail send (``POST /v3/mail/send``): the request body, and what each outcome means.

Mail send (§4.4, §4.6, and ``shared/specs/sendgrid/tsg_mail_v3.json``): the API key goes as a
Bearer token; a 202 means *queued*, and its ``X-Message-Id`` header prefixes the
``sg_message_id`` of every later event for that message. SendGrid offers no idempotency key, so
what is retried is decided here, by whether SendGrid can have accepted the message
(ARCHITECTURE.md invariant 2, "retried only on a clear failure"):

=====================================================  =========================================
outcome of one ``send_email`` call                     what happens
=====================================================  =========================================
202                                                    sent; ``{"message_id": X-Message-Id}``
429 (``X-RateLimit-Reset`` / ``Retry-After``)          ``RetriableError``: SendGrid refused it
5xx                                                    ``RetriableError``: SendGrid refused it
401 / 403                                              ``AuthenticationFailed``: dead letter + alert
other 4xx (400 bad request, 413 too large…)            ``FatalError`` with SendGrid's messages
no connection, connect timeout, pool timeout,          ``RetriableError``: the request never
write error or write timeout                           (completely) left the hub
read timeout, connection dropped before the answer     ``SendOutcomeUnknown``: **not retried**
=====================================================  =========================================

A read timeout (or a connection dropped while waiting for the answer) comes after the whole
request was written: SendGrid may have queued the message and only the 202 was lost. Sending
again could mail the partner twice, and nothing can make that retry safe, so it is not a clear
failure and is not retried: the outbox row waits in the ``unknown`` state with an alert,
naming the notification id. The Event Webhook settles most of these without a person: any
event carrying that ``notification_id`` (``processed``, ``delivered``, ``bounce``…) proves
SendGrid accepted the mail, so ``hub.email_events`` marks the parked row done and resolves its
alert; an admin replays the row (``partnerhub replay --outbox --id N``) only if no event came. Email is therefore *at least
once* overall — a worker that dies after the 202 but before its transaction commits leaves the
row to be re-run when its lease ends, and that mail goes out again — and held for a person in the
one case where a resend is a pure guess.

Rate limits: every mail-send answer's ``X-RateLimit-*`` headers are kept (``RateLimit``, by
``client``); when ``remaining`` is 0 the next send waits for ``reset`` without calling SendGrid
(``RetriableError`` with ``retry_after``), shared by all workers through Redis when the connector
has it. The transport rules of the table are ``client.SendGridApi``'s hooks on the shared pipeline
(``connectors.http``): a mail send is not repeatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from connectors.bounds import MAIL_ADDRESS_PATTERN, MAX_MAIL_ADDRESS
from connectors.errors import OutcomeUnknown
from connectors.sendgrid.settings import SendGridSettings

MAIL_SEND_PATH = "/v3/mail/send"


class SendOutcomeUnknown(OutcomeUnknown):
    """The request reached SendGrid but its answer did not reach us: the mail may be queued.

    Never retried blindly (an email cannot be made idempotent): the row waits as ``unknown`` for a
    person or a later lookup (the Event Webhook's events carry ``notification_id``)."""

    kind = "unknown"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """SendGrid's ``X-RateLimit-*`` headers: requests allowed, left, and when the window resets
    (Unix seconds)."""

    limit: int | None
    remaining: int | None
    reset_at: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        values = [_int_header(headers, f"x-ratelimit-{n}") for n in ("limit", "remaining", "reset")]
        if all(v is None for v in values):
            return None
        limit, remaining, reset = values
        return cls(limit, remaining, None if reset is None else float(reset))

    def wait_s(self, now: float) -> float | None:
        """Seconds until the window resets, or ``None`` when there is no reset time."""
        return None if self.reset_at is None else max(0.0, self.reset_at - now)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: one ``local@domain.tld`` address (SendGrid refuses anything else with a 400)
    email: str = Field(max_length=MAX_MAIL_ADDRESS, pattern=MAIL_ADDRESS_PATTERN)
    name: str | None = Field(default=None, max_length=256)


class OutboundEmail(BaseModel):
    """The outbox payload of ``send_email``: one rendered message to one recipient
    (``hub.notifications`` writes it)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    notification_id: int
    kind: str
    to: Address
    subject: str = Field(min_length=1, max_length=998)
    text: str = Field(min_length=1)
    html: str = Field(min_length=1)
    from_: Address | None = Field(default=None, alias="from")
    reply_to: Address | None = None
    custom_args: dict[str, str] = Field(default_factory=dict)
    categories: list[str] = Field(default_factory=list, max_length=10)
    asm_group_id: int | None = None
    #: ``False``: SendGrid must not rewrite the links (a sign-in link stays the hub's own)
    click_tracking: bool | None = None


def mail_body(email: OutboundEmail, settings: SendGridSettings, sender: Address) -> dict[str, Any]:
    """The ``POST /v3/mail/send`` body for one message (checked against SendGrid's spec by the
    contract tests). The unsubscribe group comes from the payload, else from
    ``unsubscribe_groups`` by the notification's kind."""
    personalization: dict[str, Any] = {"to": [_address(email.to)]}
    custom_args = {**email.custom_args, "notification_id": str(email.notification_id)}
    personalization["custom_args"] = custom_args
    body: dict[str, Any] = {
        "personalizations": [personalization],
        "from": _address(sender),
        "subject": email.subject,
        # SendGrid requires text/plain first, then text/html
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
    }
    reply_to = email.reply_to or (Address(email=settings.reply_to) if settings.reply_to else None)
    if reply_to is not None:
        body["reply_to"] = _address(reply_to)
    if email.categories:
        body["categories"] = list(dict.fromkeys(email.categories))
    group = email.asm_group_id or settings.unsubscribe_groups.get(email.kind)
    if group is not None:
        body["asm"] = {"group_id": group}
    if email.click_tracking is not None:
        enabled = email.click_tracking
        body["tracking_settings"] = {"click_tracking": {"enable": enabled, "enable_text": enabled}}
    return body


def _address(address: Address) -> dict[str, str]:
    out = {"email": address.email}
    if address.name:
        out["name"] = address.name
    return out


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def error_messages(response: httpx.Response) -> str:
    """SendGrid's ``{"errors": [{"message", "field", "help"}]}`` as one line."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for item in errors[:5]:
        if not isinstance(item, dict):
            continue
        field = item.get("field")
        message = str(item.get("message") or "")
        parts.append(f"{field}: {message}" if field and field != "null" else message)
    return "; ".join(parts)
