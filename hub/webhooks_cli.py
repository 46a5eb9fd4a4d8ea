"""``partnerhub webhooks``: create the hub's webhook subscriptions at a provider through its API.

Provider-neutral: a connector that can register its webhooks has ``register_webhooks(base_url)``
returning one line per endpoint it created, found or fixed (idempotent: running it twice creates
nothing new). The URL providers call is ``PARTNERHUB_PUBLIC_BASE_URL`` + ``/webhooks/<name>``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connectors import REGISTRY
from connectors.base import HubError
from hub.settings import load_settings

app = typer.Typer(help="Provider webhook subscriptions.", no_args_is_help=True)


def open_connector(name: str) -> Any:
    """One connector with its settings section and, when configured, the shared Redis."""
    settings = load_settings()
    cls = REGISTRY.get(name)
    if cls is None:
        raise HubError(f"unknown connector {name!r} (known: {', '.join(sorted(REGISTRY))})")
    connector = cls(getattr(settings, name))
    if settings.redis_url is not None and hasattr(connector, "use_redis"):
        import redis

        connector.use_redis(redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=10))
    return connector, settings


@app.command()
def register(
    connector_name: Annotated[str, typer.Argument(metavar="CONNECTOR", help="e.g. stripe, sendgrid, pipedrive")],
) -> None:
    """Create (or check) the provider's webhooks pointing at this hub."""
    connector: Any = None
    try:
        connector, settings = open_connector(connector_name)
        if not hasattr(connector, "register_webhooks"):
            raise HubError(f"{connector_name}: webhooks are set up in the provider's own UI (see the README)")
        if not settings.public_base_url:
            raise HubError("PARTNERHUB_PUBLIC_BASE_URL is not set: providers need the hub's public URL")
        lines: list[str] = connector.register_webhooks(settings.public_base_url.rstrip("/"))
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if connector is not None:
            connector.close()
    for line in lines:
        typer.echo(line)
