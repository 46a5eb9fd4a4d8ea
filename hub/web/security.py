"""The pages' security mechanics: the signed session cookie, CSRF tokens, form bodies read under
a limit, and the headers every page carries.

- **Cookie.** ``ph_session`` (``__Host-ph_session`` when the public base URL is https, then also
  ``Secure``) holds ``<session id>.<HMAC>`` under the web secret; HttpOnly, SameSite=Lax, path /.
  A cookie whose signature does not match is ignored. The session row (``hub.program.access``)
  decides whether it is live.
- **CSRF.** Every form carries ``csrf``: an HMAC of the session id (signed in) or of a random
  pre-session cookie (``ph_pre``, for the sign-in forms). Every POST is checked before anything
  else; a missing or wrong token is 403 and nothing changes.
- **Headers.** ``Content-Security-Policy: default-src 'self'; frame-ancestors 'none'`` (no inline
  script or style anywhere), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``
  (a sign-in link in the address bar never leaks), ``X-Frame-Options: DENY``, ``Cache-Control:
  no-store`` on pages — on every answer outside the API, webhook, health and docs paths.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRE_COOKIE = "ph_pre"
CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
#: answers under these paths are the API's, the providers' or the docs': not pages
NOT_PAGES = ("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")


class FormError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


def _mac(secret: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def session_cookie_name(https: bool) -> str:
    return "__Host-ph_session" if https else "ph_session"


def sign_sid(secret: bytes, sid: str) -> str:
    return f"{sid}.{_mac(secret, 'session', sid)}"


def unsign_sid(secret: bytes, value: str | None) -> str | None:
    if not value or len(value) > 200:
        return None
    sid, _, mac = value.rpartition(".")
    if not sid or not hmac.compare_digest(mac, _mac(secret, "session", sid)):
        return None
    return sid


def csrf_token(secret: bytes, basis: str) -> str:
    """The form token for a session id or a pre-session nonce."""
    return _mac(secret, "csrf", basis)


def csrf_ok(secret: bytes, basis: str | None, presented: str | None) -> bool:
    if not basis or not presented:
        return False
    return hmac.compare_digest(presented, csrf_token(secret, basis))


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(response: Response, name: str, value: str, *, https: bool, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=https, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str, *, https: bool) -> None:
    response.delete_cookie(name, path="/", secure=https, httponly=True, samesite="lax")


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, at most ``limit`` bytes (413 otherwise);
    the first value of each field. No content type reads as an empty form (its CSRF check fails)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise FormError(415, "forms are sent as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise FormError(413, "the form is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormError(413, "the form is too large")
    if not ctype:
        return {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise FormError(400, "the form could not be read") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


class SecurityHeaders:
    """Adds the pages' headers to every answer outside ``NOT_PAGES`` (pure ASGI)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(NOT_PAGES):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(name, value) for name, value in extra if name not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
