"""The capabilities a connector may have, one small ``runtime_checkable`` Protocol each.

A connector class implements exactly the capabilities its provider supports and nothing else;
the hub asks ``isinstance(connector, Polls)``, never ``getattr(connector, "...", None)``.
``api_ready`` (credentials configured) is a runtime property, not a capability: check the
capability with ``isinstance``, then the property.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from connectors.payments import CustomerSeen, PaymentChange
from connectors.values import (
    Change,
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


@runtime_checkable
class Connector(Protocol):
    """What every connector is: a name, the objects (and their fields) mapping files may name,
    what an inbox event of its says changed, and ``close``."""

    name: ClassVar[str]
    #: the objects (and their fields) this connector reads and writes, by the hub's object name
    objects: ClassVar[Mapping[str, ObjectSpec]]

    def __init__(self, settings: Any, /) -> None:
        """Built from its settings section (``Settings.<name>``) alone."""
        ...

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The provider fields an inbox event says changed, with their new values, for echo
        suppression: ``{}`` for a creation, ``None`` when the event does not say."""
        ...

    def close(self) -> None: ...


# -- webhooks in ----------------------------------------------------------------------------


@runtime_checkable
class ReceivesWebhooks(Protocol):
    """Webhook deliveries: verified over the raw bytes, then parsed into changes."""

    #: largest webhook body accepted on the main path, in bytes (413 past it)
    max_body_bytes: int

    def webhook_ready(self) -> bool:
        """True when the settings needed to verify webhooks are present."""
        ...

    def body_limit(self, subpath: str) -> int | None:
        """Largest body accepted on ``/webhooks/<name>/<subpath>`` (``""``: the main path);
        ``None``: no such path (404)."""
        ...

    def verify_webhook(self, req: InboundRequest) -> None:
        """Pure; raises ``WebhookRejected`` (``SignatureInvalid``: 401)."""
        ...

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        """Pure; the changes, and the reply the provider expects (e.g. a SOAP Ack). Raises
        ``MalformedPayload`` (400)."""
        ...


