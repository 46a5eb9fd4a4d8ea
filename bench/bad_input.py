"""Bad-input harness: hostile and broken requests against the real hub, and what they did.

    .venv/bin/python bench/bad_input.py --requests 100000 [--time-limit 900] [--schemathesis-examples 30]

Starts ``partnerhub web`` on loopback on a fresh data directory (embedded Redis, SQLite file),
with every connector's webhooks configured (HubSpot, Stripe, SendGrid events and Inbound Parse,
Salesforce Outbound Messages and callouts, Pipedrive), one partner with an API key and the admin
token; no worker runs. Then it fires, category by category, malformed, unsigned, replayed,
oversized and out-of-range requests at every webhook endpoint and every API endpoint (partner
API with the key, admin API with the token, and unauthenticated), the bodies drawn from
hypothesis strategies and multiplied over endpoints and variants by plain loops, bounded by
``--requests`` and ``--time-limit``. Every table of the records (``Base.metadata``) is counted
before and after each category. Then schemathesis runs over the hub's ``/openapi.json``, once
with the partner key and once with the admin token, checking ``not_a_server_error`` and
``response_schema_conformance``.

Prints one table (requests, 2xx, 4xx share, 5xx, transport errors, rows added, per category)
and the schemathesis figures; ``--json FILE`` writes them too. Exit status 0 when every
category has 0 5xx and 0 rows added (the replays of a delivery already stored are answered 2xx
as duplicates by design and add nothing), 1 otherwise. Every server started here is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

import httpx
from bench_webhooks import PARTNERHUB, Server, free_port, log, start_server
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.hubspot import sign_v3
from connectors.pipedrive.webhooks import basic_auth_header
from connectors.salesforce import sign_callout
from connectors.stripe.webhooks import compute_signature

HUBSPOT_SECRET = "bad-input-hubspot-secret"
STRIPE_SECRET = "whsec_bad_input_made_up"
PARSE_SECRET = "bad-input-parse-secret-000001"
SF_PATH_SECRET = "bad-input-om-path-secret-0000001"
SF_FLOW_SECRET = "bad-input-flow-secret-000000001"
SF_APEX_SECRET = "bad-input-apex-secret-000000001"
PD_USER, PD_PASSWORD = "hub", "bad-input-pipedrive-password"
ADMIN_TOKEN = "bad-input-admin-token-" + "x" * 24
_SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(
    _SG_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
BIG = 2 * 1024 * 1024  # past every webhook and API body limit
sys.set_int_max_str_digits(0)  # the harness writes 5,000-digit integers on purpose


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect_2xx: bool = False  # a replay of a delivery already stored: a duplicate, 2xx by design


@dataclass
class Row:
    category: str
    requests: int = 0
    ok_2xx: int = 0
    c4xx: int = 0
    c5xx: int = 0
    unexpected_2xx: int = 0
    soap_faults: int = 0  # of the 4xx: Salesforce Outbound Message refusals, a SOAP fault body
    errors: int = 0
    rows_added: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    five_xx_examples: list[str] = field(default_factory=list)
    error_examples: list[str] = field(default_factory=list)
    two_xx_paths: dict[str, int] = field(default_factory=dict)
    five_xx_paths: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def share_4xx(self) -> float:
        return self.c4xx / self.requests if self.requests else 0.0


# -- bodies from hypothesis ------------------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
#: fields the hub's API and providers' shapes use, with hostile values
KEYS = [
    "company_name", "contact_email", "contact_name", "company_domain", "notes", "amount_minor", "currency",
    "objectId", "eventId", "occurredAt", "subscriptionType", "propertyName", "propertyValue", "id", "type",
    "created", "data", "object", "email", "event", "sg_event_id", "timestamp", "meta", "current", "previous",
    "partner_id", "tier", "status", "reason", "kind", "by", "operator", "account_id", "events",
]  # fmt: skip
hostile = (
    json_leaf
    | st.sampled_from([10**30, 2**63, -(2**63) - 1, 2**64, "9" * 400, "", " ", "\x00", "💥" * 50, "a" * 5000])
    | st.sampled_from(["2026-13-45", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "1e309", "NaN"])
)
shaped = st.dictionaries(st.sampled_from(KEYS), hostile | json_value, max_size=8)


def draw_pool(strategy: st.SearchStrategy[Any], n: int, seed: int) -> list[Any]:
    """``n`` values drawn by hypothesis (run as a property with no assertion, collecting)."""
    pool: list[Any] = []

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=[__import__("hypothesis").Phase.generate],
    )
    @given(strategy)
    def collect(value: Any) -> None:
        pool.append(value)

    random.seed(seed)
    collect()
    return pool


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


# -- signing ---------------------------------------------------------------------------------------


def hubspot_headers(base: str, path: str, body: bytes, ts_ms: str | None = None) -> dict[str, str]:
    ts = ts_ms or str(int(time.time() * 1000))
    return {
        "content-type": "application/json",
        "X-HubSpot-Request-Timestamp": ts,
        "X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", base + path, body, ts),
    }


def stripe_headers(body: bytes, ts: int | None = None) -> dict[str, str]:
    t = int(time.time()) if ts is None else ts
    return {
        "content-type": "application/json",
        "Stripe-Signature": f"t={t},v1={compute_signature(STRIPE_SECRET, t, body)}",
    }


def sendgrid_headers(body: bytes, ts: int | None = None) -> dict[str, str]:
    t = str(int(time.time()) if ts is None else ts)
    sig = _SG_KEY.sign(t.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": t,
    }


def apex_headers(body: bytes, ts: int | None = None) -> dict[str, str]:
    t = str(int(time.time()) if ts is None else ts)
    return {
        "content-type": "application/json",
        "X-Partnerhub-Timestamp": t,
        "X-Partnerhub-Signature": sign_callout(SF_APEX_SECRET, t, body),
    }


def pipedrive_headers() -> dict[str, str]:
    return {"content-type": "application/json", "Authorization": basic_auth_header(PD_USER, PD_PASSWORD)}


# -- the endpoints ---------------------------------------------------------------------------------

WEBHOOKS = [
    "/webhooks/hubspot",
    "/webhooks/stripe",
    "/webhooks/sendgrid",
    f"/webhooks/sendgrid/{PARSE_SECRET}/parse",
    f"/webhooks/salesforce/{SF_PATH_SECRET}",
    "/webhooks/salesforce/callout",
    "/webhooks/pipedrive",
    "/webhooks/nosuchprovider",
    "/webhooks/hubspot/extra/path",
]

#: (method, path template, who) of every API operation; {id} and {tid} are filled with hostile ids
API = [
    ("POST", "/api/v1/referrals", "partner"),
    ("GET", "/api/v1/referrals", "partner"),
    ("GET", "/api/v1/referrals/{tid}", "partner"),
    ("GET", "/api/v1/commissions", "partner"),
    ("POST", "/api/v1/deal-registrations", "partner"),
    ("GET", "/api/v1/deal-registrations", "partner"),
    ("GET", "/api/v1/deal-registrations/{id}", "partner"),
    ("GET", "/api/v1/statement", "partner"),
    ("GET", "/api/v1/admin/referrals", "admin"),
    ("POST", "/api/v1/admin/referrals/{tid}/approve", "admin"),
    ("POST", "/api/v1/admin/referrals/{tid}/decline", "admin"),
    ("POST", "/api/v1/admin/deals/{id}/attribution", "admin"),
    ("PUT", "/api/v1/admin/partners/{id}/stripe-account", "admin"),
    ("GET", "/api/v1/admin/kpis", "admin"),
    ("GET", "/api/v1/admin/payouts", "admin"),
    ("POST", "/api/v1/admin/payouts/{id}/approve", "admin"),
    ("POST", "/api/v1/admin/payouts/{id}/reject", "admin"),
    ("POST", "/api/v1/admin/payouts/run", "admin"),
    ("POST", "/api/v1/admin/ledger/{id}", "admin"),
    ("POST", "/api/v1/admin/ledger", "admin"),
    ("POST", "/api/v1/admin/partners/{id}/tier", "admin"),
    ("POST", "/api/v1/admin/partners/{id}/reengagement/stop", "admin"),
    ("GET", "/api/v1/admin/deal-registrations", "admin"),
    ("POST", "/api/v1/admin/deal-registrations/{id}/approve", "admin"),
    ("POST", "/api/v1/admin/deal-registrations/{id}/decline", "admin"),
]
HOSTILE_IDS = ["0", "-1", "999999999", str(2**63), str(2**64), "9" * 400, "1e3", "abc", "%00", "..%2F..", "R-NOPE"]
HOSTILE_QUERIES = [
    "since=2026-01-01T00:00:00",  # naive
    "since=0001-01-01T00:00:00Z",
    "since=9999-12-31T23:59:59Z",
    "since=" + "9" * 400,
    "at=2026-01-01T00:00:00",
    "at=-999999-01-01",
    "at=9999-12-31T23:59:59%2B14:00",
    "status=" + "x" * 300,
    "limit=" + str(2**63),
    "limit=-1",
]


def api_path(template: str, rnd: random.Random) -> str:
    return template.replace("{id}", rnd.choice(HOSTILE_IDS)).replace("{tid}", rnd.choice(HOSTILE_IDS))


# -- categories: each a generator of requests ------------------------------------------------------


@dataclass
class Context:
    base: str
    partner_key: str
    pool_json: list[Any]
    pool_shaped: list[dict[str, Any]]
    pool_bytes: list[bytes]
    replays: list[Req]
    rnd: random.Random


def auth_for(who: str, ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {ctx.partner_key if who == 'partner' else ADMIN_TOKEN}"}


def malformed(ctx: Context) -> Iterator[Req]:
    """Bodies that are not what the endpoint takes (broken JSON, wrong shapes and types), sent
    with valid credentials: signed webhooks, the partner key, the admin token."""
    rnd = ctx.rnd
    while True:
        raw = rnd.choice(ctx.pool_bytes)
        value = rnd.choice(ctx.pool_json + ctx.pool_shaped)  # type: ignore[operator]
        body = rnd.choice([raw, dumps(value), dumps(value)[:-1], b"{" + raw, dumps([value] * 3)])
        yield Req("POST", "/webhooks/hubspot", hubspot_headers(ctx.base, "/webhooks/hubspot", body), body)
        yield Req("POST", "/webhooks/stripe", stripe_headers(body), body)
        yield Req("POST", "/webhooks/sendgrid", sendgrid_headers(body), body)
        yield Req("POST", "/webhooks/salesforce/callout", apex_headers(body), body)
        yield Req("POST", "/webhooks/salesforce/callout", {"X-Partnerhub-Secret": SF_FLOW_SECRET}, body)
        yield Req("POST", f"/webhooks/salesforce/{SF_PATH_SECRET}", {"content-type": "text/xml"}, body)
        yield Req("POST", "/webhooks/pipedrive", pipedrive_headers(), body)
        yield Req(
            "POST",
            f"/webhooks/sendgrid/{PARSE_SECRET}/parse",
            {"content-type": rnd.choice(["multipart/form-data; boundary=x", "application/json", "text/plain"])},
            body,
        )
        for method, template, who in API:
            headers = {**auth_for(who, ctx), "content-type": "application/json"}
            if method == "GET":
                query = rnd.choice(HOSTILE_QUERIES)
                yield Req(method, api_path(template, rnd) + "?" + query, headers)
            else:
                yield Req(
                    method, api_path(template, rnd), headers, rnd.choice([body, dumps(rnd.choice(ctx.pool_shaped))])
                )


def unsigned(ctx: Context) -> Iterator[Req]:
    """No or wrong credentials: every webhook without a (valid) signature, every API operation
    with no key, a made-up key, the admin token on the partner API and the reverse."""
    rnd = ctx.rnd
    bad_auth = [
        {},
        {"Authorization": "Bearer ph_live_" + "0" * 32},
        {"Authorization": "Bearer " + "A" * 5000},
        {"Authorization": "Basic " + base64.b64encode(b"hub:wrong").decode()},
        {"Authorization": "Bearer"},
    ]
    while True:
        value = rnd.choice(ctx.pool_shaped)
        body = dumps(value)
        for path in WEBHOOKS:
            headers = rnd.choice(
                [
                    {"content-type": "application/json"},
                    {"X-HubSpot-Request-Timestamp": str(int(time.time() * 1000)), "X-HubSpot-Signature-v3": "AAAA"},
                    {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"},
                    {
                        "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ==",
                        "X-Twilio-Email-Event-Webhook-Timestamp": "1",
                    },
                    {"X-Partnerhub-Secret": "wrong"},
                    {"Authorization": basic_auth_header(PD_USER, "wrong")},
                ]
            )
            yield Req("POST", path, headers, body)
        yield Req("POST", "/webhooks/salesforce/not-the-secret", {"content-type": "text/xml"}, b"<x/>")
        yield Req("POST", "/webhooks/sendgrid/not-the-secret/parse", {"content-type": "text/plain"}, body)
        for method, template, who in API:
            headers = dict(rnd.choice(bad_auth))
            if rnd.random() < 0.2:  # the other side's credential
                headers = auth_for("admin" if who == "partner" else "partner", ctx)
            yield Req(method, api_path(template, rnd), {**headers, "content-type": "application/json"}, body)


def replayed(ctx: Context) -> Iterator[Req]:
    """Signed deliveries replayed: exact copies of deliveries already stored (duplicates: 2xx by
    design, no row), and the same bodies re-signed with a timestamp outside the tolerance (401)."""
    rnd = ctx.rnd
    old = int(time.time()) - 3600
    while True:
        for req in ctx.replays:
            yield req
            body = req.body or b""
            if req.path == "/webhooks/hubspot":
                yield Req("POST", req.path, hubspot_headers(ctx.base, req.path, body, str(old * 1000)), body)
            elif req.path == "/webhooks/stripe":
                yield Req("POST", req.path, stripe_headers(body, old), body)
            elif req.path == "/webhooks/sendgrid":
                yield Req("POST", req.path, sendgrid_headers(body, old), body)
            elif req.path == "/webhooks/salesforce/callout":
                yield Req("POST", req.path, apex_headers(body, old), body)
        # a future timestamp (a century ahead), and an API idempotent replay with another body
        body = dumps(rnd.choice(ctx.pool_shaped))
        yield Req("POST", "/webhooks/stripe", stripe_headers(body, int(time.time()) + 100 * 365 * 86400), body)
        yield Req("POST", "/webhooks/sendgrid", sendgrid_headers(body, int(time.time()) + 86400), body)


def oversized(ctx: Context) -> Iterator[Req]:
    """Bodies past every limit (2 MB; signed where the provider signs), declared or streamed."""
    rnd = ctx.rnd
    big = b'{"events": [' + b'{"a": "' + b"x" * BIG + b'"}]}'
    while True:
        for path in WEBHOOKS[:-2]:
            headers: dict[str, str] = {"content-type": "application/json"}
            if path == "/webhooks/hubspot":
                headers = hubspot_headers(ctx.base, path, big)
            yield Req("POST", path, headers, big)
        for method, template, who in API:
            if method != "GET":
                headers = rnd.choice([auth_for(who, ctx), {}])
                yield Req(method, api_path(template, rnd), {**headers, "content-type": "application/json"}, big)
        yield Req("GET", "/api/v1/referrals?x=" + "a" * 60_000, auth_for("partner", ctx))  # a huge URL
        yield Req("POST", "/webhooks/hubspot", {"X-Big": "b" * 60_000}, b"[]")  # a huge header


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def out_of_range(ctx: Context) -> Iterator[Req]:
    """Signed, well-formed deliveries and authenticated API calls whose values are out of range:
    timestamps of 10^30 or 400 digits, ids of 2^63 and more, 5,000-digit integers, NaN and
    Infinity, nesting 1,000 deep, naive and extreme dates."""
    rnd = ctx.rnd
    n = 0
    while True:
        n += 1
        huge = rnd.choice([10**30, 2**63, 2**64, -(2**63) - 1, int("9" * 5000)])
        event = {
            "objectId": rnd.choice([huge, 1]),
            "eventId": rnd.choice([huge, 10**6 + n]),
            "subscriptionId": 1,
            "portalId": 1,
            "appId": 1,
            "occurredAt": rnd.choice([huge, 10**30]),
            "subscriptionType": rnd.choice(["deal.propertyChange", "contact.creation", "deal.creation"]),
            "attemptNumber": 0,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
        }
        body = json.dumps([event]).encode()
        path = "/webhooks/hubspot"
        yield Req("POST", path, hubspot_headers(ctx.base, path, body), body)
        nan = rnd.choice([b"NaN", b"Infinity", b"-Infinity"])
        body = b'[{"objectId": 1, "eventId": ' + str(10**6 + n).encode() + b', "occurredAt": ' + nan + b"}]"
        yield Req("POST", path, hubspot_headers(ctx.base, path, body), body)
        body = deep(1000)
        yield Req("POST", path, hubspot_headers(ctx.base, path, body), body)
        yield Req("POST", "/webhooks/stripe", stripe_headers(body), body)
        yield Req("POST", "/webhooks/sendgrid", sendgrid_headers(body), body)
        yield Req("POST", "/webhooks/pipedrive", pipedrive_headers(), body)
        yield Req("POST", "/webhooks/salesforce/callout", apex_headers(body), body)
        digits = "9" * 400
        for hdrs in (
            {"X-HubSpot-Request-Timestamp": digits, "X-HubSpot-Signature-v3": "AAAA"},
            {"X-Twilio-Email-Event-Webhook-Timestamp": digits, "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ=="},
            {"X-Partnerhub-Timestamp": digits, "X-Partnerhub-Signature": "00"},
            {"Stripe-Signature": f"t={digits},v1={'0' * 64}"},
        ):
            for p in ("/webhooks/hubspot", "/webhooks/sendgrid", "/webhooks/salesforce/callout", "/webhooks/stripe"):
                yield Req("POST", p, hdrs, b"[]")
        stripe_event = {
            "id": f"evt_{n}",
            "object": "event",
            "type": rnd.choice(["invoice.paid", "charge.refunded", "customer.created"]),
            "created": rnd.choice([huge, 10**30]),
            "data": {"object": {"id": "in_1", "amount_paid": huge, "currency": "usd", "customer": "cus_1"}},
        }
        body = json.dumps(stripe_event).encode()
        yield Req("POST", "/webhooks/stripe", stripe_headers(body), body)
        sg = [{"email": "a@b.example", "event": "delivered", "sg_event_id": f"sg{n}", "timestamp": huge}]
        body = json.dumps(sg).encode()
        yield Req("POST", "/webhooks/sendgrid", sendgrid_headers(body), body)
        pd = {"meta": {"action": "change", "entity": "deal", "entity_id": str(huge), "timestamp": huge, "id": str(n)},
              "data": {"id": huge, "update_time": "9999-99-99"}}  # fmt: skip
        body = json.dumps(pd).encode()
        yield Req("POST", "/webhooks/pipedrive", pipedrive_headers(), body)
        # the API: ids past 2^63 in paths and bodies, extreme dates, numbers that are not numbers
        for method, template, who in API:
            headers = {**auth_for(who, ctx), "content-type": "application/json"}
            path = template.replace("{id}", str(rnd.choice([2**63, 2**64, 10**30]))).replace("{tid}", "R-" + "9" * 300)
            if method == "GET":
                yield Req(method, path + "?" + rnd.choice(HOSTILE_QUERIES), headers)
            else:
                payload = {
                    "company_name": "Acme",
                    "contact_email": "a@b.example",
                    "amount_minor": huge,
                    "partner_id": huge,
                    "currency": "USD",
                    "reason": "x",
                    "tier": "gold",
                    "account_id": "acct_" + "1" * 300,
                }
                yield Req(
                    method,
                    path,
                    headers,
                    json.dumps(payload).replace(str(huge), rnd.choice([str(huge), "NaN"])).encode(),
                )
        for q in ("since=2026-01-01T00:00:00", "since=0001-01-01T00:00:00%2B14:00", "since=+999999-01-01T00:00:00Z"):
            yield Req("GET", "/api/v1/statement?" + q, auth_for("partner", ctx))
        for q in ("at=2026-01-01T00:00:00", "at=0001-01-01T00:00:00%2B14:00", "at=9999-12-31T23:59:59-14:00"):
            yield Req("GET", "/api/v1/admin/kpis?" + q, auth_for("admin", ctx))


CATEGORIES: dict[str, Callable[[Context], Iterator[Req]]] = {
    "malformed": malformed,
    "unsigned": unsigned,
    "replayed": replayed,
    "oversized": oversized,
    "out-of-range": out_of_range,
}
#: share of ``--requests`` per category (oversized bodies are heavy: fewer of them)
SHARES = {"malformed": 0.35, "unsigned": 0.35, "replayed": 0.1, "oversized": 0.02, "out-of-range": 0.18}


# -- the run ---------------------------------------------------------------------------------------


def count_rows(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, func, select

    import hub.pipeline.models
    import hub.program.models  # noqa: F401
    from hub.pipeline.store import Base

    engine = create_engine(url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


async def fire(base: str, requests: Iterator[Req], limit: int, deadline: float, concurrency: int, row: Row) -> None:
    statuses: Counter[str] = Counter()
    two_xx: Counter[str] = Counter()
    five_xx: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        sent = 0

        async def one(req: Req) -> None:
            try:
                r = await client.request(req.method, req.path, headers=req.headers, content=req.body)
                code = r.status_code
            except httpx.HTTPError as exc:
                row.errors += 1
                statuses[type(exc).__name__] += 1
                if len(row.error_examples) < 5:
                    row.error_examples.append(
                        f"{type(exc).__name__} {req.method} {req.path[:90]} {len(req.body or b'')} bytes"
                    )
                return
            statuses[str(code)] += 1
            if 200 <= code < 300:
                row.ok_2xx += 1
                if not req.expect_2xx:
                    row.unexpected_2xx += 1
                    where = req.method + " " + "/".join(req.path.split("?")[0].split("/")[:5])
                    two_xx[where] += 1
            elif 400 <= code < 500:
                row.c4xx += 1
                if req.path.startswith("/webhooks/salesforce/") and b"Fault" in r.content:
                    row.soap_faults += 1
            elif code >= 500:
                row.c5xx += 1
                five_xx[req.method + " " + "/".join(req.path.split("?")[0].split("/")[:5])[:60]] += 1
                if len(row.five_xx_examples) < 8:
                    row.five_xx_examples.append(f"{code} {req.method} {req.path[:90]} body={(req.body or b'')[:80]!r}")

        pending: set[asyncio.Task[None]] = set()
        for req in requests:
            if sent >= limit or time.monotonic() > deadline:
                break
            if len(pending) >= concurrency:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.create_task(one(req)))
            sent += 1
            row.requests = sent
            if sent % 5000 == 0:
                log(f"  {row.category}: {sent} sent, {dict(statuses)}")
        if pending:
            await asyncio.wait(pending)
    row.requests = sent
    row.statuses = dict(statuses)
    row.two_xx_paths = dict(two_xx.most_common(12))
    row.five_xx_paths = dict(five_xx.most_common(20))


def seed_replays(base: str) -> list[Req]:
    """One valid delivery per signing provider, stored once before counting starts; the
    ``replayed`` category sends exact copies of these."""
    out = []
    event = [{"objectId": 4242, "eventId": 4242, "subscriptionId": 1, "portalId": 1, "appId": 1,
              "occurredAt": int(time.time() * 1000), "subscriptionType": "contact.creation", "attemptNumber": 0}]  # fmt: skip
    body = json.dumps(event).encode()
    out.append(Req("POST", "/webhooks/hubspot", hubspot_headers(base, "/webhooks/hubspot", body), body, True))
    stripe_event = {"id": "evt_replay_1", "object": "event", "type": "customer.created", "created": int(time.time()),
                    "data": {"object": {"id": "cus_replay", "object": "customer", "email": None, "metadata": {}}}}  # fmt: skip
    body = json.dumps(stripe_event).encode()
    out.append(Req("POST", "/webhooks/stripe", stripe_headers(body), body, True))
    sg = [
        {
            "email": "x@y.example",
            "event": "delivered",
            "sg_event_id": "sg-replay-1",
            "sg_message_id": "m1.f",
            "timestamp": int(time.time()),
        }
    ]
    body = json.dumps(sg).encode()
    out.append(Req("POST", "/webhooks/sendgrid", sendgrid_headers(body), body, True))
    stored = []
    for req in out:
        r = httpx.post(base + req.path, headers=req.headers, content=req.body, timeout=30)
        if r.status_code // 100 == 2:
            stored.append(req)
        else:
            log(f"replay seed {req.path} answered {r.status_code} {r.text[:200]}: not replayed")
    return stored


def hub_env(data_dir: Path, mappings: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PARTNERHUB_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        {
            "PARTNERHUB_DATA_DIR": str(data_dir),
            "PARTNERHUB_MAPPINGS_DIR": str(mappings),
            "PARTNERHUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "PARTNERHUB_LOG_LEVEL": "WARNING",
            # production mode, with the OpenAPI document served for schemathesis
            "PARTNERHUB_API_DOCS": "true",
            # the failed-attempt throttle would answer most bad requests 429 before they reach the
            # code under test (it has its own tests: tests/integration/api/test_guard.py)
            "PARTNERHUB_THROTTLE_FAILURES": "100000000",
            "PARTNERHUB_SYNC__INTERVAL_S": "0",
            "PARTNERHUB_HUBSPOT__CLIENT_SECRET": HUBSPOT_SECRET,
            "PARTNERHUB_STRIPE__WEBHOOK_SECRETS": json.dumps([STRIPE_SECRET]),
            "PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY": SG_PUBLIC,
            "PARTNERHUB_SENDGRID__PARSE_SECRET": PARSE_SECRET,
            "PARTNERHUB_SALESFORCE__OUTBOUND_PATH_SECRET": SF_PATH_SECRET,
            "PARTNERHUB_SALESFORCE__CALLOUT_SECRET": SF_FLOW_SECRET,
            "PARTNERHUB_SALESFORCE__CALLOUT_SIGNING_SECRET": SF_APEX_SECRET,
            # Salesforce webhooks need API settings to be ready; nothing here ever calls it (no worker)
            "PARTNERHUB_SALESFORCE__LOGIN_URL": "https://127.0.0.1:9",
            "PARTNERHUB_SALESFORCE__ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
            "PARTNERHUB_SALESFORCE__CLIENT_ID": "bad-input",
            "PARTNERHUB_SALESFORCE__CLIENT_SECRET": "bad-input",
            "PARTNERHUB_SALESFORCE__REFRESH_TOKEN": "bad-input",
            "PARTNERHUB_SALESFORCE__ORGANIZATION_ID": "00D000000000001AAA",
            "PARTNERHUB_PIPEDRIVE__WEBHOOK_USER": PD_USER,
            "PARTNERHUB_PIPEDRIVE__WEBHOOK_PASSWORD": PD_PASSWORD,
        }
    )
    return env


def run_schemathesis(
    base: str, name: str, header: str, examples: int, max_time: int, workdir: Path, seed: int
) -> dict[str, Any]:
    """schemathesis over ``/openapi.json`` with one credential: requests, 5xx, schema breaks."""
    st_bin = Path(sys.executable).parent / "schemathesis"
    har = workdir / f"st-{name}.har"
    ndjson = workdir / f"st-{name}.ndjson"
    argv = [
        str(st_bin), "run", f"{base}/openapi.json", "-H", header,
        "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance",
        "--continue-on-failure", "--max-examples", str(examples), "--max-time", str(max_time),
        "--seed", str(seed), "--no-shrink", "--request-timeout", "30", "--workers", "2",
        "--report", "har,ndjson", "--report-har-path", str(har), "--report-ndjson-path", str(ndjson),
        "--suppress-health-check", "all", "--warnings", "off",
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=max_time + 300, cwd=workdir)
    (workdir / f"st-{name}.out").write_text(proc.stdout + proc.stderr)
    codes: Counter[int] = Counter()
    if har.exists():
        for entry in json.loads(har.read_text()).get("log", {}).get("entries", []):
            codes[int(entry["response"]["status"])] += 1
    failures: Counter[str] = Counter()
    if ndjson.exists():
        text = ndjson.read_text()
        for title in re.findall(r'"title":\s*"([^"]+)"', text):
            failures[title] += 1
    summary = re.findall(r"^.*(?:passed|failed|errored|Failures|failures).*$", proc.stdout, re.M)[-6:]
    return {
        "credential": name,
        "requests": sum(codes.values()),
        "5xx": sum(n for c, n in codes.items() if c >= 500),
        "statuses": {str(k): v for k, v in sorted(codes.items())},
        "failure_titles": dict(failures),
        "schema_breaks": sum(n for t, n in failures.items() if "schema" in t.lower()),
        "exit": proc.returncode,
        "summary": summary,
        "seconds": round(time.monotonic() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100_000, help="bad requests in all (default 100,000)")
    ap.add_argument("--time-limit", type=float, default=1200, help="seconds for the bad requests, in all")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--processes", type=int, default=1, help="web server processes")
    ap.add_argument("--pool", type=int, default=0, help="hypothesis draws per strategy (default: from --requests)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--schemathesis-examples", type=int, default=25, help="per operation and credential; 0: skip")
    ap.add_argument("--schemathesis-time", type=int, default=300, help="seconds per credential")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, reports)")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bad-input-"))
    data_dir = workdir / "data"
    mappings = workdir / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    env = hub_env(data_dir, mappings)
    db_url = f"sqlite:///{data_dir / 'partnerhub.sqlite3'}"
    server: Server | None = None
    rows: list[Row] = []
    st_results: list[dict[str, Any]] = []
    interrupted = False
    try:
        subprocess.run([str(PARTNERHUB), "db", "upgrade"], env=env, check=True, capture_output=True, cwd=workdir)
        out = subprocess.run(
            [str(PARTNERHUB), "partners", "add", "--name", "Bad Input Partners", "--email", "p@bad-input.example"],
            env=env, check=True, capture_output=True, text=True, cwd=workdir,
        ).stdout  # fmt: skip
        match = re.search(r"(ph_live_\S+)", out)
        assert match, out
        partner_key = match.group(1)
        found = sorted(data_dir.glob("*.sqlite3"))
        db_url = f"sqlite:///{found[0]}" if found else db_url
        port = free_port()
        env["PARTNERHUB_PORT"] = str(port)
        server = start_server(
            "hub",
            [str(PARTNERHUB), "web", "--port", str(port), "--processes", str(args.processes)],
            env,
            port,
            workdir,
            "/readyz",
            data_dir,
        )
        base = f"http://127.0.0.1:{port}"
        log(f"hub on {base}, data in {data_dir}")

        pool_n = args.pool or max(200, min(3000, args.requests // 40))
        t0 = time.monotonic()
        pool_json = draw_pool(json_value, pool_n, args.seed)
        pool_shaped = draw_pool(shaped, pool_n, args.seed + 1)
        pool_bytes = draw_pool(st.binary(max_size=300), pool_n // 2, args.seed + 2)
        log(
            f"hypothesis drew {len(pool_json) + len(pool_shaped) + len(pool_bytes)} bodies in {time.monotonic() - t0:.1f}s"
        )
        replays = seed_replays(base)
        ctx = Context(base, partner_key, pool_json, pool_shaped, pool_bytes, replays, random.Random(args.seed))

        started = time.monotonic()
        for i, (name, make) in enumerate(CATEGORIES.items()):
            # each category gets its share of the time left, so a slow one cannot starve the rest
            left = args.time_limit - (time.monotonic() - started)
            deadline = time.monotonic() + left * SHARES[name] / sum(SHARES[n] for n in list(CATEGORIES)[i:])
            row = Row(name)
            before = count_rows(db_url)
            t0 = time.monotonic()
            budget = max(1, int(args.requests * SHARES[name]))
            try:
                asyncio.run(fire(base, make(ctx), budget, deadline, args.concurrency, row))
            except KeyboardInterrupt:
                log("interrupted: reporting what was sent")
                interrupted = True
            row.seconds = round(time.monotonic() - t0, 1)
            time.sleep(0.5)  # a group commit in flight lands before counting
            after = count_rows(db_url)
            row.rows_added = sum(after[t] - before.get(t, 0) for t in after)
            added = {t: after[t] - before.get(t, 0) for t in after if after[t] != before.get(t, 0)}
            log(f"{name}: {row.requests} requests in {row.seconds}s, statuses {row.statuses}, rows added {added or 0}")
            rows.append(row)
            if interrupted:
                break

        if args.schemathesis_examples and not interrupted:
            before = count_rows(db_url)
            for cred, header in (
                ("partner key", f"Authorization: Bearer {partner_key}"),
                ("admin token", f"Authorization: Bearer {ADMIN_TOKEN}"),
            ):
                log(f"schemathesis with the {cred} ...")
                st_results.append(
                    run_schemathesis(
                        base,
                        cred.split()[0],
                        header,
                        args.schemathesis_examples,
                        args.schemathesis_time,
                        workdir,
                        args.seed,
                    )
                )
            after = count_rows(db_url)
            st_rows = {t: after[t] - before.get(t, 0) for t in after if after[t] != before.get(t, 0)}
            for r in st_results:
                r["rows_added_both_runs"] = st_rows  # valid generated bodies may add referrals: by design
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(report(rows, st_results))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"categories": [asdict(r) | {"share_4xx": r.share_4xx} for r in rows], "schemathesis": st_results},
                indent=2,
            )
        )
    ok = all(r.c5xx == 0 and r.rows_added == 0 and r.errors == 0 for r in rows)
    ok &= all(s["5xx"] == 0 and s["schema_breaks"] == 0 for s in st_results)
    return 0 if ok else 1


def report(rows: list[Row], st_results: list[dict[str, Any]]) -> str:
    lines = [
        "| category | requests | 2xx (not a replay) | 4xx share | 5xx | SOAP faults (of the 4xx) | transport errors | rows added | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total = Row("all")
    for r in rows:
        lines.append(
            f"| {r.category} | {r.requests:,} | {r.ok_2xx:,} ({r.unexpected_2xx:,}) | {r.share_4xx:.1%} | {r.c5xx:,} "
            f"| {r.soap_faults:,} | {r.errors:,} | {r.rows_added:,} | {r.seconds} |"
        )
        for attr in ("requests", "ok_2xx", "unexpected_2xx", "c4xx", "c5xx", "soap_faults", "errors", "rows_added"):
            setattr(total, attr, getattr(total, attr) + getattr(r, attr))
        total.seconds += r.seconds
    lines.append(
        f"| **all** | {total.requests:,} | {total.ok_2xx:,} ({total.unexpected_2xx:,}) | {total.share_4xx:.1%} | {total.c5xx:,} "
        f"| {total.soap_faults:,} | {total.errors:,} | {total.rows_added:,} | {round(total.seconds, 1)} |"
    )
    for r in rows:
        if r.five_xx_paths:
            lines.append(f"  5xx {r.category} by endpoint: {r.five_xx_paths}")
        for example in r.five_xx_examples[:4]:
            lines.append(f"  5xx {r.category}: {example}")
        for example in r.error_examples:
            lines.append(f"  transport error {r.category}: {example}")
        if r.two_xx_paths:
            lines.append(f"  2xx {r.category} (not replays): {r.two_xx_paths}")
    if st_results:
        lines += [
            "",
            "| schemathesis | requests | 5xx | schema breaks | failures by check | seconds |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for s in st_results:
            lines.append(
                f"| {s['credential']} | {s['requests']:,} | {s['5xx']:,} | {s['schema_breaks']:,} | {s['failure_titles']} | {s['seconds']} |"
            )
        lines.append(
            f"rows added by schemathesis (valid generated requests may add records): {st_results[0].get('rows_added_both_runs')}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
