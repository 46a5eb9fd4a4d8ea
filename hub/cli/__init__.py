"""Entry layer: the ``partnerhub`` Typer commands, one module per command group (``main`` holds
the top-level commands and mounts the groups). No business rules here: each command opens the
process context (``hub.runtime``, helpers in ``common``) and calls the layers below. May import
``hub.runtime`` and every layer below it; never ``hub.api``.

``main`` is imported lazily so ``python -m hub.cli.<group>`` runs a group's module without it
having been imported already through this package."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from hub.cli.main import main as run

    run(None if argv is None else list(argv))
