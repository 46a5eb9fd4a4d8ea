"""Entry layer: the ``partnerhub`` Typer commands, one module per command group. No business rules
here: each command opens the process context (``hub.runtime``) and calls the domain."""

from hub.cli.main import app, main

__all__ = ["app", "main"]
