"""A local fake of SendGrid's mail send on loopback, for the provider boundary only.

Every request is first checked by Prism (unless the fake is made without one) against
``../shared/specs/sendgrid/tsg_mail_v3.json``: a request that breaks the spec gets Prism's error answer and its violations are kept in
``violations``. A valid one is recorded and answered like SendGrid: 202 with ``X-Message-Id`` and
the ``X-RateLimit-*`` headers, or what the test scripted: a status with headers and SendGrid's
error body, or a hang (the request arrived, the answer never does); or, with ``faults`` (see
``tests.support.faults``), a share of the calls refused with 429/5xx or timed out.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpx

from tests.support.faults import Faults
from tests.support.prism import PrismMock
from tests.support.servers import free_port

MAIL_SEND = "/v3/mail/send"
API_KEY = "SG.test-key-made-up.0000000000000000000000"  # made up for tests
FROM_EMAIL = "partners@example.com"
ADMIN_EMAIL = "ops@example.com"


@dataclass
class Scripted:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    hang_s: float = 0.0  # > 0: hold the request this long, then drop the connection unanswered


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    message_id: str | None = None


class FakeSendGrid:
    def __init__(self, prism: PrismMock | None, *, rate_limit: int = 600) -> None:
        self.prism = prism  # None: no spec check (load harnesses; the spec is checked by the tests)
        self.rate_limit = rate_limit
        self.requests: list[Received] = []
        self.violations: list[str] = []
        self.script: deque[Scripted] = deque()
        self.release = threading.Event()
        #: injected faults (off unless a test or the fault harness sets a rate)
        self.faults = Faults()
        #: mails accepted whose 202 was lost to an injected timeout (the hub cannot know they went)
        self.lost_answers: list[Received] = []
        #: unsubscribe group id -> the addresses suppressed in it (the Suppressions API)
        self.group_suppressions: dict[int, set[str]] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                fake._handle(self, raw)

            def do_DELETE(self) -> None:
                fake._suppressions(self, b"")

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeSendGrid:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.faults.release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.message_id is not None]

    def _suppressions(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        """``POST /v3/asm/groups/{id}/suppressions`` and ``DELETE …/suppressions/{email}``."""
        parts = handler.path.split("?")[0].strip("/").split("/")
        if (
            len(parts) < 5
            or parts[:3] != ["v3", "asm", "groups"]
            or not parts[3].isdigit()
            or parts[4] != "suppressions"
        ):
            return self._answer(handler, 404, {}, {"errors": [{"message": "not found", "field": None}]})
        group = int(parts[3])
        with self._lock:
            held = self.group_suppressions.setdefault(group, set())
            if handler.command == "POST" and len(parts) == 5:
                emails = list(json.loads(raw or b"{}").get("recipient_emails") or [])
                held.update(e.lower() for e in emails)
                return self._answer(handler, 201, {}, {"recipient_emails": emails})
            if handler.command == "DELETE" and len(parts) == 6:
                held.discard(unquote(parts[5]).lower())
                return self._answer(handler, 204, {}, None)
        return self._answer(handler, 405, {}, {"errors": [{"message": "method not allowed", "field": None}]})

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        if handler.path.startswith("/v3/asm/"):
            return self._suppressions(handler, raw)
        if handler.path != MAIL_SEND:
            return self._answer(handler, 404, {}, {"errors": [{"message": "not found", "field": None}]})
        if self.prism is not None:
            checked = httpx.post(
                self.prism.url + MAIL_SEND,
                content=raw,
                headers={k: v for k, v in handler.headers.items() if k.lower() in ("authorization", "content-type")},
                timeout=10,
            )
            if checked.status_code != 202:
                with self._lock:
                    self.violations.append(checked.headers.get("sl-violations") or checked.text)
                return self._answer(handler, checked.status_code, {}, checked.json())
        received = Received({k.lower(): v for k, v in handler.headers.items()}, json.loads(raw))
        with self._lock:
            self.requests.append(received)
            step = self.script.popleft() if self.script else Scripted()
        fault = self.faults.draw() if step == Scripted() else None
        if fault == "429":
            wait = self.faults.retry_after_s
            limits = {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": "0",
                      "X-RateLimit-Reset": str(int(time.time()) + wait), "Retry-After": str(wait)}  # fmt: skip
            return self._answer(handler, 429, limits, {"errors": [{"message": "too many requests", "field": None}]})
        if fault == "5xx":
            return self._answer(
                handler, self.faults.status_5xx(), {}, {"errors": [{"message": "injected", "field": None}]}
            )
        if fault in ("timeout", "lost"):
            if fault == "lost":  # accepted (SendGrid will deliver it), but the 202 never arrives
                received.message_id = secrets.token_urlsafe(16)[:22]
                with self._lock:
                    self.lost_answers.append(received)
            self.faults.hang()
            handler.close_connection = True
            return None
        if step.hang_s:
            self.release.wait(step.hang_s)
            handler.close_connection = True
            return None
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - len(self.requests))),
            "X-RateLimit-Reset": str(int(time.time()) + 60),
            **step.headers,
        }
        if step.status == 202:
            received.message_id = secrets.token_urlsafe(16)[:22]
            headers["X-Message-Id"] = received.message_id
        return self._answer(handler, step.status, headers, step.body)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if data:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
