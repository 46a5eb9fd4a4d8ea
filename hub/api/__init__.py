"""Entry layer: the ASGI app (``app``) and its routers — provider webhooks, health and metrics,
the partner API and the admin API. HTTP only: each route authenticates, validates and calls the
domain (``hub.program``) or the pipeline with the process's ``Hub``.

May import ``hub.runtime`` and every layer below it; never ``hub.cli``.
"""
