"""The HubSpot connector: the declarations and the concept modules put behind the ``Connector``
and ``CrmConnector`` protocols (``connectors.base``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Unpack

from connectors.base import CrmMatch, DealParties, Cursor, InboundRequest, ObjectSpec, Page, Parsed, Record, WriteResult
from connectors.hubspot import crm, setup, webhooks
from connectors.hubspot.client import ClientOptions, HubSpotApi
from connectors.hubspot.objects import OBJECTS
from connectors.hubspot.records import read_many as read_records
from connectors.hubspot.settings import HubSpotSettings
from hub.ratelimit import Budget


class HubSpotConnector:
    name: ClassVar[str] = "hubspot"
    #: the methods the outbox dispatcher may call
    actions: ClassVar[frozenset[str]] = frozenset({"create_referral_deal", "update_deal"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS

    def __init__(self, settings: HubSpotSettings, **options: Unpack[ClientOptions]):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._api = HubSpotApi(settings, **options)

    def rate_budgets(self) -> tuple[Budget, ...]:
        return self._api.rate_budgets()

    def use_redis(self, client: Any) -> None:
        self._api.use_redis(client)

    # -- webhooks ---------------------------------------------------------------------------

    record_from_event = staticmethod(webhooks.record_from_event)

    def webhook_ready(self) -> bool:
        return self.settings.client_secret is not None

    def verify_webhook(self, req: InboundRequest) -> None:
        webhooks.verify(self.settings.client_secret, req)

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        return webhooks.parse(req)

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return webhooks.changed_fields(payload)

    # -- records ----------------------------------------------------------------------------

    @property
    def api_ready(self) -> bool:
        return self._api.ready

    def read_many(
        self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()
    ) -> list[Record]:
        return read_records(self._api, obj, ids, fields=fields)

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        raise NotImplementedError("hubspot polling is not built yet (CRM connectors issue)")

    def upsert_many(
        self, obj: str, records: Sequence[Mapping[str, Any]], *, key: str
    ) -> list[WriteResult]:
        raise NotImplementedError("hubspot batch record writes arrive with the CRM connectors issue")

    # -- the partner flow -------------------------------------------------------------------

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        return crm.find_conflicts(self._api, email=email, domain=domain)

    def deal_parties(self, deal_id: str) -> DealParties:
        return crm.deal_parties(self._api, deal_id)

    def create_referral_deal(
        self, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        return crm.create_referral_deal(self._api, payload, idempotency_key=idempotency_key)

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return crm.update_deal(self._api, payload, idempotency_key=idempotency_key)

    def missing_setup(self) -> list[str]:
        return setup.missing_setup(self._api)

    def ensure_setup(self) -> list[str]:
        return setup.ensure_setup(self._api)

    def close(self) -> None:
        self._api.close()
