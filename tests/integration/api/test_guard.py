"""The HTTP layer against hostile callers, through the real ASGI app (``hub.api.app``) on a real
Redis-compatible server and SQLite: the caller is authenticated before a byte of the body is
read, API bodies are capped (413), failed authentications are throttled through Redis (429 with
Retry-After) and write nothing to the database, the OpenAPI pages and ``/metrics`` follow the
mode, every documented error answer has its schema, and Stripe signatures dated ahead are refused.

The app is driven as an ASGI server drives it (``call``), so a test sees exactly how much of a
body the app pulled from the connection."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlalchemy import event, select

from hub.api.app import HubApp, create_app
from hub.pipeline.ingest import InboxWriter
from hub.pipeline.models import Alert, InboxEvent
from hub.pipeline.store import upgrade
from hub.pipeline.unit_of_work import unit_of_work
from hub.program.partners import add_partner
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings
from tests.support import aio

ADMIN_TOKEN = "admin-token-made-up-for-tests-32-characters-or-more"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
WHSEC = "whsec_made_up_for_guard_tests"  # made up for tests
MB = 1024 * 1024
CHUNK = 64 * 1024


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, pulled: int):
        self.status = status
        self.headers = headers
        self.body = body
        self.pulled = pulled  # body bytes the app took from the connection

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: HubApp,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    stream_bytes: int = 0,
    declare_length: bool = True,
    client: str = "203.0.113.7",
    query: str = "",
) -> Answer:
    """One request through the ASGI app. ``stream_bytes``: a body of that many bytes sent in 64
    KiB chunks as the app asks for them (never built whole)."""
    total = len(body) if body is not None else stream_bytes
    sent = {"bytes": 0}
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if total and declare_length:
        raw.append((b"content-length", str(total).encode()))
    if body is not None or stream_bytes:
        raw.append((b"content-type", b"application/json"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": (client, 50000),
        "server": ("127.0.0.1", 8080),
    }
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        if sent.get("finished"):
            await asyncio.Event().wait()  # nothing more: the connection stays open
        if body is not None:
            sent["bytes"], sent["finished"] = total, True
            return {"type": "http.request", "body": body, "more_body": False}
        size = min(CHUNK, total - sent["bytes"])
        sent["bytes"] += size
        sent["finished"] = sent["bytes"] >= total
        chunk = b"{" + b" " * (size - 1) if size else b""
        return {"type": "http.request", "body": chunk, "more_body": not sent["finished"]}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    aio.run(app(scope, receive, send))
    return Answer(out["status"], out["headers"], out["body"], sent["bytes"])


@pytest.fixture
def open_app(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., HubApp]]:
    """``open_app(**env)`` -> the hub's ASGI app over a migrated SQLite file and the test Redis."""
    for key in [k for k in os.environ if k.startswith("PARTNERHUB_") or k in ("REDIS_URL", "DATABASE_URL")]:
        monkeypatch.delenv(key)
    database_url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    upgrade(database_url)
    hubs: list[tuple[Hub, InboxWriter]] = []

    def make(**env: str) -> HubApp:
        settings = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PARTNERHUB_DATA_DIR": str(tmp_path / "data"),
            "PARTNERHUB_ADMIN_TOKEN": ADMIN_TOKEN,
        } | env
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        hub = Hub.open(load_settings())
        app = create_app(hub)
        app.state.hub = hub
        app.state.inbox_writer = InboxWriter(hub)
        hubs.append((hub, app.state.inbox_writer))
        return app

    yield make
    for hub, writer in hubs:
        writer.close()
        hub.close()


def partner_key(app: HubApp) -> str:
    hub: Hub = app.state.hub
    with unit_of_work(hub) as session:
        return add_partner(session, name="Acme Partners", email="p@acme.example").api_key


def count_writes(app: HubApp) -> dict[str, int]:
    """INSERT/UPDATE/DELETE statements the hub's engine runs from now on."""
    writes = {"n": 0}

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes["n"] += 1

    event.listen(app.state.hub.engine, "before_cursor_execute", before)
    return writes


# -- 9: authenticate first, then read at most the limit --------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/referrals", "/api/v1/deal-registrations", "/api/v1/admin/ledger"])
def test_an_unauthenticated_50_mb_body_is_refused_before_a_byte_is_read(open_app, path):
    app = open_app()
    for headers in ({}, {"authorization": "Bearer ph_live_not-a-key"}, {"authorization": "Bearer wrong"}):
        answer = call(app, "POST", path, headers=headers, stream_bytes=50 * MB)
        assert answer.status == 401, answer.body
        assert answer.pulled == 0  # not one chunk of the 50 MB was read, let alone parsed
        assert answer.headers["www-authenticate"] == "Bearer"


