"""Entry layer: the ``partnerhub`` Typer commands, one module per command group (``main`` holds
the top-level commands and mounts the groups). No business rules here: each command opens the
process context (``hub.runtime``) and calls the layers below.

``main`` is imported lazily so ``python -m hub.cli.<group>`` runs a group's module without it
having been imported already through this package."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from hub.cli.main import main as run

    run(argv)
