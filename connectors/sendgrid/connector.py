"""``SendGridConnector``: mail send for the outbox; the signed Event Webhook and Inbound Parse in;
webhook registration. Each concept lives in its own module (``mail``, ``events``, ``inbound``,
``setup``, ``client``); this class ties them to the settings and one API client.

Webhook paths (``hub/app.py`` routes ``/webhooks/sendgrid`` and anything below it here):

* ``POST /webhooks/sendgrid`` — the Event Webhook (signature required);
* ``POST /webhooks/sendgrid/<parse_secret>/parse`` — Inbound Parse (secret path segment).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import httpx
from pydantic import ValidationError

from connectors.capabilities import OutboxAction
from connectors.errors import (
    ConfigurationError,
    FatalError,
    WebhookRejected,
    first_error,
)
from connectors.http import Call
from connectors.sendgrid import events, inbound, setup
from connectors.sendgrid.client import MAIL_BUDGET, PAUSE_KEY, SendGridApi
from connectors.sendgrid.mail import (
    MAIL_SEND_PATH,
    Address,
    OutboundEmail,
    RateLimit,
    SendOutcomeUnknown,
    mail_body,
)
from connectors.sendgrid.objects import OBJECTS
from connectors.sendgrid.settings import SendGridSettings
from connectors.values import Discarded, InboundRequest, ObjectSpec, Parsed

__all__ = ["PAUSE_KEY", "SendGridConnector"]


class SendGridConnector:
    name: ClassVar[str] = "sendgrid"
    #: the names of ``outbox_actions()``
    actions: ClassVar[frozenset[str]] = frozenset({"send_email", "set_group_suppression"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS

    def __init__(self, settings: SendGridSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._api = SendGridApi(settings, transport=transport)
        self.addresses = inbound.Addresses(
            referral=_lower(
                settings.referral_address
                or (f"referrals@{settings.parse_hostname}" if settings.parse_hostname else None)
            ),
            reply=_lower(settings.reply_address),
        )

    def use_redis(self, client: Any) -> None:
        """Share an exhausted rate-limit window with every worker."""
        self._api.use_redis(client)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit window of the last answer (read by callers that budget sends)."""
        return self._api.rate_limit

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
        if isinstance(result, Discarded):
            return Parsed((), discarded=(result,))
        return Parsed((result,))

    def _route(self, req: InboundRequest) -> str:
        """``events`` for ``/webhooks/sendgrid``, ``parse`` for ``/webhooks/sendgrid/<secret>/parse``
        with the right secret (compared in constant time); anything else is refused (404)."""
        path = urlsplit(req.url).path.rstrip("/")
        _head, _, rest = path.partition("/webhooks/sendgrid")
        if not rest:
            return "events"
        parts = rest.strip("/").split("/")
        secret = self.settings.parse_secret
        if (
            secret is not None
            and len(parts) == 2
            and parts[1] == "parse"
            and hmac.compare_digest(unquote(parts[0]).encode(), secret.get_secret_value().encode())
        ):
            return "parse"
        raise WebhookRejected("not found", status=404)

    def register_webhooks(self, base_url: str) -> list[str]:
        return setup.register(self._api, self.settings, base_url)

    # -- records: SendGrid has none to poll, read or upsert ---------------------------------------

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return None  # SendGrid events describe mail, never a record the hub writes back

    # -- mail send ------------------------------------------------------------------------------

    def outbox_actions(self) -> Mapping[str, OutboxAction]:
        return {"send_email": self.send_email, "set_group_suppression": self.set_group_suppression}

    def set_group_suppression(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Keep SendGrid's unsubscribe-group suppressions in step with a partner's choice made in
        the hub (the portal): ``{"email", "group_id", "suppressed"}`` adds the address to the
        group's suppressions or removes it. Both calls are idempotent at SendGrid (adding an
        address twice, removing one that is not there)."""
        email = str(payload.get("email") or "").strip()
        group = payload.get("group_id")
        if not email or not isinstance(group, int) or group <= 0:
            raise FatalError("sendgrid: bad set_group_suppression payload: email and a positive group_id are needed")
        base = f"/v3/asm/groups/{group}/suppressions"
        if payload.get("suppressed"):
            self._api.execute(Call("POST", base, json={"recipient_emails": [email]}, ref=f"group {group} suppression"))
        else:
            self._api.execute(
                Call(
                    "DELETE",
                    f"{base}/{quote(email, safe='@')}",
                    allow=frozenset({404}),
                    ref=f"group {group} resubscribe",
                )
            )
        return {"group_id": group, "suppressed": bool(payload.get("suppressed"))}

    def send_email(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Send one rendered message. ``idempotency_key`` is accepted for the outbox's calling
        convention; SendGrid has nothing to pass it to (see ``connectors.sendgrid.mail``)."""
        try:
            email = OutboundEmail.model_validate(payload)
        except ValidationError as exc:
            raise FatalError(f"sendgrid: bad send_email payload: {first_error(exc)}") from None
        body = self.mail_body(email)
        response = self._api.execute(
            Call(
                "POST",
                MAIL_SEND_PATH,
                json=body,
                budgets=((MAIL_BUDGET, 1),),
                repeatable=False,
                ref=f"notification {email.notification_id}",
            )
        )
        if response.status_code == 202:
            return {"message_id": response.headers.get("x-message-id")}
        # a 2xx other than 202, or a 3xx: not what mail send promises
        raise SendOutcomeUnknown(f"sendgrid answered {response.status_code} instead of 202; not resent")

    def mail_body(self, email: OutboundEmail) -> dict[str, Any]:
        return mail_body(email, self.settings, email.from_ or self._default_sender())

    def close(self) -> None:
        self._api.close()

    # -- internals ------------------------------------------------------------------------------

    def _default_sender(self) -> Address:
        if not self.settings.from_email:
            raise ConfigurationError("PARTNERHUB_SENDGRID__FROM_EMAIL is not set")
        return Address(email=self.settings.from_email, name=self.settings.from_name)


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if value else None