def test_api_bodies_over_the_limit_are_413_and_never_read_whole(open_app):
    app = open_app(PARTNERHUB_API_BODY_LIMIT=str(MB))
    auth = {"authorization": f"Bearer {partner_key(app)}"}
    declared = call(app, "POST", "/api/v1/referrals", headers=auth, stream_bytes=50 * MB)
    assert declared.status == 413 and declared.pulled == 0  # refused on its Content-Length
    assert "larger than 1048576 bytes" in declared.json()["detail"]
    streamed = call(app, "POST", "/api/v1/referrals", headers=auth, stream_bytes=50 * MB, declare_length=False)
    assert streamed.status == 413
    assert streamed.pulled <= MB + CHUNK  # reading stopped at the limit
    admin = call(app, "POST", "/api/v1/admin/ledger", headers=ADMIN, stream_bytes=2 * MB, declare_length=False)
    assert admin.status == 413 and admin.pulled <= MB + CHUNK
    body = json.dumps({"company_name": "Globex", "company_domain": "globex.example"}).encode()
    fine = call(app, "POST", "/api/v1/referrals", headers=auth, body=body)
    assert fine.status == 202, fine.body  # a body under the limit reaches the route whole


def test_webhook_bodies_are_capped_by_the_connector_limit(open_app):
    app = open_app(PARTNERHUB_STRIPE__WEBHOOK_SECRETS=json.dumps([WHSEC]), PARTNERHUB_STRIPE__MAX_BODY_BYTES="65536")
    declared = call(app, "POST", "/webhooks/stripe", stream_bytes=50 * MB)
    assert declared.status == 413 and declared.pulled == 0
    streamed = call(app, "POST", "/webhooks/stripe", stream_bytes=50 * MB, declare_length=False)
    assert streamed.status == 413 and streamed.pulled <= 65536 + CHUNK


# -- 10: one failed-attempt throttle, shared through Redis, writing nothing ------------------------


def test_failed_partner_keys_are_throttled_per_address_across_processes(open_app):
    app, other_process = open_app(PARTNERHUB_THROTTLE_FAILURES="5"), open_app(PARTNERHUB_THROTTLE_FAILURES="5")
    good = {"authorization": f"Bearer {partner_key(app)}"}
    writes = count_writes(app)
    for n in range(5):
        bad = {"authorization": f"Bearer ph_live_guess{n:04d}-of-a-key"}
        assert call(app, "GET", "/api/v1/referrals", headers=bad).status == 401
    assert writes["n"] == 0  # failed attempts are counted in Redis, never in the database
    refused = call(other_process, "GET", "/api/v1/referrals", headers={"authorization": "Bearer ph_live_another"})
    assert refused.status == 429  # the other web process agrees: the count lives in Redis
    assert 0 < int(refused.headers["retry-after"]) <= 300
    # the address is blocked whatever it presents; another address is not
    assert call(app, "GET", "/api/v1/referrals", headers=good).status == 429
    assert call(app, "GET", "/api/v1/referrals", headers=good, client="198.51.100.9").status == 200


def test_failed_admin_tokens_are_throttled_per_key_prefix_from_any_address(open_app):
    app = open_app(PARTNERHUB_THROTTLE_FAILURES="3")
    writes = count_writes(app)
    wrong = {"authorization": "Bearer admin-token-made-up-for-tests-but-wrong-0000"}
    for n in range(3):  # one guess per address, the same token prefix each time
        assert call(app, "GET", "/api/v1/admin/referrals", headers=wrong, client=f"192.0.2.{n}").status == 401
    assert call(app, "GET", "/api/v1/admin/referrals", headers=wrong, client="192.0.2.200").status == 429
    assert call(app, "GET", "/api/v1/admin/referrals", headers=ADMIN, client="192.0.2.201").status == 429
    assert writes["n"] == 0
    other = {"authorization": "Bearer another-prefix-entirely-and-also-wrong-00"}
    assert call(app, "GET", "/api/v1/admin/referrals", headers=other, client="192.0.2.202").status == 401


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(open_app):
    app = open_app(PARTNERHUB_THROTTLE_FAILURES="2", PARTNERHUB_TRUSTED_PROXIES="10.0.0.0/8")
    key = partner_key(app)
    for n in range(2):  # an attacker behind the proxy, each guess with a new key prefix
        bad = {"authorization": f"Bearer ph_live_{n}bad", "x-forwarded-for": "203.0.113.50"}
        assert call(app, "GET", "/api/v1/referrals", headers=bad, client="10.1.2.3").status == 401
    blocked = {"authorization": "Bearer ph_live_zzz", "x-forwarded-for": "203.0.113.50"}
    assert call(app, "GET", "/api/v1/referrals", headers=blocked, client="10.1.2.3").status == 429
    # another client behind the same proxy is not blocked by the attacker's failures
    other = {"authorization": f"Bearer {key}", "x-forwarded-for": "198.51.100.20"}
    assert call(app, "GET", "/api/v1/referrals", headers=other, client="10.1.2.3").status == 200
    # from an untrusted peer the header is ignored: it cannot pick an address to blame or to hide behind
    for n in range(2):
        spoof = {"authorization": f"Bearer ph_live_{n}spoof", "x-forwarded-for": f"198.51.100.{n}"}
        assert call(app, "GET", "/api/v1/referrals", headers=spoof, client="192.0.2.77").status == 401
    spoof = {"authorization": "Bearer ph_live_yyy", "x-forwarded-for": "198.51.100.99"}
    assert call(app, "GET", "/api/v1/referrals", headers=spoof, client="192.0.2.77").status == 429


