"""Thin entry point: the ASGI app (webhooks, partner/admin API, portal and console, health, metrics).

uvicorn webhook_app:app --host 0.0.0.0 --port 8080
"""

from hub.asgi import build_app

app = build_app()
