"""A local fake of HubSpot's CRM objects API on loopback, for the provider boundary only.

Requests are checked against hubspot-api-client's generated models (HubSpot's spec is not
public) and answers are built from those models, so the JSON has HubSpot's own field names.
Tests script failures: a status with headers (429 + Retry-After, 503, 401…), or a hang until
released (a call in flight when a worker is killed).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hubspot.crm.objects import (
    ApiClient,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    SimplePublicObject,
    SimplePublicObjectId,
)

_SDK = ApiClient()


def parse_batch_read(body: dict[str, Any]) -> BatchReadInputSimplePublicObjectId:
    """Refuse any key the SDK model does not know; build the model (validates types)."""
    known = set(BatchReadInputSimplePublicObjectId.attribute_map.values())
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"unknown keys in batch read: {sorted(unknown)}")
    return BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(**item) for item in body["inputs"]],
        properties=body.get("properties"),
        properties_with_history=body.get("propertiesWithHistory"),
        id_property=body.get("idProperty"),
    )


class FakeHubSpot:
    def __init__(self) -> None:
        self.deals: dict[str, dict[str, str]] = {}
        self.modified: dict[str, datetime] = {}
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.in_flight = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, headers, answer = fake.handle(self.path, dict(self.headers), body)
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeHubSpot:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def set_deal(self, deal_id: str, modified: datetime, **properties: str) -> None:
        with self._lock:
            self.deals.setdefault(deal_id, {"pipeline": "default"}).update(properties)
            self.modified[deal_id] = modified

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        for _ in range(times):
            self.script.append({"status": status, "headers": headers or {}})

    def hang_next(self) -> None:
        self.script.append({"hang": True})

    def handle(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            step = self.script.popleft() if self.script else None
        if step and step.get("hang"):
            self.in_flight.set()
            self.release.wait(120)
            return 503, {}, {"status": "error", "message": "released"}
        if step:
            return (
                step["status"],
                step["headers"],
                {"status": "error", "message": f"scripted {step['status']}", "category": "SCRIPTED"},
            )
        if not headers.get("Authorization", headers.get("authorization", "")).startswith("Bearer "):
            return 401, {}, {"status": "error", "message": "missing bearer token", "category": "INVALID_AUTHENTICATION"}
        if path != "/crm/v3/objects/deals/batch/read":
            return 404, {}, {"status": "error", "message": f"no route {path}"}
        request = parse_batch_read(body)
        now = datetime.now(timezone.utc)
        results = []
        with self._lock:
            for item in request.inputs:
                if item.id not in self.deals:
                    continue
                modified = self.modified[item.id]
                props = {"hs_lastmodifieddate": modified.isoformat().replace("+00:00", "Z"), **self.deals[item.id]}
                wanted = {k: v for k, v in props.items() if k in (request.properties or []) or k == "hs_object_id"}
                results.append(
                    SimplePublicObject(
                        id=item.id, properties=wanted, created_at=modified, updated_at=modified, archived=False
                    )
                )
        answer = BatchResponseSimplePublicObject(
            status="COMPLETE", results=results, started_at=now, completed_at=now
        )
        return 200, {}, _SDK.sanitize_for_serialization(answer)
