"""SendGrid: mail send out (``POST /v3/mail/send``), and the objects and fields mapping files may
name for what comes back in (Event Webhook, Inbound Parse; their receivers arrive with issue 6).

Shapes (``shared/PROVIDERS.md`` §4.1 and SendGrid's Event Webhook and Inbound Parse reference):

* an Event Webhook POST is a JSON array of flat events; ``timestamp`` is Unix seconds,
  ``sg_event_id`` is unique per event, ``custom_args`` given at send time are merged in as
  top-level keys (the hub sends ``notification_id``, ``partner_id`` and ``tracking_id``);
* an Inbound Parse POST is multipart form data, one field per part; ``envelope`` is JSON text
  (``{"to": [...], "from": "..."}``), ``headers`` the raw header block, ``attachments`` a count.

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
naming the notification id. A person checks the activity feed (or, once issue 6 lands, the Event
Webhook's ``processed``/``delivered`` events carrying that ``notification_id``) and replays the
row only if the mail was not sent. Email is therefore *at most once* for that one ambiguous case
and *at least once* in one other: a worker that dies after the 202 but before its transaction
commits leaves the row to be re-run when its lease ends, and the mail goes out again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors.base import (
    ConfigurationError,
    Cursor,
    FatalError,
    HubError,
    first_error,
    InboundRequest,
    ObjectSpec,
    OutcomeUnknown,
    Page,
    Parsed,
    Record,
    RetriableError,
    WriteResult,
    classify_status,
)

#: custom args the hub attaches to every e-mail it sends (come back as top-level event keys)
CUSTOM_ARGS: dict[str, str] = {
    "notification_id": "string",
    "partner_id": "string",
    "tracking_id": "string",
}

OBJECTS: dict[str, ObjectSpec] = {
    "event": ObjectSpec(
        name="event",
        fields={
            "email": "string",
            "timestamp": "datetime",  # Unix seconds
            "event": "enum",
            "smtp-id": "string",
            "sg_event_id": "id",
            "sg_message_id": "id",
            "reason": "string",
            "status": "string",
            "response": "string",
            "attempt": "string",
            "type": "enum",  # bounce | blocked (on bounce events)
            "bounce_classification": "string",
            "url": "string",
            "useragent": "string",
            "ip": "string",
            "tls": "number",
            "cert_err": "number",
            "asm_group_id": "number",
            "category": "list",  # a string or a list of strings
            "marketing_campaign_id": "id",
            "pool": "object",
            **CUSTOM_ARGS,
        },
        key_field="sg_event_id",
        version_field="timestamp",
    ),
    "inbound_parse": ObjectSpec(
        name="inbound_parse",
        fields={
            "from": "string",
            "to": "string",
            "cc": "string",
            "subject": "string",
            "text": "string",
            "html": "string",
            "headers": "string",
            "envelope": "string",  # JSON text
            "SPF": "string",
            "dkim": "string",
            "sender_ip": "string",
            "spam_score": "string",
            "spam_report": "string",
            "charsets": "string",
            "attachments": "number",  # how many attachment parts follow
            "attachment-info": "string",
        },
        key_field="",  # no natural key: each delivery is keyed by a digest of its content
        version_field=None,
    ),
}


MAIL_SEND_PATH = "/v3/mail/send"


class SendGridSettings(BaseModel):
    """``PARTNERHUB_SENDGRID__*``."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr | None = Field(
        default=None, description="API key with Mail Send access (sent as a Bearer token)."
    )
    api_base_url: str = Field(
        default="https://api.sendgrid.com",
        description="API base URL (https://api.eu.sendgrid.com for EU regional subusers).",
    )
    from_email: str | None = Field(
        default=None, description="Sender address: a verified sender or authenticated domain."
    )
    from_name: str | None = Field(default=None, description="Sender display name.")
    reply_to: str | None = Field(
        default=None, description="Reply-To when a notification does not name its own."
    )
    unsubscribe_groups: dict[str, int] = Field(
        default_factory=dict,
        description="Notification kind -> SendGrid unsubscribe (ASM) group id, as JSON.",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, description="TCP/TLS connect timeout.")
    timeout_s: float = Field(
        default=20.0, gt=0, description="Write and read timeout of a mail-send request."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest webhook body accepted (Event Webhook batches reach 768 KB).",
    )


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
    email: str = Field(max_length=320, pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+$")
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


class SendGridConnector:
    """Mail send for the outbox. Inbound (signed Event Webhook, Inbound Parse) is issue 6: until
    then ``webhook_ready()`` is False and the receiver answers 503, so SendGrid keeps retrying."""

    name: ClassVar[str] = "sendgrid"
    #: the methods the outbox dispatcher may call
    actions: ClassVar[frozenset[str]] = frozenset({"send_email"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS

    def __init__(
        self, settings: SendGridSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._transport = transport
        self._client: httpx.Client | None = None
        #: the rate-limit window of the last answer (read by callers that budget sends)
        self.rate_limit: RateLimit | None = None

    # -- webhooks (issue 6) ---------------------------------------------------------------------

    def webhook_ready(self) -> bool:
        return False

    def verify_webhook(self, req: InboundRequest) -> None:
        raise ConfigurationError("sendgrid: the signed Event Webhook is not configured")

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        raise ConfigurationError("sendgrid: the signed Event Webhook is not configured")

    # -- records: SendGrid has none to poll, read or upsert --------------------------------------

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        raise ConfigurationError(f"sendgrid: {obj!r} cannot be polled")

    def read_many(
        self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()
    ) -> list[Record]:
        raise ConfigurationError(f"sendgrid: {obj!r} cannot be read through the API")

    def upsert_many(
        self, obj: str, records: Sequence[Mapping[str, Any]], *, key: str
    ) -> list[WriteResult]:
        raise ConfigurationError(f"sendgrid: {obj!r} cannot be written")

    # -- mail send ------------------------------------------------------------------------------

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return None  # SendGrid events describe mail, never a record the hub writes back

    def send_email(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Send one rendered message. ``idempotency_key`` is accepted for the outbox's calling
        convention; SendGrid has nothing to pass it to (see the module docstring)."""
        try:
            email = OutboundEmail.model_validate(payload)
        except ValidationError as exc:
            raise FatalError(f"sendgrid: bad send_email payload: {first_error(exc)}") from None
        body = self.mail_body(email)
        self._respect_exhausted_window()
        client = self._http()
        try:
            response = client.post(MAIL_SEND_PATH, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetriableError(f"sendgrid: {type(exc).__name__}: the request was not sent") from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            raise RetriableError(
                f"sendgrid: {type(exc).__name__}: the request was not completely sent"
            ) from None
        except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            raise SendOutcomeUnknown(
                f"sendgrid: {type(exc).__name__} after the request was sent: notification "
                f"{email.notification_id} may have been queued; not resent. Check SendGrid's "
                "activity for that notification_id, then replay the row only if it was not sent"
            ) from None
        except httpx.TransportError as exc:
            raise SendOutcomeUnknown(
                f"sendgrid: {type(exc).__name__}: outcome unknown for notification "
                f"{email.notification_id}; not resent"
            ) from None
        self.rate_limit = RateLimit.from_headers(response.headers) or self.rate_limit
        if response.status_code == 202:
            return {"message_id": response.headers.get("x-message-id")}
        raise self._error(response)

    def mail_body(self, email: OutboundEmail) -> dict[str, Any]:
        """The ``POST /v3/mail/send`` body for one message (checked against SendGrid's spec by
        the contract tests)."""
        sender = email.from_ or self._default_sender()
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
        reply_to = email.reply_to or (
            Address(email=self.settings.reply_to) if self.settings.reply_to else None
        )
        if reply_to is not None:
            body["reply_to"] = _address(reply_to)
        if email.categories:
            body["categories"] = list(dict.fromkeys(email.categories))
        group = email.asm_group_id or self.settings.unsubscribe_groups.get(email.kind)
        if group is not None:
            body["asm"] = {"group_id": group}
        return body

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- internals ------------------------------------------------------------------------------

    def _default_sender(self) -> Address:
        if not self.settings.from_email:
            raise ConfigurationError("PARTNERHUB_SENDGRID__FROM_EMAIL is not set")
        return Address(email=self.settings.from_email, name=self.settings.from_name)

    def _http(self) -> httpx.Client:
        if self.settings.api_key is None:
            raise ConfigurationError("PARTNERHUB_SENDGRID__API_KEY is not set")
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.settings.api_base_url,
                timeout=httpx.Timeout(self.settings.timeout_s, connect=self.settings.connect_timeout_s),
                transport=self._transport,
                headers={
                    "authorization": f"Bearer {self.settings.api_key.get_secret_value()}",
                    "accept": "application/json",
                },
            )
        return self._client

    def _respect_exhausted_window(self) -> None:
        """The last answer said no requests are left in this window: wait for the reset
        without calling (a clear failure: nothing is sent)."""
        limit, now = self.rate_limit, time.time()
        if limit is None or limit.remaining != 0 or limit.reset_at is None or limit.reset_at <= now:
            return
        raise RetriableError(
            "sendgrid: rate limit exhausted until the window resets", retry_after=limit.wait_s(now)
        )

    def _error(self, response: httpx.Response) -> HubError:
        detail = self._scrub(_error_messages(response))
        error = classify_status(
            response.status_code, provider="sendgrid", detail=detail, headers=response.headers
        )
        if error is None:  # a 2xx other than 202, or a 3xx: not what mail send promises
            return SendOutcomeUnknown(
                f"sendgrid answered {response.status_code} instead of 202; not resent"
            )
        if isinstance(error, RetriableError) and response.status_code == 429:
            retry_after = error.retry_after
            if retry_after is None and self.rate_limit is not None:
                retry_after = self.rate_limit.wait_s(time.time())
            return RetriableError(str(error), retry_after=retry_after)
        return error

    def _scrub(self, text: str) -> str:
        """Belt and braces: an error text never carries the API key, even if echoed."""
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        return text.replace(key, "[redacted]") if key else text


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


def _error_messages(response: httpx.Response) -> str:
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
