"""``partnerhub crm``: prepare and check the CRM the partner flow writes to.

CRM-neutral: it works on whichever connector ``PARTNERHUB_CRM`` names (default ``hubspot``),
through ``connectors.capabilities.CrmConnector``.
"""

from __future__ import annotations

from typing import Any

import typer

from connectors import REGISTRY
from connectors.capabilities import CrmConnector
from connectors.errors import ConfigurationError, HubError
from hub.runtime.settings import Settings, load_settings

app = typer.Typer(help="Prepare and check the CRM the partner flow writes to.", no_args_is_help=True)


def crm_connector(settings: Settings) -> CrmConnector:
    """The configured CRM's connector (its own settings section), with the shared rate budget
    when a Redis URL is configured."""
    from hub.runtime.context import standalone_connector

    name = str(getattr(settings, "crm", "hubspot"))
    if name not in REGISTRY:
        raise ConfigurationError(f"PARTNERHUB_CRM names an unknown connector: {name!r}")
    connector = standalone_connector(settings, name)
    if not isinstance(connector, CrmConnector):
        connector.close()
        raise ConfigurationError(f"PARTNERHUB_CRM: {name!r} is not a CRM connector")
    return connector


def _run(action: str) -> list[str]:
    connector: Any = None
    try:
        connector = crm_connector(load_settings())
        lines: list[str] = connector.ensure_setup() if action == "ensure_setup" else connector.missing_setup()
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if connector is not None:
            connector.close()
    return lines


@app.command()
def setup() -> None:
    """Create (or check) the custom fields the partner flow needs in the CRM."""
    for line in _run("ensure_setup"):
        typer.echo(line)


@app.command()
def check() -> None:
    """Name what `crm setup` would still have to create or fix; exit 1 if anything."""
    missing = _run("missing_setup")
    for line in missing:
        typer.echo(f"missing: {line}")
    if missing:
        raise typer.Exit(1)
    typer.echo("the CRM has everything the partner flow needs")
