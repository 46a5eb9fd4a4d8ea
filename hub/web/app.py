"""Putting the pages on the ASGI app: ``install(api)`` adds the page routers, the static files,
the security headers and the error pages to the FastAPI app that ``hub.api.app`` builds. The
composition of the two entry layers is ``hub.asgi`` (neither imports the other)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from hub.web import console, lifecycle, portal, portal_mdf, signin
from hub.web.render import STATIC, env
from hub.web.security import SecurityHeaders
from hub.web.visit import PageError, SignInRequired, Visit, hub_of, sign_in_url

#: the page routers, in order (the console's and the application pages' are added here)
ROUTERS = (signin.router, portal.router, portal_mdf.router, lifecycle.router, console.router)


def install(api: FastAPI) -> None:
    for router in ROUTERS:
        api.include_router(router)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    api.add_middleware(SecurityHeaders)
    api.add_exception_handler(PageError, _page_error)
    api.add_exception_handler(SignInRequired, _sign_in)


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    visit = Visit(hub=hub_of(request), person=None, sid=None)
    body = env.get_template("error.html").render(
        visit=visit, person=None, csrf="", title=exc.title, message=exc.message, status=exc.status
    )
    response = Response(body, status_code=exc.status, media_type="text/html")
    if exc.status == 429:
        response.headers["Retry-After"] = "60"
    return response


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(sign_in_url(exc.next_path), status_code=303)
