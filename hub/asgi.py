"""The one ASGI app, composed: the HTTP API and webhooks (``hub.api.app``) with the pages
(``hub.web``) installed on it. The two entry layers stay independent of each other; this module
sits above both and is what servers load (``webhook_app.py``, ``partnerhub run`` and ``web``)."""

from __future__ import annotations

from hub.api.app import HubApp, create_app
from hub.runtime.context import Hub, current
from hub.web.app import install


def build_app(hub: Hub | None = None) -> HubApp:
    """``hub`` given: the caller owns it; otherwise opened from the environment at start-up."""
    return create_app(hub, pages=install)


def current_hub_app() -> HubApp:
    """The app over the process's own hub: the factory ``partnerhub run`` hands uvicorn."""
    return build_app(current())
