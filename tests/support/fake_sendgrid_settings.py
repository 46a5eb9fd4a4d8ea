"""A local fake of SendGrid's webhook settings API (Event Webhook and Inbound Parse settings) on
loopback, keeping state like SendGrid. Every request is first checked by Prism against
``../shared/specs/sendgrid/tsg_webhooks_v3.json``; a request Prism refuses is answered with
Prism's error and its violation is kept in ``violations``."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.support.prism import PrismMock
from tests.support.servers import REPO, free_port

SENDGRID_WEBHOOKS_SPEC = REPO.parent / "shared" / "specs" / "sendgrid" / "tsg_webhooks_v3.json"
#: a P-256 public key as SendGrid shows it (the throwaway test key of shared/vectors)
PUBLIC_KEY = json.loads((REPO.parent / "shared" / "vectors" / "sendgrid.signed-vector.generated.json").read_text())[
    "public_key_b64_der_spki"
]


class FakeSendGridSettings:
    def __init__(self, prism: PrismMock) -> None:
        self.prism = prism
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.parse: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                fake._handle(self, raw)

            do_GET = do_POST = do_PATCH = _any

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeSendGridSettings:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        method, path = handler.command, handler.path
        checked = httpx.request(
            method,
            self.prism.url + path,
            content=raw or None,
            timeout=10,
            headers={k: v for k, v in handler.headers.items() if k.lower() in ("authorization", "content-type")},
        )
        if checked.status_code >= 400:
            with self._lock:
                self.violations.append(f"{method} {path}: {checked.headers.get('sl-violations') or checked.text}")
            return self._answer(handler, checked.status_code, checked.text.encode())
        body = json.loads(raw) if raw else None
        with self._lock:
            self.calls.append((method, re.sub(r"/[0-9a-f-]{36}", "/{id}", path)))
            status, answer = self._route(method, path, body)
        return self._answer(handler, status, json.dumps(answer).encode())

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        base = "/v3/user/webhooks/event/settings"
        if method == "GET" and path == f"{base}/all":
            return 200, {"max_allowed": 5, "webhooks": list(self.webhooks.values())}
        if method == "POST" and path == base:
            webhook = {**body, "id": str(uuid.uuid4()), "public_key": ""}
            self.webhooks[webhook["id"]] = webhook
            return 200, webhook
        if method == "PATCH" and path.startswith(f"{base}/signed/"):
            webhook = self.webhooks[path.rsplit("/", 1)[1]]
            webhook["public_key"] = PUBLIC_KEY if body["enabled"] else ""
            return 200, {"id": webhook["id"], "public_key": webhook["public_key"]}
        if method == "PATCH" and path.startswith(f"{base}/"):
            webhook = self.webhooks[path.rsplit("/", 1)[1]]
            webhook.update(body)
            return 200, webhook
        if method == "GET" and path == "/v3/user/webhooks/parse/settings":
            return 200, {"result": list(self.parse.values())}
        if method == "POST" and path == "/v3/user/webhooks/parse/settings":
            self.parse[body["hostname"]] = dict(body)
            return 201, body
        if method == "PATCH" and path.startswith("/v3/user/webhooks/parse/settings/"):
            setting = self.parse[path.rsplit("/", 1)[1]]
            setting.update(body)
            return 200, setting
        return 404, {"errors": [{"message": "not found", "field": None}]}

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
