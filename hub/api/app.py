"""The ASGI app: provider webhooks, health, metrics, the partner API and the admin API (OpenAPI
at ``/docs``, ``/redoc`` and ``/openapi.json`` when ``PARTNERHUB_API_DOCS`` or the mode allows).
``hub.asgi`` installs the pages (``hub.web``) on it; ``webhook_app.py`` exposes that to ASGI
servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from hub.api import admin as admin_api
from hub.api import errors as api_errors
from hub.api import lifecycle as lifecycle_api
from hub.api import lifecycle_admin as lifecycle_admin_api
from hub.api import mdf as mdf_api
from hub.api import partner as partner_api
from hub.api import program as program_api
from hub.api import program_admin as program_admin_api
from hub.api.auth import guard_api
from hub.api.health import healthz, metrics_endpoint, readyz
from hub.api.webhooks import receive_webhook
from hub.pipeline.ingest import InboxWriter
from hub.runtime.context import Hub
from hub.runtime.logs import configure_logging


class HubApp:
    """The ASGI entry point. Webhook POSTs go straight to their handler (the hot path skips
    FastAPI's middleware stack, about a tenth of its CPU per request in ``bench/``); ``/api/``
    requests are authenticated before their body is read (``hub.api.auth.guard_api``), and so is
    ``/metrics`` when it asks for the admin token; the OpenAPI pages answer 404 when they are off;
    everything else — health, lifespan — goes to the FastAPI app."""

    def __init__(self, api: FastAPI):
        self.api = api

    @property
    def state(self) -> Any:
        return self.api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(WEBHOOKS):
            connector, _, subpath = scope["path"][len(WEBHOOKS) :].partition("/")
            if connector:
                scope["app"] = self.api
                scope["path_params"] = {"connector": connector, "subpath": subpath}
                response = await receive_webhook(Request(scope, receive))
                await response(scope, receive, send)
                return
        if scope["type"] == "http":
            path = scope["path"]
            settings = self.api.state.hub.settings
            if path.startswith(API):
                await guard_api(self.api, scope, receive, send)
                return
            if path == METRICS and settings.metrics_access != "open":
                if settings.metrics_access == "off":
                    await NOT_FOUND(scope, receive, send)
                else:
                    await guard_api(self.api, scope, receive, send, realm="admin")
                return
            if path in DOCS and not settings.docs_enabled:
                await NOT_FOUND(scope, receive, send)
                return
        await self.api(scope, receive, send)


WEBHOOKS = "/webhooks/"
API = "/api/"
METRICS = "/metrics"
DOCS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
NOT_FOUND = JSONResponse({"detail": "Not Found"}, status_code=404)


def create_app(hub: Hub | None = None, *, pages: Callable[[FastAPI], None] | None = None) -> HubApp:
    """``hub`` given: the caller owns it. Otherwise the app opens one at start-up from the
    environment and closes it at shutdown. ``pages``: installs more routes on the FastAPI app
    (the web pages, by ``hub.asgi``, which composes the entry layers; this module never imports
    them)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = hub is None
        app.state.hub = hub if hub is not None else Hub.open(load_mappings=True)
        configure_logging(app.state.hub.settings)
        app.state.inbox_writer = InboxWriter(app.state.hub)
        try:
            yield
        finally:
            app.state.inbox_writer.close()
            if own:
                app.state.hub.close()

    app = FastAPI(title="partnerhub", version="0.1.0", lifespan=lifespan)
    api_errors.install(app)  # domain errors -> status codes, one table
    # Webhooks are plain Starlette routes: the raw body must reach the connector untouched.
    app.router.add_route("/webhooks/{connector}", receive_webhook, methods=["POST"], include_in_schema=False)
    # a connector with several inbound routes (SendGrid's Inbound Parse) reads the rest of the path
    app.router.add_route(
        "/webhooks/{connector}/{subpath:path}", receive_webhook, methods=["POST"], include_in_schema=False
    )
    app.router.add_route("/healthz", healthz, methods=["GET"])
    app.router.add_route("/readyz", readyz, methods=["GET"])
    app.router.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    # every API answer the routes can give besides their own, with the one error schema
    documented = api_errors.documented_responses()
    app.include_router(partner_api.router, responses=documented)
    app.include_router(admin_api.router, responses=documented)
    app.include_router(program_api.router, responses=documented)
    app.include_router(program_admin_api.router, responses=documented)
    app.include_router(lifecycle_api.router, responses=documented)
    app.include_router(lifecycle_admin_api.router, responses=documented)
    app.include_router(mdf_api.router, responses=documented)
    app.include_router(mdf_api.admin_router, responses=documented)
    if pages is not None:
        pages(app)
    return HubApp(app)
