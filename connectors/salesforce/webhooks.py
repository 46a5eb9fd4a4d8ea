"""Which Salesforce endpoint a webhook request is for, and what a stored event stands for.

``/webhooks/salesforce/<outbound_path_secret>`` takes Outbound Messages (``outbound``);
``/webhooks/salesforce/callout`` takes Flow and Apex callouts (``callouts``). Stored payloads are
``{"source": "outbound_message" | "callout", "record": {...}, ...}``, or a polled SOQL row.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from connectors.errors import WebhookRejected
from connectors.salesforce import callouts, outbound
from connectors.salesforce.settings import SalesforceSettings
from connectors.values import InboundRequest, Parsed

PREFIX = "/webhooks/salesforce"
CALLOUT = "callout"
#: fields every record carries that say nothing about what changed
SYSTEM_FIELDS = frozenset({"Id", "attributes", "SystemModstamp", "LastModifiedDate", "LastModifiedById",
                           "CreatedDate", "CreatedById", "IsDeleted", "LastActivityDate",
                           "LastViewedDate", "LastReferencedDate"})  # fmt: skip


def endpoint(url: str) -> str:
    """The path segment after ``/webhooks/salesforce/`` ('' when there is none)."""
    path = urlsplit(url).path
    at = path.find(PREFIX + "/")
    return unquote(path[at + len(PREFIX) + 1 :]).strip("/") if at >= 0 else ""


def verify(settings: SalesforceSettings, req: InboundRequest) -> None:
    tail = endpoint(req.url)
    if tail == CALLOUT:
        callouts.verify(settings.callout_secret, settings.callout_signing_secret, req)
        return
    secret = settings.outbound_path_secret
    if secret is None or not settings.organization_id:
        # answered 503 so Salesforce keeps the message queued until the hub is configured
        raise WebhookRejected(
            "Outbound Messages are not configured (PARTNERHUB_SALESFORCE__OUTBOUND_PATH_SECRET, __ORGANIZATION_ID)",
            status=503,
        )
    if not tail or not hmac.compare_digest(tail.encode(), secret.get_secret_value().encode()):
        raise outbound.SoapFault("unknown endpoint", reason="signature")


def parse(settings: SalesforceSettings, req: InboundRequest) -> Parsed:
    if endpoint(req.url) == CALLOUT:
        return callouts.parse(req.body)
    assert settings.organization_id is not None
    return outbound.parse(req.body, settings.organization_id)


def ready(settings: SalesforceSettings) -> bool:
    om = settings.outbound_path_secret is not None and bool(settings.organization_id)
    return om or settings.callout_secret is not None or settings.callout_signing_secret is not None


def record_from_event(payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """(record, partial). Pushed records (Outbound Messages, callouts) are unsigned or carry only
    the fields their sender chose, so they are partial: the engine re-reads them through the API
    before acting (stage, amount and owner move money). A polled SOQL row is whole."""
    source = payload.get("source")
    if source not in ("outbound_message", "callout"):
        return dict(payload), False
    record = dict(payload.get("record") or {})
    if payload.get("change") == "deleted":
        record["IsDeleted"] = True
    return record, True


def changed_fields(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """For echo suppression. A record untouched since its creation (``CreatedDate ==
    SystemModstamp``, when the sender includes both) or a creation callout is a creation (``{}``:
    an echo when the hub created it); otherwise a pushed record's fields (without system fields)
    are what its sender reports (an echo when the hub wrote every one of those values). A polled
    row that is not a creation does not say what changed."""
    source = payload.get("source")
    pushed = source in ("outbound_message", "callout")
    record = (payload.get("record") or {}) if pushed else payload
    if payload.get("change") == "deleted" or record.get("IsDeleted") in (True, "true"):
        return None
    created, stamp = record.get("CreatedDate"), record.get("SystemModstamp")
    if payload.get("change") == "created" or (created and created == stamp):
        return {}
    if pushed:
        return {k: v for k, v in record.items() if k not in SYSTEM_FIELDS}
    return None
