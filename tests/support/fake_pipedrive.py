"""A local fake of Pipedrive's API (v2 under ``/api/v2``, v1 under ``/v1``) on loopback, for the
provider boundary only.

In tests it sits behind two Prism proxies (``tests/support/pipedrive_fixtures.py``), one per
spec, so every request the connector sends is validated against Pipedrive's OpenAPI spec before
it reaches this fake, and the fake's answers are checked on the way back. It can also run alone
(``FakePipedrive().start()``) for the benchmark: Prism is slow.

What it keeps: deals, persons, organizations (v2 shapes, custom field values by hash key under
``custom_fields``), leads (v1 shape, custom field values beside the standard ones), field
definitions (``crm setup`` adds custom ones with random 40-character keys), activities and
webhooks. Every API write is also turned into the webhooks v2 event Pipedrive would send
(``events``; ``change_source: api``), so tests can deliver the hub's own writes back to it.

``seed_records(object, count)`` makes ``count`` synthetic records available to the list
endpoints without storing them (generated from their id on demand; ``update_time`` rises with
the id). Every request is counted (``request_count``, ``requests_by_path``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.servers import free_port

API_TOKEN = "pd-test-token-made-up-0000"  # made up for tests
COMPANY_ID = 7701
HUB_USER_ID = 42  # the user the API token belongs to
SEED_BASE = datetime(2024, 1, 1, tzinfo=UTC)

_V2_COLLECTIONS = {"deals": "deal", "persons": "person", "organizations": "organization"}
_FIELDS_PATHS = {"dealFields": "deal", "personFields": "person", "organizationFields": "organization"}


def _without_nulls(value: Any) -> Any:
    """Null-valued keys dropped (custom field values kept as they are)."""
    if isinstance(value, dict):
        return {k: (v if k == "custom_fields" else _without_nulls(v)) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakePipedrive:
    def __init__(self, *, token: str = API_TOKEN) -> None:
        self.token = token
        self.lock = threading.RLock()
        self.records: dict[str, dict[int, dict[str, Any]]] = {"deal": {}, "person": {}, "organization": {}}
        self.leads: dict[str, dict[str, Any]] = {}
        self.activities: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.fields: dict[str, list[dict[str, Any]]] = {
            "deal": [self._system_field("title", "Title", "varchar"), self._system_field("value", "Value", "monetary")],
            "person": [self._system_field("name", "Name", "varchar"), self._system_field("email", "Email", "varchar")],
            "organization": [self._system_field("name", "Name", "varchar")],
        }
        self.seeded: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []
        self.request_count = 0
        self.requests_by_path: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str], dict[str, Any]]] = []  # (status, headers, body)
        self._ids = iter(range(1_000_001, 10_000_000))
        self._clock = _now()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body leave in one write (flushed after each request), no Nagle delay:
            # otherwise each small answer waits for a delayed ACK (the benchmark's write pass)
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                fake._handle(self, raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.port}"
        self.v2_url = self.url + "/api/v2"
        self.v1_url = self.url + "/v1"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakePipedrive:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset_from(self, fresh: FakePipedrive) -> None:
        """Take ``fresh``'s empty state (keeping this server and its port)."""
        with self.lock:
            for name in (
                "records",
                "leads",
                "activities",
                "webhooks",
                "fields",
                "seeded",
                "events",
                "requests_by_path",
                "requests",
                "script",
                "_ids",
                "_clock",
            ):
                setattr(self, name, getattr(fresh, name))
            self.request_count = 0

    # -- test helpers -----------------------------------------------------------------------

    def tick(self) -> datetime:
        """A strictly later modification time for each write (seconds apart, like Pipedrive's)."""
        with self.lock:
            self._clock = max(self._clock + timedelta(seconds=1), _now().replace(microsecond=0))
            return self._clock

    def new_id(self) -> int:
        return next(self._ids)

    def field_key(self, entity: str, name: str) -> str:
        """The hash key of a custom field, by its hub name (snake-case label)."""
        from connectors.pipedrive import field_name

        for f in self.fields["deal" if entity == "lead" else entity]:
            if f["is_custom_field"] and field_name(f["field_name"]) == name:
                return str(f["field_code"])
        raise KeyError(f"{entity} has no custom field {name!r}")

    def add(self, entity: str, values: dict[str, Any], *, custom: dict[str, Any] | None = None) -> int:
        """A record made by a person in Pipedrive (no event recorded)."""
        with self.lock:
            record_id = self.new_id()
            record = self._blank(entity, record_id)
            record.update(values)
            for name, value in (custom or {}).items():
                record["custom_fields"][self.field_key(entity, name)] = value
            self.records[entity][record_id] = record
            return record_id

    def change(
        self, entity: str, record_id: int, *, source: str = "app", custom: dict[str, Any] | None = None, **values: Any
    ) -> dict[str, Any]:
        """A change a person makes in Pipedrive; returns the webhooks v2 event it sends."""
        with self.lock:
            record = self.records[entity][record_id]
            previous: dict[str, Any] = {}
            for name, value in values.items():
                previous[name] = record.get(name)
                record[name] = value
            for name, value in (custom or {}).items():
                key = self.field_key(entity, name)
                previous.setdefault("custom_fields", {})[key] = record["custom_fields"].get(key)
                record["custom_fields"][key] = value
            record["update_time"] = _iso(self.tick())
            return self.event(entity, "change", record, previous, source=source)

    def delete(self, entity: str, record_id: int, *, source: str = "app") -> dict[str, Any]:
        with self.lock:
            record = self.records[entity].pop(record_id)
            return self.event(entity, "delete", None, record, source=source)

    def event(
        self,
        entity: str,
        action: str,
        data: dict[str, Any] | None,
        previous: dict[str, Any] | None,
        *,
        source: str = "app",
    ) -> dict[str, Any]:
        """A webhooks v2 body (the documented shape; custom fields as typed objects)."""

        def typed(record: dict[str, Any] | None) -> dict[str, Any] | None:
            if record is None:
                return None
            out = json.loads(json.dumps(record))
            if isinstance(out.get("custom_fields"), dict):
                out["custom_fields"] = {
                    k: {"type": "varchar", "value": v} if v is not None else None
                    for k, v in out["custom_fields"].items()
                }
            return out

        entity_id = (data or previous or {}).get("id")
        return {
            "meta": {
                "action": action,
                "entity": entity,
                "company_id": COMPANY_ID,
                "correlation_id": str(uuid.uuid4()),
                "entity_id": str(entity_id),
                "id": str(uuid.uuid4()),
                "is_bulk_edit": False,
                "timestamp": _iso(self.tick()),
                "type": "general",
                "user_id": HUB_USER_ID if source == "api" else 7,
                "version": "2.0",
                "webhook_id": "1",
                "webhook_owner_id": HUB_USER_ID,
                "change_source": source,
                "attempt": 1,
                "host": "example.pipedrive.com",
                "permitted_user_ids": [HUB_USER_ID],
            },
            "data": typed(data),
            "previous": typed(previous),
        }

    def seed_records(self, entity: str, count: int) -> None:
        """``count`` synthetic records (ids 1..count) for the list endpoints, generated on demand.
        ``entity``: deal, person, organization (or deals/persons/organizations)."""
        entity = _V2_COLLECTIONS.get(entity, entity)
        self.seeded[entity] = count

    def ban_webhook(self, hook_id: int) -> None:
        with self.lock:
            self.webhooks[hook_id].update(is_active=0, last_http_status=500)

    def drop_webhook(self, hook_id: int) -> None:
        with self.lock:
            self.webhooks.pop(hook_id)

    def paths(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in self.requests if method is None or r["method"] == method]

    # -- records ----------------------------------------------------------------------------

    @staticmethod
    def _system_field(code: str, name: str, field_type: str) -> dict[str, Any]:
        return {
            "field_name": name,
            "field_code": code,
            "field_type": field_type,
            "is_custom_field": False,
            "is_optional_response_field": False,
            "options": None,
            "subfields": None,
        }

    def _blank(self, entity: str, record_id: int) -> dict[str, Any]:
        stamp = _iso(self.tick())
        base: dict[str, Any] = {
            "id": record_id,
            "owner_id": HUB_USER_ID,
            "add_time": stamp,
            "update_time": stamp,
            "is_deleted": False,
            "custom_fields": {},
        }
        if entity == "deal":
            base.update(
                title="",
                person_id=None,
                org_id=None,
                pipeline_id=1,
                stage_id=1,
                value=0,
                currency="USD",
                status="open",
                is_archived=False,
                probability=None,
                visible_to=3,
                close_time=None,
            )
        elif entity == "person":
            base.update(name="", first_name="", last_name="", emails=[], phones=[], org_id=None, visible_to=3)
        else:
            base.update(name="", visible_to=3, address=None)
        return base

    def _seeded(self, entity: str, record_id: int) -> dict[str, Any]:
        stamp = _iso(SEED_BASE + timedelta(seconds=record_id))
        base: dict[str, Any] = {
            "id": record_id,
            "owner_id": HUB_USER_ID,
            "add_time": stamp,
            "update_time": stamp,
            "is_deleted": False,
            "custom_fields": {},
        }
        if entity == "deal":
            base.update(
                title=f"Seed deal {record_id}",
                person_id=None,
                org_id=None,
                pipeline_id=1,
                stage_id=1 + record_id % 5,
                value=record_id % 10_000,
                currency="USD",
                status="open",
                is_archived=False,
                visible_to=3,
            )
        elif entity == "person":
            base.update(
                name=f"Seed Person {record_id}",
                first_name="Seed",
                last_name=f"Person {record_id}",
                emails=[{"value": f"seed{record_id}@example.com", "primary": True, "label": "work"}],
                phones=[],
                org_id=None,
                visible_to=3,
            )
        else:
            base.update(name=f"Seed Org {record_id}", visible_to=3)
        return base

    def _get(self, entity: str, record_id: int) -> dict[str, Any] | None:
        found = self.records[entity].get(record_id)
        if found is None and 1 <= record_id <= self.seeded.get(entity, 0):
            return self._seeded(entity, record_id)
        return found

    def _list(self, entity: str, q: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
        """v2 list: filters, ``updated_since``/``updated_until``, sort by update_time or id,
        cursor paging. Seeded records are walked lazily (no list of them is ever built)."""
        limit = min(int(q.get("limit") or 100), 500)
        if q.get("ids"):
            ids = [int(i) for i in q["ids"].split(",") if i.strip()]
            return [r for r in (self._get(entity, i) for i in ids) if r is not None], None

        def keep(r: dict[str, Any]) -> bool:
            if q.get("status") == "deleted":
                return False
            for name in ("person_id", "org_id", "owner_id", "stage_id", "pipeline_id"):
                if q.get(name) and str(r.get(name)) != q[name]:
                    return False
            if q.get("status") and r.get("status") not in q["status"].split(","):
                return False
            if q.get("updated_since") and _parse(r["update_time"]) < _parse(q["updated_since"]):
                return False
            if q.get("updated_until") and _parse(r["update_time"]) >= _parse(q["updated_until"]):
                return False
            return True

        def order(r: dict[str, Any]) -> tuple[Any, ...]:
            return (r["update_time"], r["id"]) if q.get("sort_by") == "update_time" else (r["id"],)

        after: tuple[Any, ...] | None = None
        if q.get("cursor"):
            after = tuple(json.loads(base64.urlsafe_b64decode(q["cursor"].encode())))
        stored = sorted((r for r in self.records[entity].values() if keep(r)), key=order)
        if after is not None:
            stored = [r for r in stored if order(r) > after]
        # seeded ids rise with update_time, so both orders walk them by id
        seeded_count = self.seeded.get(entity, 0)
        start = 1
        if after is not None:
            start = (int(after[-1]) + 1) if q.get("sort_by") != "update_time" else int(after[1]) + 1
        if q.get("updated_since"):
            since = int((_parse(q["updated_since"]) - SEED_BASE).total_seconds())
            start = max(start, since)
        picked_seeded: list[dict[str, Any]] = []
        rid = start
        filtered_by = [n for n in ("person_id", "org_id") if q.get(n)]
        while rid <= seeded_count and len(picked_seeded) <= limit and not filtered_by:
            if rid not in self.records[entity]:
                r = self._seeded(entity, rid)
                if keep(r) and (after is None or order(r) > after):
                    picked_seeded.append(r)
            rid += 1
        merged = sorted(picked_seeded + stored[: limit + 1], key=order)
        page = merged[:limit]
        next_cursor = None
        if len(merged) > limit:
            next_cursor = base64.urlsafe_b64encode(json.dumps(list(order(page[-1]))).encode()).decode()
        return page, next_cursor

    def _write(self, entity: str, record_id: int | None, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            created = record_id is None
            if created:
                record_id = self.new_id()
                record = self._blank(entity, record_id)
                self.records[entity][record_id] = record
            else:
                record = self.records[entity][record_id]
            previous: dict[str, Any] = {}
            for name, value in body.items():
                if name == "custom_fields":
                    for key, v in value.items():
                        previous.setdefault("custom_fields", {})[key] = record["custom_fields"].get(key)
                        record["custom_fields"][key] = v
                    continue
                previous[name] = record.get(name)
                record[name] = value
            if entity == "person" and "name" in body:
                first, _, last = str(body["name"]).partition(" ")
                record["first_name"], record["last_name"] = first, last
            record["update_time"] = _iso(self.tick())
            self.events.append(
                self.event(
                    entity, "create" if created else "change", record, None if created else previous, source="api"
                )
            )
            return record

    def _search(self, entity: str, q: dict[str, str]) -> list[dict[str, Any]]:
        term = q.get("term", "").strip().lower()
        fields = set((q.get("fields") or "").split(","))
        items = []
        for r in self.records[entity].values():
            hit = False
            if "custom_fields" in fields:
                hit = any(str(v).lower() == term for v in r["custom_fields"].values() if v is not None)
            if "email" in fields:
                hit = hit or any(str(e.get("value", "")).lower() == term for e in r.get("emails") or [])
            if "name" in fields or "title" in fields:
                hit = hit or str(r.get("name") or r.get("title") or "").lower() == term
            if hit:
                item: dict[str, Any] = {"id": r["id"], "type": entity}
                if entity == "person":
                    item.update(name=r["name"], emails=[e["value"] for e in r.get("emails") or []])
                elif entity == "deal":
                    item.update(title=r["title"], status=r["status"])
                else:
                    item.update(name=r["name"])
                items.append({"result_score": 1.0, "item": item})
        return items

    # -- HTTP ---------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        q = dict(parse_qsl(parts.query))
        method = handler.command
        with self.lock:
            self.request_count += 1
            self.requests_by_path[f"{method} {path}"] += 1
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": q,
                    "at": time.monotonic(),
                    "body": json.loads(raw) if raw else None,
                }
            )
            scripted = self.script.pop(0) if self.script else None
        if handler.headers.get("x-api-token") != self.token:
            return self._answer(handler, 401, {"success": False, "error": "unauthorized access", "errorCode": 401})
        if scripted is not None:
            status, headers, body = scripted
            return self._answer(handler, status, body, headers)
        body = json.loads(raw) if raw else {}
        try:
            if path.startswith("/api/v2/"):
                status, answer = self._v2(method, path[len("/api/v2") :], q, body)
            elif path.startswith("/v1/"):
                status, answer = self._v1(method, path[len("/v1") :], q, body)
            else:
                status, answer = 404, {"success": False, "error": "not found"}
        except KeyError as exc:
            status, answer = 404, {"success": False, "error": f"not found: {exc}"}
        return self._answer(handler, status, answer)

    def _v2(self, method: str, path: str, q: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        segments = path.strip("/").split("/")
        head = segments[0]
        if head in _FIELDS_PATHS:
            entity = _FIELDS_PATHS[head]
            if method == "GET":
                start = int(q.get("cursor") or 0)
                limit = min(int(q.get("limit") or 100), 500)
                items = self.fields[entity][start : start + limit]
                more = start + limit < len(self.fields[entity])
                return 200, {
                    "success": True,
                    "data": items,
                    "additional_data": {"next_cursor": str(start + limit) if more else None},
                }
            field = {
                "field_name": body["field_name"],
                "field_code": secrets.token_hex(20),
                "field_type": body["field_type"],
                "is_custom_field": True,
                "is_optional_response_field": False,
                "options": None,
                "subfields": None,
            }
            with self.lock:
                self.fields[entity].append(field)
            return 200, {"success": True, "data": field}
        if head == "activities":
            if method == "GET":
                found = [
                    a
                    for a in self.activities.values()
                    if all(str(a.get(k)) == q[k] for k in ("owner_id", "deal_id") if q.get(k))
                ]
                return 200, {"success": True, "data": found, "additional_data": {"next_cursor": None}}
            with self.lock:
                activity = {
                    "id": self.new_id(),
                    "done": False,
                    "add_time": _iso(self.tick()),
                    "update_time": _iso(self.tick()),
                    **body,
                }
                self.activities[activity["id"]] = activity
            return 200, {"success": True, "data": activity}
        entity = _V2_COLLECTIONS.get(head)
        if entity is None:
            return 404, {"success": False, "error": "not found"}
        if len(segments) == 2 and segments[1] == "search":
            return 200, {
                "success": True,
                "data": {"items": self._search(entity, q)},
                "additional_data": {"next_cursor": None},
            }
        if len(segments) == 1 and method == "GET":
            page, cursor = self._list(entity, q)
            return 200, {"success": True, "data": page, "additional_data": {"next_cursor": cursor}}
        if len(segments) == 1 and method == "POST":
            return 200, {"success": True, "data": self._write(entity, None, body)}
        record_id = int(segments[1])
        if method == "GET":
            found = self._get(entity, record_id)
            return (200, {"success": True, "data": found}) if found else (404, {"success": False, "error": "not found"})
        if method == "PATCH":
            if record_id not in self.records[entity]:
                return 404, {"success": False, "error": "not found"}
            return 200, {"success": True, "data": self._write(entity, record_id, body)}
        return 405, {"success": False, "error": "method not allowed"}

    def _v1(self, method: str, path: str, q: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        segments = path.strip("/").split("/")
        if segments[0] == "webhooks":
            return self._webhooks(method, segments, body)
        if segments[0] != "leads":
            return 404, {"success": False, "error": "not found"}
        if len(segments) == 1 and method == "GET":
            leads = sorted(self.leads.values(), key=lambda r: (r["update_time"], r["id"]))
            if q.get("updated_since"):
                leads = [r for r in leads if _parse(r["update_time"]) >= _parse(q["updated_since"])]
            start, limit = int(q.get("start") or 0), min(int(q.get("limit") or 100), 500)
            page = leads[start : start + limit]
            return 200, {
                "success": True,
                "data": page,
                "additional_data": {
                    "start": start,
                    "limit": limit,
                    "more_items_in_collection": start + limit < len(leads),
                },
            }
        if len(segments) == 1 and method == "POST":
            with self.lock:
                stamp = _iso(self.tick())
                lead = {
                    "id": str(uuid.uuid4()),
                    "owner_id": HUB_USER_ID,
                    "creator_id": HUB_USER_ID,
                    "label_ids": [],
                    "person_id": None,
                    "organization_id": None,
                    "source_name": "API",
                    "is_archived": False,
                    "was_seen": False,
                    "value": None,
                    "expected_close_date": None,
                    "add_time": stamp,
                    "update_time": stamp,
                    "visible_to": "3",
                    **body,
                }
                self.leads[lead["id"]] = lead
            return 201, {"success": True, "data": lead}
        lead = self.leads.get(segments[1])
        if lead is None:
            return 404, {"success": False, "error": "Lead not found"}
        if method == "PATCH":
            with self.lock:
                lead.update(body)
                lead["update_time"] = _iso(self.tick())
        return 200, {"success": True, "data": lead}

    def add_lead(self, title: str, *, custom: dict[str, Any] | None = None, person_id: int | None = None) -> str:
        with self.lock:
            stamp = _iso(self.tick())
            lead = {
                "id": str(uuid.uuid4()),
                "title": title,
                "owner_id": HUB_USER_ID,
                "creator_id": HUB_USER_ID,
                "label_ids": [],
                "person_id": person_id,
                "organization_id": None,
                "source_name": "Manually created",
                "is_archived": False,
                "was_seen": True,
                "value": {"amount": 500, "currency": "EUR"},
                "expected_close_date": None,
                "add_time": stamp,
                "update_time": stamp,
                "visible_to": "3",
            }
            for name, value in (custom or {}).items():
                lead[self.field_key("lead", name)] = value
            self.leads[lead["id"]] = lead
            return str(lead["id"])

    def _webhooks(self, method: str, segments: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET":
            return 200, {"success": True, "status": "ok", "data": list(self.webhooks.values())}
        if method == "POST":
            with self.lock:
                hook = {
                    "id": self.new_id(),
                    "company_id": COMPANY_ID,
                    "owner_id": HUB_USER_ID,
                    "user_id": HUB_USER_ID,
                    "event_action": body["event_action"],
                    "event_object": body["event_object"],
                    "subscription_url": body["subscription_url"],
                    "version": body.get("version", "2.0"),
                    "is_active": 1,
                    "add_time": _iso(self.tick()),
                    "remove_time": None,
                    "type": "general",
                    "http_auth_user": body.get("http_auth_user"),
                    "http_auth_password": body.get("http_auth_password"),
                    "remove_reason": None,
                    "last_delivery_time": None,
                    "last_http_status": None,
                    "admin_id": HUB_USER_ID,
                    "name": body["name"],
                }
                self.webhooks[hook["id"]] = hook
            return 201, {"success": True, "status": "ok", "data": hook}
        if method == "DELETE":
            with self.lock:
                self.webhooks.pop(int(segments[1]), None)
            return 200, {"success": True, "status": "ok"}
        return 405, {"success": False, "error": "method not allowed"}

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        # Pipedrive answers null for empty values (next_cursor at the end, a deal without a
        # person) where its spec declares non-nullable types; an absent key is what both allow
        data = json.dumps(_without_nulls(body)).encode()
        handler.send_response(status)
        for name, value in {
            "x-ratelimit-limit": "40",
            "x-ratelimit-remaining": "39",
            "x-ratelimit-reset": "2",
            **(headers or {}),
        }.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
