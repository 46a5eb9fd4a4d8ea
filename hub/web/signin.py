"""Signing in and out, and ``/``.

- ``GET /``: to the person's home (the portal or the console), or to sign in.
- ``GET /signin`` asks for an address; ``POST /signin`` sends a one-time link when the address
  belongs to someone (``hub.program.access.send_link``) and always answers the same page.
  Throttled (``hub.runtime.throttle``) per address and per client address: every request counts,
  a blocked one is 429 with ``Retry-After`` and sends nothing.
- ``GET /signin/link?t=...`` only shows a "Sign in" button (mail scanners fetch links);
  ``POST /signin/link`` uses the token up and opens a new session (a new id each time). A bad,
  used or expired token is refused (400) and counted against the client address under the
  failed-attempt throttle.
- ``POST /signout`` revokes the session.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.pipeline.unit_of_work import unit_of_work
from hub.program import access, clock
from hub.program.email.templates import templates_for
from hub.runtime.throttle import Throttle, client_address
from hub.web.render import page
from hub.web.visit import AnyVisit, PageError, Visit, home_of, posted, safe_next

router = APIRouter(include_in_schema=False)


def _throttles(visit: Visit) -> tuple[Throttle, Throttle]:
    hub, web = visit.hub, visit.hub.settings.web
    prefix = hub.settings.queue_prefix
    return (
        Throttle(hub.redis, prefix=prefix, limit=web.signin_per_address, window_s=web.signin_window_s, name="signin"),
        Throttle(hub.redis, prefix=prefix, limit=web.signin_per_client, window_s=web.signin_window_s, name="signin"),
    )


def _auth_throttle(visit: Visit) -> Throttle:
    s = visit.hub.settings
    return Throttle(visit.hub.redis, prefix=s.queue_prefix, limit=s.throttle_failures, window_s=s.throttle_window_s)


def redirect(visit: Visit, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    visit.apply_cookies(response)
    return response


@router.get("/")
def root(visit: AnyVisit) -> Response:
    return redirect(visit, home_of(visit.person))


@router.get("/signin")
def signin_form(visit: AnyVisit, next: str | None = None) -> Response:
    if visit.person is not None:
        return redirect(visit, safe_next(next) or home_of(visit.person))
    return page(visit, "signin.html", next=safe_next(next) or "", sent=False, address="")


@router.post("/signin")
async def signin_send(request: Request) -> Response:
    visit, form = await posted(request, signed_in=False)
    address = (form.get("email") or "").strip().lower()[:320]
    per_address, per_client = _throttles(visit)
    keys_address = f"address:{address}"
    keys_client = f"client:{client_address(request.scope, visit.hub.settings.trusted_proxies)}"
    wait = max(per_address.check(keys_address) or 0, per_client.check(keys_client) or 0)
    if wait:
        response = page(visit, "signin.html", status=429, next="", sent=False, address=address, wait=wait)
        response.headers["Retry-After"] = str(wait)
        return response
    per_address.fail(keys_address)
    per_client.fail(keys_client)
    await run_in_threadpool(_send_link, visit, address)
    return page(visit, "signin.html", next="", sent=True, address=address)


def _send_link(visit: Visit, address: str) -> None:
    hub = visit.hub
    with unit_of_work(hub) as session:
        person = access.find_by_email(session, address)
        if person is None:
            return
        access.send_link(
            session,
            visit.secret,
            person,
            now=clock.now(hub),
            templates=templates_for(hub.settings.templates_dir),
            mail_settings=hub.settings.sendgrid,
        )


@router.get("/signin/link")
def signin_link(visit: AnyVisit, t: str = "") -> Response:
    return page(visit, "signin_link.html", token=t[:200])


@router.post("/signin/link")
async def signin_consume(request: Request) -> Response:
    visit, form = await posted(request, signed_in=False)
    throttle = _auth_throttle(visit)
    key = f"addr:{client_address(request.scope, visit.hub.settings.trusted_proxies)}"
    wait = throttle.check(key)
    if wait:
        raise PageError(429, "Too many attempts", f"Try again in {wait} seconds.")
    sid = await run_in_threadpool(_consume, visit, form.get("t") or "")
    if sid is None:
        throttle.fail(key)
        raise PageError(
            400,
            "This sign-in link cannot be used",
            "It has expired (links work for 15 minutes) or was used already. Ask for a new one.",
        )
    return redirect(visit, home_of(visit.person))


def _consume(visit: Visit, token: str) -> str | None:
    hub = visit.hub
    web = hub.settings.web
    with hub.sessions() as session, session.begin():
        now = clock.now(hub)
        person = access.consume_link(session, token, now=now)
        if person is None:
            return None
        if visit.sid is not None:  # whoever was signed in here before is signed out
            access.revoke_session(session, visit.sid, now=now)
        sid = access.open_session(session, person, now=now, max_age=timedelta(seconds=web.session_max_s))
    visit.person = person
    visit.start_session(sid, web.session_max_s)
    return sid


@router.post("/signout")
async def signout(request: Request) -> Response:
    visit, _ = await posted(request, signed_in=False)
    if visit.sid is not None:
        sid = visit.sid

        def revoke() -> None:
            with visit.hub.sessions() as session, session.begin():
                access.revoke_session(session, sid, now=clock.now(visit.hub))

        await run_in_threadpool(revoke)
    visit.end_session()
    visit.person = None
    return redirect(visit, "/signin")
