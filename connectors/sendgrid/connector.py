"""``SendGridConnector``: mail send for the outbox; the signed Event Webhook and Inbound Parse in;
webhook registration. Each concept lives in its own module (``mail``, ``events``, ``inbound``,
``setup``); this class ties them to the settings and one HTTP client.

Webhook paths (``hub/app.py`` routes ``/webhooks/sendgrid`` and anything below it here):

* ``POST /webhooks/sendgrid`` — the Event Webhook (signature required);
* ``POST /webhooks/sendgrid/<parse_secret>/parse`` — Inbound Parse (secret path segment).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import ValidationError

from connectors.capabilities import OutboxAction
from connectors.errors import (
    ConfigurationError,
    FatalError,
    RetriableError,
    WebhookRejected,
    first_error,
)
from connectors.sendgrid import events, inbound, setup
from connectors.sendgrid.mail import (
    Address,
    OutboundEmail,
    RateLimit,
    error_for,
    mail_body,
    post_mail,
)
from connectors.sendgrid.objects import OBJECTS
from connectors.sendgrid.settings import SendGridSettings
from connectors.values import (
    InboundRequest,
    ObjectSpec,
    Parsed,
)

#: Redis key under which an exhausted mail-send window is shared by every worker
PAUSE_KEY = "partnerhub:rate:sendgrid:mail:pause"


class SendGridConnector:
    name: ClassVar[str] = "sendgrid"
    #: the names of ``outbox_actions()``
    actions: ClassVar[frozenset[str]] = frozenset({"send_email"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS

    def __init__(
        self, settings: SendGridSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._transport = transport
        self._client: httpx.Client | None = None
        self._redis: Any = None
        #: the rate-limit window of the last answer (read by callers that budget sends)
        self.rate_limit: RateLimit | None = None
        self.addresses = inbound.Addresses(
            referral=_lower(settings.referral_address
                            or (f"referrals@{settings.parse_hostname}" if settings.parse_hostname else None)),
            reply=_lower(settings.reply_address),
        )

    def use_redis(self, client: Any) -> None:
        """Share an exhausted rate-limit window with every worker."""
        self._redis = client

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_ready(self) -> bool:
        return bool(self.settings.event_webhook_public_key) or self.settings.parse_secret is not None

    def body_limit(self, subpath: str) -> int:
        """Largest body accepted on this path: Inbound Parse posts whole e-mails (about 30 MB)."""
        return self.settings.max_parse_bytes if subpath else self.max_body_bytes

    def verify_webhook(self, req: InboundRequest) -> None:
        route = self._route(req)
        if route == "parse":
            return  # the secret path segment was checked by ``_route``; the sender is checked in parsing
        key = self.settings.event_webhook_public_key
        if not key:
            raise WebhookRejected("the signed Event Webhook is not configured on this hub", status=503)
        events.verify_signature(req, events.load_public_key(key), max_age_s=self.settings.event_webhook_max_age_s)

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        if self._route(req) == "events":
            return Parsed(events.parse_events(req.body))
        form = inbound.read_form(req.body, req.header("content-type"))
        result = inbound.parse_email(form, self.addresses)
        if isinstance(result, inbound.Discarded):
            return Parsed((), discarded=(result,))
        return Parsed((result,))

    def _route(self, req: InboundRequest) -> str:
        """``events`` for ``/webhooks/sendgrid``, ``parse`` for ``/webhooks/sendgrid/<secret>/parse``
        with the right secret (compared in constant time); anything else is refused (404)."""
        path = urlsplit(req.url).path.rstrip("/")
        head, _, rest = path.partition("/webhooks/sendgrid")
        if not rest:
            return "events"
        parts = rest.strip("/").split("/")
        secret = self.settings.parse_secret
        if (secret is not None and len(parts) == 2 and parts[1] == "parse"
                and hmac.compare_digest(unquote(parts[0]).encode(), secret.get_secret_value().encode())):
            return "parse"
        raise WebhookRejected("not found", status=404)

    def register_webhooks(self, base_url: str) -> list[str]:
        return setup.register(self._http(), self.settings, base_url)

    # -- records: SendGrid has none to poll, read or upsert ---------------------------------------

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return None  # SendGrid events describe mail, never a record the hub writes back

    # -- mail send ------------------------------------------------------------------------------

    def outbox_actions(self) -> Mapping[str, OutboxAction]:
        return {"send_email": self.send_email}

    def send_email(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Send one rendered message. ``idempotency_key`` is accepted for the outbox's calling
        convention; SendGrid has nothing to pass it to (see ``connectors.sendgrid.mail``)."""
        try:
            email = OutboundEmail.model_validate(payload)
        except ValidationError as exc:
            raise FatalError(f"sendgrid: bad send_email payload: {first_error(exc)}") from None
        body = self.mail_body(email)
        self._respect_exhausted_window()
        response = post_mail(self._http(), body, email.notification_id)
        self._remember_window(response)
        if response.status_code == 202:
            return {"message_id": response.headers.get("x-message-id")}
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        raise error_for(response, rate_limit=self.rate_limit, secret=key)

    def mail_body(self, email: OutboundEmail) -> dict[str, Any]:
        return mail_body(email, self.settings, email.from_ or self._default_sender())

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

    def _remember_window(self, response: httpx.Response) -> None:
        """Keep the answer's ``X-RateLimit-*`` window; when nothing is left in it, pause every
        worker's sends until it resets (or after a 429)."""
        self.rate_limit = RateLimit.from_headers(response.headers) or self.rate_limit
        limit, now = self.rate_limit, time.time()
        if self._redis is None or limit is None or limit.reset_at is None:
            return
        if limit.remaining == 0 or response.status_code == 429:
            wait_ms = int((limit.wait_s(now) or 0) * 1000)
            if wait_ms > 0:
                try:
                    self._redis.set(PAUSE_KEY, "1", px=wait_ms)
                except Exception:  # noqa: BLE001 - the local window still applies
                    pass

    def _respect_exhausted_window(self) -> None:
        """No requests are left in the current window (this process's last answer, or any
        worker's through Redis): wait for the reset without calling — a clear failure, nothing
        is sent."""
        limit, now = self.rate_limit, time.time()
        if limit is not None and limit.remaining == 0 and limit.reset_at is not None and limit.reset_at > now:
            raise RetriableError(
                "sendgrid: rate limit exhausted until the window resets", retry_after=limit.wait_s(now)
            )
        if self._redis is not None:
            try:
                pause_ms = int(self._redis.pttl(PAUSE_KEY))
            except Exception:  # noqa: BLE001 - Redis down: fall back to this process's view
                return
            if pause_ms > 0:
                raise RetriableError(
                    "sendgrid: rate limit exhausted (another worker saw it) until the window resets",
                    retry_after=pause_ms / 1000,
                )


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if value else None
