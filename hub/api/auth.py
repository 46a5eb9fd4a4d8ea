"""Who is calling: a partner by API key, or an admin by the admin token (both Bearer).

Authentication happens before the body is read. ``guard_api`` runs in front of every ``/api/``
request (``hub.api.app.HubApp``): it authenticates from the headers alone — the admin token for
``/api/v1/admin``, a partner key for the rest — under the failed-attempt throttle
(``hub.runtime.throttle``: per client address and per presented key prefix, 429 with
``Retry-After``), and only then reads the body, at most ``PARTNERHUB_API_BODY_LIMIT`` bytes (a
larger ``Content-Length`` is refused before reading; a longer stream is cut at the limit: 413);
an authenticated partner's MDF claim upload reads under the program's upload limits instead
(``hub.api.mdf.body_limit``).
The routes' dependencies (``PartnerDep``, ``AdminDep``) hand the authenticated caller on.
"""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from hub.program import clock
from hub.program.models import Partner
from hub.program.partners import partner_for_key, record_activity
from hub.runtime.context import Hub
from hub.runtime.throttle import Throttle, client_address

bearer = HTTPBearer(auto_error=False, description="A partner API key (ph_live_…) or the admin token.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

#: where the guard leaves the authenticated caller in the ASGI scope
PRINCIPAL = "partnerhub.principal"
ADMIN_PREFIX = "/api/v1/admin"
#: routes anyone may call without a key (a stranger applying to the program), under the throttle
PUBLIC_PREFIX = "/api/v1/applications"
#: how much of a presented credential names it for the throttle (``ph_live_`` and 4 characters)
KEY_PREFIX_CHARS = 12


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


#: partner API calls closer together than this record activity once (one write per minute)
ACTIVITY_RESOLUTION = timedelta(minutes=1)


def _lookup(hub: Hub, key: str) -> Partner | None:
    """The partner behind the key; its API call counts as activity (stops re-engagement)."""
    with hub.sessions() as session, session.begin():
        partner = partner_for_key(session, key)
        if partner is None:
            return None
        now = clock.now(hub)
        if partner.last_activity_at is None or now - partner.last_activity_at >= ACTIVITY_RESOLUTION:
            record_activity(session, partner, at=now)
        session.flush()
        session.expunge(partner)
        return partner


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        self.status = status
        self.detail = detail
        self.headers = headers or {}


BEARER = {"WWW-Authenticate": "Bearer"}


def throttle_of(hub: Hub) -> Throttle:
    s = hub.settings
    return Throttle(hub.redis, prefix=s.queue_prefix, limit=s.throttle_failures, window_s=s.throttle_window_s)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, given = value.decode("latin-1").partition(" ")
            credentials: str = given.strip()
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


def authenticate(hub: Hub, scope: Scope, realm: str | None = None) -> tuple[str, Any]:
    """``("admin", "admin")`` or ``("partner", Partner)`` for this request's headers, or
    ``Refused``; every failure counts against the client's address and the key's prefix.
    ``realm`` (default: by path, ``/api/v1/admin`` is admin) says which credential is wanted."""
    given_realm = realm
    admin = realm == "admin" if realm else scope["path"].startswith(ADMIN_PREFIX)
    token = hub.settings.admin_token
    if admin and token is None:
        raise Refused(503, "the admin API is off: set PARTNERHUB_ADMIN_TOKEN")
    credentials = _bearer(scope)
    realm = "admin" if admin else "partner"
    keys = [f"addr:{client_address(scope, hub.settings.trusted_proxies)}"]
    if credentials:
        keys.append(f"key:{realm}:{credentials[:KEY_PREFIX_CHARS]}")
    throttle = throttle_of(hub)
    wait = throttle.check(*keys)
    if wait is not None:
        raise Refused(429, "too many failed attempts; try again later", {"Retry-After": str(wait)})
    if given_realm is None and scope["path"].startswith(PUBLIC_PREFIX):
        return "public", None  # the route counts its own attempts (``hub.api.lifecycle``)
    if admin:
        assert token is not None
        if credentials is not None and hmac.compare_digest(credentials.encode(), token.get_secret_value().encode()):
            return "admin", "admin"
        throttle.fail(*keys)
        raise Refused(401, "invalid admin token", BEARER)
    if credentials is None:
        throttle.fail(*keys)
        raise Refused(401, "missing API key", BEARER)
    partner = _lookup(hub, credentials)
    if partner is None:
        throttle.fail(*keys)
        raise Refused(401, "invalid API key", BEARER)
    return "partner", partner


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


async def _read_capped(scope: Scope, receive: Receive, limit: int) -> list[Message]:
    """The request's body messages, or ``_TooLarge`` as soon as more than ``limit`` bytes are
    declared or arrive (nothing past the limit is kept)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length" and value.strip().isdigit() and int(value) > limit:
            raise _TooLarge
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went away: the app sees the disconnect
        size += len(message.get("body", b""))
        if size > limit:
            raise _TooLarge
        if not message.get("more_body", False):
            return messages


async def guard_api(app: FastAPI, scope: Scope, receive: Receive, send: Send, realm: str | None = None) -> None:
    """Authenticate, then read the body under the limit, then hand the request to ``app``."""
    hub: Hub = app.state.hub
    try:
        scope[PRINCIPAL] = await run_in_threadpool(authenticate, hub, scope, realm)
    except Refused as refused:
        await _answer(send, refused.status, refused.detail, refused.headers)
        return
    limit = hub.settings.api_body_limit
    if scope[PRINCIPAL][0] == "partner":  # an MDF claim's files may take more (``hub.api.mdf``)
        from hub.api.mdf import body_limit

        limit = body_limit(hub, scope["method"], scope["path"]) or limit
    try:
        messages = await _read_capped(scope, receive, limit)
    except _TooLarge:
        await _answer(send, 413, f"body larger than {limit} bytes")
        return

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    await app(scope, replay, send)


def _principal(request: Request, realm: str) -> Any:
    principal = request.scope.get(PRINCIPAL)
    if principal is None or principal[0] != realm:  # the guard did not run for this request
        raise HTTPException(401, "not authenticated", headers=BEARER)
    return principal[1]


async def current_partner(request: Request, credentials: Credentials) -> Partner:
    partner: Partner = _principal(request, "partner")
    return partner


async def current_admin(request: Request, credentials: Credentials) -> str:
    admin: str = _principal(request, "admin")
    return admin


PartnerDep = Annotated[Partner, Depends(current_partner)]
AdminDep = Annotated[str, Depends(current_admin)]