def test_an_unconfigured_connector_writes_one_alert_not_one_per_request(open_app):
    app = open_app()  # no Stripe webhook secret: its endpoint answers 503 so Stripe retries
    writes = count_writes(app)
    for _ in range(30):
        assert call(app, "POST", "/webhooks/stripe", body=b"{}").status == 503
    hub: Hub = app.state.hub
    with hub.sessions() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.key == "connector_config:stripe")))
    assert len(alerts) == 1 and alerts[0].count == 1
    assert writes["n"] == 1  # the alert's one INSERT; no row lock and commit per request


# -- 12: docs, metrics, error schemas, Stripe's future skew ------------------------------------------


def test_docs_are_off_and_metrics_need_the_admin_token_in_production(open_app):
    app = open_app()  # production is the default mode
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert call(app, "GET", path).status == 404
    assert call(app, "GET", "/metrics").status == 401
    assert call(app, "GET", "/metrics", headers={"authorization": "Bearer not-the-token"}).status == 401
    metrics = call(app, "GET", "/metrics", headers=ADMIN)
    assert metrics.status == 200 and b"partnerhub_" in metrics.body
    assert call(app, "GET", "/healthz").status == 200


def test_docs_and_metrics_are_configurable(open_app):
    dev = open_app(PARTNERHUB_MODE="development")
    assert call(dev, "GET", "/docs").status == 200 and call(dev, "GET", "/metrics").status == 200
    chosen = open_app(PARTNERHUB_API_DOCS="true", PARTNERHUB_METRICS="off")
    assert call(chosen, "GET", "/openapi.json").status == 200
    assert call(chosen, "GET", "/metrics", headers=ADMIN).status == 404
    opened = open_app(PARTNERHUB_METRICS="open")
    assert call(opened, "GET", "/metrics").status == 200


ERRORS = {"400", "401", "404", "409", "413", "429", "503"}


def test_openapi_documents_every_error_answer_and_422s_match_their_schema(open_app):
    app = open_app(PARTNERHUB_API_DOCS="true")
    spec = call(app, "GET", "/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorOut"]["required"] == ["detail"]
    operations = [(p, m, op) for p, ops in spec["paths"].items() if p.startswith("/api/") for m, op in ops.items()]
    assert len(operations) > 10
    for path, method, op in operations:
        missing = ERRORS - set(op["responses"])
        assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
        for status in ERRORS:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, status)
    # a create that takes an Idempotency-Key answers a repeat 200 with the first answer: documented
    for path, model in (("/api/v1/referrals", "ReferralOut"), ("/api/v1/deal-registrations", "RegistrationOut")):
        answers = spec["paths"][path]["post"]["responses"]
        assert answers["202"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert answers["200"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    # answers the API gives match what it documents
    assert set(call(app, "GET", "/api/v1/referrals").json()) == {"detail"}
    hub: Hub = app.state.hub
    with unit_of_work(hub) as session:
        partner_id = add_partner(session, name="P", email="p@p.example").partner.id
    refused = call(
        app,
        "PUT",
        f"/api/v1/admin/partners/{partner_id}/stripe-account",
        headers=ADMIN,
        body=json.dumps({"stripe_account_id": "acct-x"}).encode(),
    )
    assert refused.status == 422
    problems = refused.json()["detail"]  # HTTPValidationError: a list of {loc, msg, type}
    assert isinstance(problems, list) and problems
    assert all(
        isinstance(p["loc"], list) and isinstance(p["msg"], str) and isinstance(p["type"], str) for p in problems
    )
    assert "acct-x" in problems[0]["msg"]


def test_stripe_signatures_dated_ahead_are_refused(open_app):
    app = open_app(PARTNERHUB_STRIPE__WEBHOOK_SECRETS=json.dumps([WHSEC]))
    hub: Hub = app.state.hub

    def deliver(event_id: str, ahead_s: int) -> Answer:
        now = int(time.time())
        payload = json.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": "customer.created",
                "created": now,
                "livemode": False,
                "data": {"object": {"id": "cus_guard1", "object": "customer", "email": "c@c.example"}},
            }
        )
        header = stripe.WebhookSignature.generate_signature_header(payload, WHSEC, timestamp=now + ahead_s)
        return call(app, "POST", "/webhooks/stripe", headers={"stripe-signature": header}, body=payload.encode())

    century = 100 * 365 * 24 * 3600
    assert deliver("evt_guard_century", century).status == 401
    assert deliver("evt_guard_6min", 360).status == 401
    assert deliver("evt_guard_1min", 60).status == 200  # clocks drift: within 300 s either way is fine
    with hub.sessions() as session:
        keys = [row.event_key for row in session.scalars(select(InboxEvent))]
    assert keys == ["evt_guard_1min"]
