"""Pipedrive webhooks (v2): HTTP Basic auth checked in constant time, one event per POST parsed
into a change, what an event says changed (echo suppression) and what record it stands for.

Facts this module relies on (``shared/PROVIDERS.md`` §3.1-3.3):

* No signature: the only authenticity is the Basic credentials stored on the webhook
  (``http_auth_user``/``http_auth_password``), sent as ``Authorization: Basic …``.
* Body ``{"meta": {...}, "data": {...}|null, "previous": {...}|null}``; ``meta.id`` is the event's
  id (the dedup key: retries re-send it with ``attempt`` > 1); ``meta.action`` create, change or
  delete; ``meta.entity`` deal, person, organization, lead…; ``meta.timestamp`` and
  ``data.update_time`` order events; ``previous`` holds the changed fields' old values (a
  change) or the last state (a delete); ``meta.change_source`` is ``app`` (a person in Pipedrive)
  or ``api`` (an API client, such as the hub itself).
* Custom field values sit under ``custom_fields`` by hash key, in webhooks as
  ``{"type": …, "value": …}`` objects.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors import jsonbody
from connectors.errors import (
    ConfigurationError,
    MalformedPayload,
    SignatureInvalid,
    first_error,
)
from connectors.pipedrive.objects import BY_ENTITY
from connectors.pipedrive.records import parse_time, present
from connectors.values import Change, InboundRequest, Parsed

#: fields Pipedrive itself moves along with a change; they say nothing about who changed what
_BOOKKEEPING = {"update_time", "stage_change_time", "last_activity_id", "next_activity_id",
                "last_activity_date", "next_activity_date", "activities_count", "email_messages_count",
                "last_incoming_mail_time", "last_outgoing_mail_time", "rotten_time"}  # fmt: skip


class _Meta(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | int = Field(description="the event id (dedup key)")
    action: str
    entity: str
    entity_id: str | int | None = None
    timestamp: str | int | None = None
    change_source: str | None = None
    version: str | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    meta: _Meta
    data: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None


def verify(user: str, password: str | None, req: InboundRequest) -> None:
    """The request's Basic credentials equal the configured ones (both compared in constant time,
    both always compared)."""
    if password is None:
        raise ConfigurationError("PARTNERHUB_PIPEDRIVE__WEBHOOK_PASSWORD is not set")
    header = req.header("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        raise SignatureInvalid("missing HTTP Basic credentials")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("malformed HTTP Basic credentials") from None
    given_user, _, given_password = given.partition(b":")
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    if not (user_ok and password_ok):
        raise SignatureInvalid("HTTP Basic credentials do not match")


def basic_auth_header(user: str, password: str) -> str:
    """``Authorization`` value Pipedrive sends (for tests and tools)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def parse(req: InboundRequest) -> Parsed:
    raw = jsonbody.loads(req.body)
    if not isinstance(raw, dict):
        raise MalformedPayload("body must be a JSON object (one webhooks v2 event)")
    if raw.get("v") == 1 or "current" in raw:
        raise MalformedPayload("webhooks v1 body: register the webhook with version 2.0")
    try:
        event = _Event.model_validate(raw)
    except ValidationError as exc:
        raise MalformedPayload(f"event: {first_error(exc)}") from None
    object_type = BY_ENTITY.get(event.meta.entity)
    if object_type is None:  # an entity the hub does not follow (a note, a product): acknowledged
        return Parsed(changes=())
    action = event.meta.action
    object_id = event.meta.entity_id
    if object_id is None:
        object_id = (event.data or event.previous or {}).get("id")
    if object_id is None:
        raise MalformedPayload("event: meta.entity_id missing")
    version = parse_time((event.data or {}).get("update_time")) or parse_time(event.meta.timestamp)
    payload = dict(raw)
    if action == "delete":
        event_type = f"{object_type}.deletion"
        email = _primary_email(event.previous or {})
        if object_type == "contact" and email:
            payload["email"] = email
    elif action == "create":
        event_type = "creation"
    elif object_type == "deal" and {"person_id", "org_id"} & set(event.previous or {}):
        event_type = "associationChange"  # the deal's people or organisation changed
    else:
        event_type = "change"
    return Parsed(
        changes=(
            Change(
                event_key=str(event.meta.id),
                event_type=event_type,
                object_type=object_type,
                object_id=str(object_id),
                version_ms=version,
                payload=payload,
            ),
        )
    )


def _primary_email(record: Mapping[str, Any]) -> str | None:
    emails = record.get("emails") or record.get("email") or []
    if isinstance(emails, str):
        return emails or None
    entries = [e for e in emails if isinstance(e, dict) and e.get("value")]
    primary = next((e for e in entries if e.get("primary")), entries[0] if entries else None)
    return str(primary["value"]).strip().lower() if primary else None


def _value(value: Any) -> Any:
    """A webhook custom field value ``{"type": "varchar", "value": "x"}`` -> ``"x"``."""
    if isinstance(value, dict) and "type" in value and "value" in value:
        return value["value"]
    return value


def changed_fields(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """{field: new value} of a change (custom fields as ``custom_fields.<key>``); ``{}`` for a
    creation; ``None`` when the event does not say, or when a person made it in Pipedrive's app
    (``change_source: app`` is never the hub's own write)."""
    meta = payload.get("meta")
    if not isinstance(meta, dict):
        return None
    if meta.get("change_source") == "app":
        return None
    action = meta.get("action")
    if action == "create":
        return {}
    if action != "change":
        return None
    data = payload.get("data") or {}
    previous = payload.get("previous") or {}
    changed: dict[str, Any] = {}
    for name in previous:
        if name in _BOOKKEEPING:
            continue
        if name == "custom_fields":
            current = data.get("custom_fields") or {}
            for key in previous.get("custom_fields") or {}:
                changed[f"custom_fields.{key}"] = _value(current.get(key))
            continue
        changed[name] = data.get(name)
    return changed


def record_from_event(payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """(record, partial) an inbox event stands for. A polled record (no ``meta``) is whole. A
    webhook's ``data`` holds only "crucial information", so it is partial (read whole through the
    API when the hub has a token); a deletion is ``{"id", "is_deleted": true, "archived": true}``.
    Custom fields stay keyed by hash here (names need the API)."""
    meta = payload.get("meta")
    if not isinstance(meta, dict):
        return dict(payload), False
    object_type = BY_ENTITY.get(str(meta.get("entity")), str(meta.get("entity")))
    entity_id = meta.get("entity_id")
    if meta.get("action") == "delete":
        previous = payload.get("previous") or {}
        return {
            "id": str(entity_id if entity_id is not None else previous.get("id")),
            "is_deleted": True,
            "archived": True,
        }, True
    data = dict(payload.get("data") or {})
    data["id"] = str(entity_id if entity_id is not None else data.get("id"))
    if isinstance(data.get("custom_fields"), dict):
        data["custom_fields"] = {k: _value(v) for k, v in data["custom_fields"].items()}
    record = present(None, object_type, data)
    return record, True
