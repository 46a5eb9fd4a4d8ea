"""Thin entry point: the ASGI app (webhooks, partner/admin API, health, metrics).

uvicorn webhook_app:app --host 0.0.0.0 --port 8080
"""

from hub.api.app import create_app

app = create_app()
