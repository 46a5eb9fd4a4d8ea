"""The HubSpot connector: the declarations and the concept modules put behind the ``Connector``
and ``CrmConnector`` protocols (``connectors.capabilities``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Unpack

from connectors.capabilities import OutboxAction
from connectors.hubspot import crm, polling, setup, tasks, webhooks, writes
from connectors.hubspot.client import MAX_BATCH, ClientOptions, HubSpotApi
from connectors.hubspot.objects import OBJECTS
from connectors.hubspot.records import read_many as read_records
from connectors.hubspot.settings import HubSpotSettings
from connectors.ratelimit import Budget
from connectors.values import (
    CrmMatch,
    Cursor,
    DealParties,
    InboundRequest,
    Merge,
    ObjectSpec,
    Page,
    Parsed,
    Record,
    WriteResult,
)


class HubSpotConnector:
    name: ClassVar[str] = "hubspot"
    #: the names of ``outbox_actions()``
    actions: ClassVar[frozenset[str]] = frozenset({"create_referral_deal", "update_deal", "create_task"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS
    #: records per ``upsert_many`` call the outbox coalesces (HubSpot batch endpoints take 100 records)
    write_batch_size: ClassVar[int] = MAX_BATCH
    #: what the scheduler polls (``hub.sync``) to catch changes a webhook missed
    poll_objects: ClassVar[tuple[str, ...]] = ("deal", "contact", "company")

    def __init__(self, settings: HubSpotSettings, **options: Unpack[ClientOptions]):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._clock = options.get("clock", time.time)
        self._api = HubSpotApi(settings, **options)

    def rate_budgets(self) -> tuple[Budget, ...]:
        return self._api.rate_budgets()

    def use_redis(self, client: Any) -> None:
        self._api.use_redis(client)

    # -- webhooks ---------------------------------------------------------------------------

    record_from_event = staticmethod(webhooks.record_from_event)

    @staticmethod
    def deleted_record(obj: str, object_id: str) -> dict[str, Any]:
        """A record the API no longer returns, as the mapping files address a deleted one."""
        return {"id": object_id, "archived": True}

    def webhook_ready(self) -> bool:
        return self.settings.client_secret is not None

    def body_limit(self, subpath: str) -> int | None:
        """Only the main path (no sub-path) takes deliveries."""
        return None if subpath else self.max_body_bytes

    def verify_webhook(self, req: InboundRequest) -> None:
        webhooks.verify(self.settings.client_secret, req)

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        return webhooks.parse(req)

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return webhooks.changed_fields(payload)

    def merge_of(self, payload: Mapping[str, Any]) -> Merge | None:
        return webhooks.merge_of(payload)

    # -- records ----------------------------------------------------------------------------

    @property
    def api_ready(self) -> bool:
        return self._api.ready

    def read_many(self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
        return read_records(self._api, obj, ids, fields=fields)

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        return polling.fetch_changes(
            self._api,
            obj,
            cursor,
            now_ms=lambda: int(self._clock() * 1000),
            lag_ms=int(self.settings.poll_lag_s * 1000),
        )

    def upsert_many(self, obj: str, records: Sequence[Mapping[str, Any]], *, key: str) -> list[WriteResult]:
        return writes.upsert_many(self._api, obj, records, key=key)

    # -- the partner flow -------------------------------------------------------------------

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        return crm.find_conflicts(self._api, email=email, domain=domain)

    def deal_parties(self, deal_id: str) -> DealParties:
        return crm.deal_parties(self._api, deal_id)

    def create_referral_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return crm.create_referral_deal(self._api, payload, idempotency_key=idempotency_key)

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return crm.update_deal(self._api, payload, idempotency_key=idempotency_key)

    def create_task(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return tasks.create_task(self._api, payload, idempotency_key=idempotency_key)

    def outbox_actions(self) -> Mapping[str, OutboxAction]:
        return {
            "create_referral_deal": self.create_referral_deal,
            "update_deal": self.update_deal,
            "create_task": self.create_task,
        }

    def missing_setup(self) -> list[str]:
        return setup.missing_setup(self._api)

    def ensure_setup(self) -> list[str]:
        return setup.ensure_setup(self._api)

    def close(self) -> None:
        self._api.close()
