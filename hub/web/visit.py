"""Who is looking at a page: the visit (the signed-in person, or nobody), read from the session
cookie alone — a page never accepts an API key or the admin token.

``PersonDep``, ``PartnerDep`` and ``OperatorDep`` are the route dependencies: nobody signed in is
sent to ``/signin`` (303, with where they were going); a partner user on an operator page, or
the other way round, gets 404. ``posted(request)`` reads a POSTed form and checks its CSRF token
before anything else (403, nothing changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hub.program import access, clock
from hub.program.access import Who
from hub.runtime.context import Hub
from hub.runtime.web_secret import public_base_url, web_secret
from hub.web import security


class PageError(Exception):
    """Answered with the error page (``hub.web.app`` renders it)."""

    def __init__(self, status: int, title: str, message: str = ""):
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


class SignInRequired(Exception):
    def __init__(self, next_path: str):
        self.next_path = next_path


def not_found() -> PageError:
    return PageError(404, "Not found", "There is nothing here, or it is not yours to see.")


@dataclass
class Visit:
    hub: Hub
    person: Who | None
    sid: str | None
    pre: str | None = None
    set_pre: bool = False
    cookies: list[tuple[str, str | None, int | None]] = field(default_factory=list)

    @property
    def secret(self) -> bytes:
        return web_secret(self.hub.settings)

    @property
    def https(self) -> bool:
        return public_base_url(self.hub.settings).startswith("https://")

    @property
    def csrf(self) -> str:
        basis = self.sid or self.pre
        if basis is None:  # a first visit without a session: a pre-session nonce for its forms
            self.pre = basis = security.new_nonce()
            self.set_pre = True
        return security.csrf_token(self.secret, basis)

    def csrf_ok(self, presented: str | None) -> bool:
        return security.csrf_ok(self.secret, self.sid or self.pre, presented)

    def start_session(self, sid: str, max_age: int) -> None:
        """Signed in: the new session's cookie replaces any old one; the pre-session nonce goes."""
        self.cookies.append((security.session_cookie_name(self.https), security.sign_sid(self.secret, sid), max_age))
        self.cookies.append((security.PRE_COOKIE, None, None))
        self.sid, self.pre, self.set_pre = sid, None, False

    def end_session(self) -> None:
        self.cookies.append((security.session_cookie_name(self.https), None, None))
        self.sid = None

    def apply_cookies(self, response: Response) -> None:
        if self.set_pre and self.pre:
            security.set_cookie(response, security.PRE_COOKIE, self.pre, https=self.https, max_age=None)
        for name, value, max_age in self.cookies:
            if value is None:
                security.clear_cookie(response, name, https=self.https)
            else:
                security.set_cookie(response, name, value, https=self.https, max_age=max_age)


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def load_visit(request: Request) -> Visit:
    """The visit behind the request's cookies (a database read; call it in a thread)."""
    hub = hub_of(request)
    settings = hub.settings.web
    secret = web_secret(hub.settings)
    https = public_base_url(hub.settings).startswith("https://")
    sid = security.unsign_sid(secret, request.cookies.get(security.session_cookie_name(https)))
    pre = request.cookies.get(security.PRE_COOKIE)
    pre = pre if pre and len(pre) <= 64 else None
    person = None
    if sid is not None:
        with hub.sessions() as session, session.begin():
            found = access.session_for(
                session, sid, now=clock.now(hub), idle=timedelta(seconds=settings.session_idle_s)
            )
        if found is None:
            sid = None
        else:
            person = found[1]
    return Visit(hub=hub, person=person, sid=sid, pre=pre)


def _next(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def visit_dep(request: Request) -> Visit:
    return load_visit(request)


def person_dep(request: Request) -> Visit:
    visit = load_visit(request)
    if visit.person is None:
        raise SignInRequired(_next(request))
    return visit


def partner_dep(request: Request) -> Visit:
    visit = person_dep(request)
    if visit.person is None or visit.person.partner_id is None:
        raise not_found()
    return visit


def operator_dep(request: Request) -> Visit:
    visit = person_dep(request)
    if visit.person is None or not visit.person.is_operator:
        raise not_found()
    return visit


AnyVisit = Annotated[Visit, Depends(visit_dep)]
PersonVisit = Annotated[Visit, Depends(person_dep)]
PartnerVisit = Annotated[Visit, Depends(partner_dep)]
OperatorVisit = Annotated[Visit, Depends(operator_dep)]


async def posted(request: Request, *, signed_in: bool = True) -> tuple[Visit, dict[str, str]]:
    """A POSTed form and its visit, the CSRF token checked first (403 otherwise). ``signed_in``:
    nobody signed in is sent to sign in."""
    visit = await run_in_threadpool(load_visit, request)
    try:
        form = await security.read_form(request, visit.hub.settings.web.form_limit)
    except security.FormError as exc:
        raise PageError(exc.status, "The form could not be used", exc.message) from None
    if not visit.csrf_ok(form.get("csrf")):
        raise PageError(403, "The form has expired", "Reload the page and send the form again.")
    if signed_in and visit.person is None:
        raise SignInRequired(request.url.path)
    return visit, form


async def posted_files(
    request: Request, limit: int
) -> tuple[Visit, dict[str, str], list[tuple[str, str | None, bytes]]]:
    """A POSTed ``multipart/form-data`` form of a signed-in partner user (the MDF claim with its
    files): the visit is authenticated from the cookie BEFORE the body is read (nobody signed in,
    or an operator, is refused without reading it); a body declared or found larger than
    ``limit`` is 413 at once; then the CSRF token (403), as ``posted``."""
    from hub.runtime import multipart

    visit = await run_in_threadpool(load_visit, request)
    if visit.person is None:
        raise SignInRequired(request.url.path)
    if visit.person.partner_id is None:
        raise not_found()
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PageError(413, "The files are too large", f"Send at most {limit} bytes in one claim.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PageError(413, "The files are too large", f"Send at most {limit} bytes in one claim.")
    try:
        form = multipart.parse(bytes(body), request.headers.get("content-type"))
    except multipart.MultipartError as exc:
        raise PageError(400, "The form could not be used", str(exc)) from None
    if not visit.csrf_ok(form.fields.get("csrf")):
        raise PageError(403, "The form has expired", "Reload the page and send the form again.")
    return visit, form.fields, form.files


def sign_in_url(next_path: str | None = None) -> str:
    if next_path and next_path.startswith("/") and not next_path.startswith("//"):
        return "/signin?next=" + quote(next_path, safe="/")
    return "/signin"


def safe_next(value: str | None) -> str | None:
    """A ``next`` that stays on this site (a path, never ``//host`` or a scheme)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and len(value) < 500:
        return value
    return None


def home_of(person: Who | None) -> str:
    if person is None:
        return "/signin"
    return "/console" if person.is_operator else "/portal"