@runtime_checkable
class EventRecords(Protocol):
    """Says what a stored event's payload stands for (a static method, read from the class)."""

    @staticmethod
    def record_from_event(payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the provider record an inbox event's payload stands for, whether it is partial).
        A partial record (one changed property) is read whole through the API before mapping.
        Without this capability the payload is the whole record."""
        ...


@runtime_checkable
class MergesRecords(Protocol):
    """The provider reports merges (``*.merge`` events)."""

    def merge_of(self, payload: Mapping[str, Any]) -> Merge | None:
        """Which ids a ``*.merge`` event's payload merged into which; ``None``: not a merge."""
        ...


@runtime_checkable
class DeletedRecords(Protocol):
    """Says what a record the API no longer returns looks like (a static method)."""

    @staticmethod
    def deleted_record(obj: str, object_id: str) -> dict[str, Any]:
        """The record, as the mapping files address it, of an object deleted since the event
        named it."""
        ...


# -- records --------------------------------------------------------------------------------


@runtime_checkable
class CallsApi(Protocol):
    """Calls the provider's API. ``api_ready`` says whether its credentials are configured: a
    runtime fact, checked after the capability (``isinstance(c, Polls) and isinstance(c,
    CallsApi) and c.api_ready``)."""

    @property
    def api_ready(self) -> bool:
        """True when the API credentials are configured (a runtime fact, not a capability)."""
        ...


@runtime_checkable
class Polls(Protocol):
    """Records changed since a cursor, page by page (the safety net under the webhooks)."""

    #: what the scheduler and ``partnerhub sync backfill`` poll
    poll_objects: ClassVar[tuple[str, ...]]

    def fetch_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of records changed since ``cursor`` (``None``: from the beginning), each page
        with the cursor to resume *after* it. The hub stores each page's records in the inbox
        and saves that cursor in the same transaction, so a killed sync resumes there."""
        ...


@runtime_checkable
class NamesPolledChanges(Protocol):
    """A polling connector whose polled records make their own inbox changes (Stripe's polled
    events keep their webhook event id); without it the hub keys them on object, id and
    version."""

    def polled_change(self, object_type: str, record: Record) -> Change: ...


@runtime_checkable
class ReadsInBatches(CallsApi, Protocol):
    """Current state of records by id, many a call."""

    def read_many(self, obj: str, ids: Sequence[str], *, fields: Sequence[str] = ()) -> list[Record]:
        """Current state of these objects; ``fields`` are the record paths the hub maps."""
        ...


@runtime_checkable
class WritesInBatches(Protocol):
    """Records upserted by a unique key, many a call. The outbox coalesces CRM record writes
    into ``upsert_many`` calls of up to ``write_batch_size`` records (``hub.pipeline.batches``)."""

    #: how many records one provider call writes (HubSpot 100, Salesforce 200; 1 where the
    #: provider has no batch write, as on Pipedrive)
    write_batch_size: ClassVar[int]

    def upsert_many(self, obj: str, records: Sequence[Mapping[str, Any]], *, key: str) -> list[WriteResult]: ...


# -- outbox actions -------------------------------------------------------------------------


class OutboxAction(Protocol):
    """One named outbox action: safe to run twice with the same ``idempotency_key``; returns
    what the outbox row stores as its result."""

    def __call__(self, payload: Mapping[str, Any], /, *, idempotency_key: str) -> dict[str, Any]: ...


@runtime_checkable
class RunsOutboxActions(Protocol):
    """Named actions the outbox dispatcher may carry out (``send_email``, ``create_transfer``,
    ``create_referral_deal``…): the connector declares them in one table."""

    #: the names of ``outbox_actions()``
    actions: ClassVar[frozenset[str]]

    def outbox_actions(self) -> Mapping[str, OutboxAction]:
        """Action name -> the bound method that carries it out."""
        ...


# -- payments -------------------------------------------------------------------------------


@runtime_checkable
class PaymentEvents(Protocol):
    """A payment provider: what its inbox events mean to the partner program."""

    def payment_changes(self, payload: Mapping[str, Any]) -> list[PaymentChange]:
        """What one stored event means, re-read where order matters."""
        ...

    def read_customer(self, customer_id: str) -> CustomerSeen | None: ...


@runtime_checkable
class PayoutAccounts(CallsApi, Protocol):
    """Partners' payout accounts at the provider (Stripe Connect accounts)."""

    def account_ready(self, account_id: str) -> bool | None:
        """Whether the account can receive transfers now; ``None``: unknown to the provider."""
        ...


@runtime_checkable
class TransferLookup(Protocol):
    """Money movements the provider made for a hub payout, found again by its id."""

    def find_transfers(self, payout_id: int) -> list[dict[str, Any]]: ...


# -- webhook administration and shared state ------------------------------------------------


@runtime_checkable
class RegistersWebhooks(Protocol):
    """Creates (or checks) the provider's webhooks pointing at the hub
    (``partnerhub webhooks register``)."""

    def register_webhooks(self, base_url: str) -> list[str]: ...


@runtime_checkable
class ChecksWebhooks(Protocol):
    """Checks, every ``webhook_check_interval_s``, that the hub's webhooks still exist and
    work, fixing what it can (the scheduler raises an alert for the rest)."""

    webhook_check_interval_s: float

    def check_webhooks(self, base_url: str) -> list[str]:
        """Problems left; ``[]``: healthy."""
        ...


@runtime_checkable
class SharesRedis(Protocol):
    """Shares rate budgets, tokens or usage figures with every process through Redis."""

    def use_redis(self, client: Any) -> None: ...


# -- CRMs: what the partner flow asks of whichever CRM the company uses ---------------------


@runtime_checkable
class CrmConnector(Connector, CallsApi, Protocol):
    """A connector the partner flow can use as the company's CRM (``Hub.crm``).

    Outbox actions (``create_referral_deal``, ``update_deal``) are safe to run twice and return
    ``written``: ``{object_type: {object_id: {field: value}}}``, every value they wrote, for
    echo suppression, and ``created``: ``{object_type: [object_id, ...]}``.
    """

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        """Open deals, customers and known contacts the email or the domain belong to. ``None``
        skips that check (a free-mail domain is never passed)."""
        ...

    def create_referral_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """``payload``: ``tracking_id``; ``contact`` (``email`` + the contact mapping's outbound
        output) or ``None``; ``company`` (``domain`` + the company mapping's outbound output) or
        ``None``; ``deal`` (the deal mapping's outbound output); ``owner_id`` or ``None``.
        Finds or creates the contact and company (an existing one is never overwritten),
        creates or completes the deal keyed on the tracking id, associates them, sets the owner.
        Returns ``deal_id``, ``contact_id``, ``company_id``, ``contact_created``, ``written``,
        ``created``."""
        ...

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """``payload``: ``deal_id`` or ``tracking_id``, plus the deal mapping's outbound output.
        Returns ``deal_id`` and ``written``."""
        ...

    def create_task(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """A to-do for a person in the CRM (a partner manager's outreach). ``payload``:
        ``subject``, ``body``, ``owner_id`` (a CRM user id, or ``None`` for the default owner),
        ``due_at`` (ISO 8601 or ``None``). Safe to run twice: the same ``idempotency_key`` never
        makes a second task. Returns ``task_id``, ``written`` and ``created``."""
        ...

    def deal_parties(self, deal_id: str) -> DealParties:
        """The emails of the deal's associated contacts and the domains of its companies (for
        attribution by referral match)."""
        ...

    def ensure_setup(self) -> list[str]:
        """Create or check the custom fields the partner flow needs; one line per item. Raises
        ``ConfigurationError`` for what it cannot fix."""
        ...

    def missing_setup(self) -> list[str]:
        """What ``ensure_setup`` would have to create or fix (empty: ready). Writes nothing."""
        ...
