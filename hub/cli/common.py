"""What every command group shares: the settings, or one clear line and exit 2; the process
context (``hub.runtime``) opened with logging configured."""

from __future__ import annotations

import typer

from connectors.errors import ConfigurationError
from hub.runtime.context import Hub
from hub.runtime.settings import Settings, load_settings


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def open_hub(settings: Settings, *, start_redis: bool = True, load_mappings: bool = False) -> Hub:
    from hub.runtime.logs import configure_logging

    configure_logging(settings)
    try:
        return Hub.open(settings, start_redis=start_redis, load_mappings=load_mappings)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
