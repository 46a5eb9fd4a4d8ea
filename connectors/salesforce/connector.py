"""The Salesforce connector: the declarations and the concept modules put behind the
``Connector`` and ``CrmConnector`` protocols (``connectors.capabilities``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Unpack

from connectors.capabilities import OutboxAction
from connectors.salesforce import crm, polling, records, setup, webhooks
from connectors.salesforce.client import MAX_COLLECTION, ClientOptions, SalesforceApi
from connectors.salesforce.objects import OBJECTS
from connectors.salesforce.settings import SalesforceSettings
from connectors.values import (
    Change,
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


class SalesforceConnector:
    name: ClassVar[str] = "salesforce"
    #: the names of ``outbox_actions()``
    actions: ClassVar[frozenset[str]] = frozenset({"create_referral_deal", "update_deal", "create_task"})
    objects: ClassVar[Mapping[str, ObjectSpec]] = OBJECTS
    #: records per ``upsert_many`` call the outbox coalesces (sObject Collections take 200 records)
    write_batch_size: ClassVar[int] = MAX_COLLECTION
    #: what the scheduler and ``partnerhub sync backfill`` poll (contacts: for deletions)
    poll_objects: ClassVar[tuple[str, ...]] = ("deal", "contact", "company")

    def __init__(self, settings: SalesforceSettings, **options: Unpack[ClientOptions]):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._api = SalesforceApi(settings, **options)

    def use_redis(self, client: Any) -> None:
        """Share the org's API usage figure with every process (``limits``)."""
        self._api.use_redis(client)

    # -- webhooks ---------------------------------------------------------------------------

    record_from_event = staticmethod(webhooks.record_from_event)

    @staticmethod
    def deleted_record(obj: str, object_id: str) -> dict[str, Any]:
        """A record the API no longer returns (purged from the recycle bin), as the mapping
        files address a deleted one."""
        return {"Id": object_id, "IsDeleted": True}

    def webhook_ready(self) -> bool:
        """Pushed records are unsigned and re-read before use, so webhooks need API access too."""
        return webhooks.ready(self.settings) and self._api.ready

    def body_limit(self, subpath: str) -> int:
        """Every Salesforce route takes a sub-path (``<outbound_path_secret>`` or ``callout``);
        which one is checked, in constant time, by ``verify_webhook``."""
        return self.max_body_bytes

    def verify_webhook(self, req: InboundRequest) -> None:
        webhooks.verify(self.settings, req)

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        return webhooks.parse(self.settings, req)

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return webhooks.changed_fields(payload)

    # -- records ----------------------------------------------------------------------------

    @property
    def api_ready(self) -> bool:
        return self._api.ready

    def read_many(self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
        return records.read_many(self._api, obj, ids, fields=fields)

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        return polling.fetch_changes(self._api, obj, cursor, overlap_s=self.settings.poll_overlap_s)

    def polled_change(self, object_type: str, record: Record) -> Change:
        """The inbox change a polled record stands for (deleted contact: ``contact.deletion``)."""
        return polling.polled_change(object_type, record)

    def upsert_many(self, obj: str, rows: Sequence[Mapping[str, Any]], *, key: str) -> list[WriteResult]:
        return records.upsert_many(self._api, obj, rows, key=key)

    # -- the partner flow -------------------------------------------------------------------

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        return crm.find_conflicts(self._api, email=email, domain=domain)

    def deal_parties(self, deal_id: str) -> DealParties:
        return crm.deal_parties(self._api, deal_id)

    def create_referral_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return crm.create_referral_deal(self._api, self.settings, payload)

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return crm.update_deal(self._api, payload)

    def create_task(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return crm.create_task(self._api, payload, idempotency_key=idempotency_key)

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
