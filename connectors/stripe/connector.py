"""The Stripe connector: the declarations and the concept modules put behind the ``Connector``
protocol (``connectors.capabilities``), plus what makes it a payment connector (``payment_changes``,
read by ``hub.payments``) and its outbox actions (``create_transfer``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx

from connectors.capabilities import OutboxAction
from connectors.payments import CustomerSeen, PaymentChange
from connectors.stripe import polling, setup, transfers, webhooks
from connectors.stripe.client import StripeApi
from connectors.stripe.meaning import Meaning, transfers_ready
from connectors.stripe.objects import OBJECTS
from connectors.stripe.settings import StripeSettings
from connectors.values import (
    Change,
    Cursor,
    InboundRequest,
    ObjectSpec,
    Page,
    Parsed,
    Record,
)


class StripeConnector:
    name: ClassVar[str] = "stripe"
    #: the names of ``outbox_actions()``
    actions: ClassVar[frozenset[str]] = frozenset({"create_transfer"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS
    #: what ``hub.sync`` polls: the event list, the safety net under the webhooks
    poll_objects: ClassVar[tuple[str, ...]] = ("event",)

    def __init__(self, settings: StripeSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._api = StripeApi(settings, transport=transport)
        self._meaning = Meaning(self._api)

    # -- webhooks ---------------------------------------------------------------------------

    record_from_event = staticmethod(webhooks.record_from_event)

    def webhook_ready(self) -> bool:
        return bool(self.settings.webhook_secrets)

    def body_limit(self, subpath: str) -> int | None:
        """Only the main path (no sub-path) takes deliveries."""
        return None if subpath else self.max_body_bytes

    def verify_webhook(self, req: InboundRequest) -> None:
        webhooks.verify(self.settings.webhook_secrets, req, tolerance_s=self.settings.signature_tolerance_s)

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        return webhooks.parse(req)

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return None  # the hub writes nothing to Stripe that could come back as news

    def register_webhooks(self, base_url: str) -> list[str]:
        return setup.register_webhooks(self._api, base_url)

    # -- payments (hub.payments) ------------------------------------------------------------

    def payment_changes(self, payload: Mapping[str, Any]) -> list[PaymentChange]:
        """What one stored event means to the partner program, re-read where order matters."""
        return self._meaning.changes(payload)

    def read_customer(self, customer_id: str) -> CustomerSeen | None:
        return self._meaning.read_customer(customer_id)

    def account_ready(self, account_id: str) -> bool | None:
        """Whether a connected account can receive transfers now; ``None`` when Stripe does not
        know the account (or the hub has no API key)."""
        if not self._api.ready:
            return None
        account = self._api.get_or_none(f"/v1/accounts/{account_id}")
        return transfers_ready(account) if account is not None else None

    # -- records ----------------------------------------------------------------------------

    @property
    def api_ready(self) -> bool:
        return self._api.ready

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        return polling.fetch_events(self._api, obj, cursor)

    def polled_change(self, object_type: str, record: Record) -> Change:
        """A polled event is stored exactly as its webhook delivery would be (same event key)."""
        return webhooks.event_change(record.raw)

    # -- outbox actions ---------------------------------------------------------------------

    def outbox_actions(self) -> Mapping[str, OutboxAction]:
        return {"create_transfer": self.create_transfer}

    def create_transfer(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """A Connect transfer for one hub payout, looked up before it is made (``transfers``)."""
        return transfers.create_transfer(self._api, payload, idempotency_key=idempotency_key)

    def find_transfers(self, payout_id: int) -> list[dict[str, Any]]:
        """Stripe's transfers for a hub payout, for a person or the payouts engine to settle."""
        return transfers.find_transfers(self._api, payout_id)

    def close(self) -> None:
        self._api.close()
