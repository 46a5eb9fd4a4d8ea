"""``POST /webhooks/{connector}[/{subpath}]``: verify over the raw bytes, parse, store, commit,
enqueue, ack.

Storing goes through the process's ``InboxWriter`` (group commit: concurrent requests share a
transaction; each is answered only after that transaction committed).

Order matters and is the product: nothing is stored for a request that fails verification (401)
or parsing (400); the 2xx goes out only after the inbox rows are committed; a repeated delivery
adds no row and still gets its 2xx. A request whose values the database refuses is answered 400
on its own, the others of its group being stored all the same (``hub.pipeline.ingest``); a
database that is down is a 503. A delivery the connector discards on purpose
(``Parsed.discarded``: e-mail from an unverified sender) and one the hub screens out
(``hub.screening``: e-mail from someone who is not a partner) is answered 2xx, logged with a
digest and counted, and stores nothing. Connectors with several routes get the rest of the path
(``subpath``) and may take a different body limit per route (``body_limit(subpath)``). If Redis
is down after the commit the request is still acknowledged: the rows are durable and the
reconciler enqueues them.
"""

from __future__ import annotations

import json
import time

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.capabilities import ReceivesWebhooks
from connectors.errors import WebhookRejected
from connectors.values import Discarded, InboundRequest, Parsed
from hub.pipeline import metrics
from hub.pipeline.alerts import raise_alert
from hub.program import screening
from hub.runtime.context import Hub

log = structlog.get_logger(__name__)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def public_url(request: Request, base_url: str | None) -> str:
    """The URL as the provider called it: the configured public base (behind a proxy) or the
    request's own scheme and Host, plus the raw path and query exactly as sent."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    tail = raw_path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
    if base_url:
        return base_url.rstrip("/") + tail
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}{tail}"


def _reject(
    hub: Hub,
    connector: str,
    reason: str,
    status: int,
    message: str,
    body: bytes | None = None,
    media_type: str = "application/json",
) -> Response:
    try:
        metrics.incr(hub.redis, "webhooks_rejected", {"connector": connector, "reason": reason})
    except Exception:
        pass
    if body is not None:  # the provider's own refusal format (e.g. a SOAP fault)
        return Response(body, status_code=status, media_type=media_type)
    return JSONResponse({"error": message}, status_code=status)


#: an unconfigured connector's alert is written at most this often (per connector)
NOT_READY_ALERT_EVERY_S = 300
_not_ready_noted: dict[str, float] = {}  # connector -> monotonic time, when Redis cannot say


def _alert_due(hub: Hub, name: str) -> bool:
    """True at most once per ``NOT_READY_ALERT_EVERY_S`` for all processes (a Redis key), so an
    unauthenticated flood writes nothing to the database; per process if Redis is down."""
    try:
        key = f"{hub.settings.queue_prefix}:alerted:connector_config:{name}"
        return bool(hub.redis.set(key, b"1", nx=True, ex=NOT_READY_ALERT_EVERY_S))
    except Exception:
        now = time.monotonic()
        last = _not_ready_noted.get(name)
        if last is not None and now - last < NOT_READY_ALERT_EVERY_S:
            return False
        _not_ready_noted[name] = now
        return True


def _not_ready(hub: Hub, name: str) -> None:
    with hub.sessions() as session, session.begin():
        raise_alert(
            session,
            key=f"connector_config:{name}",
            kind="connector",
            message=f"{name} webhooks arrive but the connector has no webhook secret configured; "
            "they are answered 503 so the provider retries them",
        )


#: bodies up to this size are verified and parsed on the event loop (the hot path); larger ones
#: in a worker thread, so one large post does not stall every other request
IN_LOOP_BYTES = 256 * 1024


def _verify_and_parse(connector: ReceivesWebhooks, inbound: InboundRequest) -> Parsed:
    connector.verify_webhook(inbound)
    return connector.parse_webhook(inbound)


def _discard(hub: Hub, connector: str, discarded: list[Discarded]) -> None:
    for item in discarded:
        log.info("webhook delivery discarded", connector=connector, reason=item.reason, ref=item.ref)
        try:
            metrics.incr(hub.redis, "webhooks_discarded", {"connector": connector, "reason": item.reason})
        except Exception:
            pass


async def receive_webhook(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    name = request.path_params["connector"]
    connector = hub.connectors.get(name)
    if not isinstance(connector, ReceivesWebhooks):
        return _reject(hub, "_unknown", "unknown_connector", 404, "unknown connector")
    if not connector.webhook_ready():
        if _alert_due(hub, name):
            await run_in_threadpool(_not_ready, hub, name)
        return _reject(hub, name, "not_configured", 503, f"{name} webhooks are not configured")
    subpath = request.path_params.get("subpath") or ""
    limit = connector.body_limit(subpath)
    if limit is None:
        return _reject(hub, name, "unknown_path", 404, "not found")
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        return _reject(hub, name, "too_large", 413, f"body larger than {limit} bytes")
    inbound = InboundRequest(
        method=request.method,
        url=public_url(request, hub.settings.public_base_url),
        headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]},
        body=body,
        received_at=time.time(),
    )
    try:
        if len(body) > IN_LOOP_BYTES:  # a whole e-mail (Inbound Parse): parse it off the event loop
            parsed = await run_in_threadpool(_verify_and_parse, connector, inbound)
        else:
            parsed = _verify_and_parse(connector, inbound)
    except WebhookRejected as exc:
        reason = exc.reason or {401: "signature", 404: "unknown_path", 503: "not_configured"}.get(
            exc.status, "malformed"
        )
        return _reject(hub, name, reason, exc.status, str(exc), exc.body, exc.media_type)
    changes = parsed.changes
    discarded = list(parsed.discarded)
    if changes and screening.needs_screening(hub, name, changes):
        changes, screened = await run_in_threadpool(screening.screen, hub, name, changes)
        discarded += screened
    if discarded:
        _discard(hub, name, discarded)
    try:
        stored = await request.app.state.inbox_writer.store(name, changes)
    except WebhookRejected as exc:  # this request's values refused by the database (400), or it is down (503)
        return _reject(hub, name, exc.reason or "store", exc.status, str(exc))
    reply = parsed.reply
    if reply.body is not None:
        return Response(reply.body, status_code=reply.status, media_type=reply.media_type)
    summary = {"received": len(stored.new_ids), "duplicates": stored.duplicates}
    if discarded:
        summary["discarded"] = len(discarded)
    return Response(json.dumps(summary).encode(), status_code=reply.status, media_type="application/json")
