"""``/healthz`` (the process answers), ``/readyz`` (database and Redis reachable), ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.pipeline import queue
from hub.pipeline.metrics import HubCollector
from hub.pipeline.models import Alert, InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import ping
from hub.runtime.context import Hub


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _readiness(hub: Hub) -> dict[str, str]:
    checks = {}
    try:
        ping(hub.engine)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        hub.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    return checks


async def readyz(request: Request) -> Response:
    checks = await run_in_threadpool(_readiness, request.app.state.hub)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)


def gauges(hub: Hub) -> Iterable[tuple[str, str, dict[str, str], float]]:
    for kind, depth in queue.depths(hub.redis, hub.settings.queue_prefix).items():
        yield "queue_depth", "Jobs waiting in each RQ queue.", {"queue": kind}, float(depth)
    with hub.sessions() as session:
        for table, model in (("inbox", InboxEvent), ("outbox", OutboxItem)):
            counts = dict(session.execute(select(model.state, func.count()).group_by(model.state)).all())
            for state in WorkState:
                if model is InboxEvent and state in (WorkState.PENDING, WorkState.UNKNOWN):
                    continue
                if model is OutboxItem and state == WorkState.RECEIVED:
                    continue
                yield (
                    f"{table}_rows",
                    f"{table.capitalize()} rows by state.",
                    {"state": state.value},
                    float(counts.get(state, 0)),
                )
        dead = sum(
            session.scalar(select(func.count()).select_from(m).where(m.state == WorkState.DEAD)) or 0
            for m in (InboxEvent, OutboxItem)
        )
        yield "dead_letters_current", "Rows now dead (inbox and outbox).", {}, float(dead)
        open_alerts = session.scalar(select(func.count()).select_from(Alert).where(Alert.state == "open"))
        yield "open_alerts", "Alerts waiting for a person.", {}, float(open_alerts or 0)


def _render(hub: Hub) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub.redis, lambda: gauges(hub)))
    return generate_latest(registry)


async def metrics_endpoint(request: Request) -> Response:
    body = await run_in_threadpool(_render, request.app.state.hub)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
