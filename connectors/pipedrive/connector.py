"""The Pipedrive connector: the declarations and the concept modules put behind the
``Connector`` and ``CrmConnector`` protocols (``connectors.capabilities``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Unpack

from connectors.capabilities import OutboxAction
from connectors.pipedrive import records, setup, subscriptions, webhooks
from connectors.pipedrive.client import ClientOptions, PipedriveApi
from connectors.pipedrive.crm import Crm
from connectors.pipedrive.fields import FieldKeys
from connectors.pipedrive.objects import OBJECTS
from connectors.pipedrive.settings import PipedriveSettings
from connectors.ratelimit import Budget
from connectors.values import (
    CrmMatch,
    Cursor,
    DealParties,
    InboundRequest,
    ObjectSpec,
    Page,
    Parsed,
    Record,
    WriteResult,
)


class PipedriveConnector:
    name: ClassVar[str] = "pipedrive"
    #: the names of ``outbox_actions()``
    actions: ClassVar[frozenset[str]] = frozenset({"create_referral_deal", "update_deal", "create_task"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS
    #: records per ``upsert_many`` call the outbox coalesces (Pipedrive has no batch write: one request per record)
    write_batch_size: ClassVar[int] = 1
    #: what ``hub.sync`` polls (v2 deals, persons, organizations; v1 leads)
    poll_objects: ClassVar[tuple[str, ...]] = ("deal", "contact", "company", "lead")

    def __init__(self, settings: PipedriveSettings, **options: Unpack[ClientOptions]):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self.webhook_check_interval_s = settings.webhook_check_interval_s
        self._api = PipedriveApi(settings, **options)
        self._fields = FieldKeys(self._api)
        self._crm = Crm(self._api, self._fields)

    def rate_budgets(self) -> tuple[Budget, ...]:
        return self._api.rate_budgets()

    def use_redis(self, client: Any) -> None:
        self._api.use_redis(client)

    # -- webhooks ---------------------------------------------------------------------------

    record_from_event = staticmethod(webhooks.record_from_event)

    @staticmethod
    def deleted_record(obj: str, object_id: str) -> dict[str, Any]:
        """A record the API no longer returns, as the mapping files address a deleted one."""
        return {"id": object_id, "is_deleted": True}

    def webhook_ready(self) -> bool:
        return self.settings.webhook_password is not None

    def body_limit(self, subpath: str) -> int | None:
        """Only the main path (no sub-path) takes deliveries."""
        return None if subpath else self.max_body_bytes

    def verify_webhook(self, req: InboundRequest) -> None:
        password = self.settings.webhook_password
        webhooks.verify(self.settings.webhook_user, password.get_secret_value() if password else None, req)

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        return webhooks.parse(req)

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return webhooks.changed_fields(payload)

    def register_webhooks(self, base_url: str) -> list[str]:
        return subscriptions.register(self._api, self.settings, base_url)

    def check_webhooks(self, base_url: str) -> list[str]:
        """Problems with the hub's webhooks (each fixed where it can be); ``[]``: healthy."""
        if not self._api.ready:
            return []
        return subscriptions.check(self._api, self.settings, base_url)

    # -- records ----------------------------------------------------------------------------

    @property
    def api_ready(self) -> bool:
        return self._api.ready

    def read_many(self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
        return records.read_many(self._api, self._fields, obj, ids)

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        return records.fetch_changes(self._api, self._fields, obj, cursor)

    def upsert_many(self, obj: str, rows: Sequence[Mapping[str, Any]], *, key: str) -> list[WriteResult]:
        return records.upsert_many(self._api, self._fields, obj, rows, key=key)

    # -- the partner flow -------------------------------------------------------------------

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        return self._crm.find_conflicts(email=email, domain=domain)

    def deal_parties(self, deal_id: str) -> DealParties:
        return self._crm.deal_parties(deal_id)

    def create_referral_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return self._crm.create_referral_deal(payload, idempotency_key=idempotency_key)

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return self._crm.update_deal(payload, idempotency_key=idempotency_key)

    def create_task(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return self._crm.create_task(payload, idempotency_key=idempotency_key)

    def outbox_actions(self) -> Mapping[str, OutboxAction]:
        return {
            "create_referral_deal": self.create_referral_deal,
            "update_deal": self.update_deal,
            "create_task": self.create_task,
        }

    def missing_setup(self) -> list[str]:
        return setup.missing_setup(self._api, self._fields)

    def ensure_setup(self) -> list[str]:
        return setup.ensure_setup(self._api, self._fields)

    def close(self) -> None:
        self._api.close()
