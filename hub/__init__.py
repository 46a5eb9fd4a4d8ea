"""partnerhub: the hub between a company's CRM, payments and e-mail and its partner program.

One sub-package per layer; each imports only the layers below it (``lint-imports`` checks the
contracts in ``pyproject.toml``)::

    hub.cli  hub.api      entry points: Typer commands, the ASGI app (and the RQ jobs)
    hub.runtime           one process's wiring: settings, logging, embedded Redis, ``Hub``, workers
    hub.program           the partner-program domain (no HTTP, CLI, Redis or runtime)
    hub.pipeline          the data flow: inbox, queue, engine, outbox, work, reconciler, sync, store
    hub.mapping           mapping files: load, check, compile, apply
    connectors            one package per provider (imports nothing from ``hub``)

``hub.migrations`` holds the Alembic history; ``hub.jobs`` keeps the old RQ job paths for one
release.
"""
