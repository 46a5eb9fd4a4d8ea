"""``partnerhub webhooks``: create the hub's webhook subscriptions at a provider through its API.

Provider-neutral: a connector that can register its webhooks has ``register_webhooks(base_url)``
returning one line per endpoint it created, found or fixed (idempotent: running it twice creates
nothing new). The URL providers call is ``PARTNERHUB_PUBLIC_BASE_URL`` + ``/webhooks/<name>``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from connectors.capabilities import Connector, RegistersWebhooks
from connectors.errors import HubError
from hub.runtime.settings import Settings, load_settings

app = typer.Typer(help="Provider webhook subscriptions.", no_args_is_help=True)


def open_connector(name: str) -> tuple[Connector, Settings]:
    """One connector with its settings section and, when configured, the shared Redis."""
    from hub.runtime.context import standalone_connector

    settings = load_settings()
    return standalone_connector(settings, name), settings


@app.command()
def register(
    connector_name: Annotated[str, typer.Argument(metavar="CONNECTOR", help="e.g. stripe, sendgrid, pipedrive")],
) -> None:
    """Create (or check) the provider's webhooks pointing at this hub."""
    connector: Connector | None = None
    try:
        connector, settings = open_connector(connector_name)
        if not isinstance(connector, RegistersWebhooks):
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
