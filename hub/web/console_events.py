"""Events (``/console/events``) and alerts (``/console/alerts``): the inbox browser and the
outbox's dead and unknown rows (filter by connector, state, time, object id), an event's detail
with its payload masked (``hub.pipeline.event_browser.mask``), throughput and failures per
connector, replay of one or many rows — admins only, through the same selection and replay as
``partnerhub replay`` (``hub.pipeline.work``) — and open alerts with resolve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.pipeline import event_browser, work
from hub.pipeline.alerts import open_alerts, resolve_alert
from hub.pipeline.models import Alert, InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import utcnow
from hub.pipeline.unit_of_work import owe_inbox, owe_outbox
from hub.program import clock
from hub.program.models import AuditEntry
from hub.web import charts
from hub.web.console_common import PageParam, RowId, badges, choice, decide, moment, page_number, require_admin, text
from hub.web.render import page
from hub.web.visit import OperatorVisit, PageError, not_found, posted

router = APIRouter(include_in_schema=False)
TABLES = ("inbox", "outbox")
STATES = tuple(str(s) for s in WorkState)
MOST_REPLAYED = 200


@router.get("/console/events")
def events(
    visit: OperatorVisit,
    table: str | None = None,
    connector: str | None = None,
    state: str | None = None,
    object_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page_: PageParam = None,
) -> Response:
    chosen = event_browser.EventFilter(
        table=choice(table, TABLES, "table") or "inbox",  # type: ignore[arg-type]
        connector=text(connector, "connector", limit=32),
        state=choice(state, STATES, "state"),
        object_id=text(object_id, "object id", limit=255),
        since=moment(since, "since"),
        until=moment(until, "until"),
    )
    number = page_number(page_)
    with visit.hub.sessions() as session:
        rows, more = event_browser.browse(session, chosen, page=number)
        flow = event_browser.throughput(session, until=clock.now(visit.hub))
        return page(
            visit,
            "console/events.html",
            badges=badges(session),
            rows=rows,
            more=more,
            page_no=number,
            f=chosen,
            raw={"since": since or "", "until": until or ""},
            tables=TABLES,
            states=STATES,
            connectors=event_browser.connectors(session),
            flow_charts={
                name: charts.flow(
                    [(d["day"][5:], d["events"], d["failed"]) for d in days],
                    title=f"{name}: events and failures per day",
                )
                for name, days in flow.items()
            },
            flow_totals={
                name: (sum(d["events"] for d in days), sum(d["failed"] for d in days)) for name, days in flow.items()
            },
        )


@router.get("/console/events/{table}/{row_id}")
def event_detail(visit: OperatorVisit, table: str, row_id: RowId) -> Response:
    if table not in TABLES:
        raise not_found()
    with visit.hub.sessions() as session:
        found = event_browser.detail(session, table, row_id)  # type: ignore[arg-type]
        if found is None:
            raise not_found()
        return page(visit, "console/event.html", badges=badges(session), e=found)


def _replay(visit: Any, table: str, ids: list[int], actor: str) -> tuple[int, list[int]]:
    model = OutboxItem if table == "outbox" else InboxEvent
    hub = visit.hub

    def run(session: Any) -> tuple[int, list[int]]:
        query = work.replay_selection(model, ids=ids)
        selected, moved = work.replay_selected(
            session, model, query, requeue_after_s=hub.settings.worker.requeue_after_s
        )
        (owe_outbox if table == "outbox" else owe_inbox)(session, moved)
        session.add(
            AuditEntry(
                actor=actor,
                action="events.replay",
                subject=f"{table}:{','.join(map(str, ids))}"[:200],
                before=None,
                after={"table": table, "ids": ids, "replayed": moved},
                at=utcnow(),
            )
        )
        return selected, moved

    return decide(visit, run)


@router.post("/console/events/replay")
async def replay(request: Request) -> Response:
    """Replay the rows ticked on the events page (``id-<n>`` fields) or the one named by ``id``."""
    visit, form = await posted(request)
    actor = require_admin(visit)
    table = form.get("table") or "inbox"
    if table not in TABLES:
        raise PageError(400, "Unknown table")
    ids: list[int] = []
    for key, value in form.items():
        raw = key[3:] if key.startswith("id-") else value if key == "id" else None
        if raw is None:
            continue
        if not raw.isdigit() or len(raw) > 18:
            raise PageError(400, "Bad row number")
        ids.append(int(raw))
    if not ids:
        raise PageError(400, "Nothing to replay", "Tick the rows to replay first.")
    if len(ids) > MOST_REPLAYED:
        raise PageError(400, "Too many rows", f"Replay at most {MOST_REPLAYED} at once (or use partnerhub replay).")
    selected, moved = await run_in_threadpool(_replay, visit, table, sorted(set(ids)), actor)
    back = form.get("back") or ""
    target = back if back.startswith("/console/events") and "//" not in back else "/console/events"
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}replayed={len(moved)}&skipped={selected - len(moved)}", status_code=303)


@router.get("/console/alerts")
def alerts(visit: OperatorVisit) -> Response:
    with visit.hub.sessions() as session:
        return page(visit, "console/alerts.html", badges=badges(session), alerts=open_alerts(session, limit=200))


@router.post("/console/alerts/{alert_id}/resolve")
async def resolve(request: Request, alert_id: RowId) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)

    def run(session: Any) -> None:
        alert = session.scalars(select(Alert).where(Alert.id == alert_id, Alert.state == "open")).first()
        if alert is None:
            raise PageError(404, "No such open alert")
        resolve_alert(session, alert.key)
        session.add(
            AuditEntry(
                actor=actor,
                action="alert.resolve",
                subject=f"alert:{alert.key}"[:200],
                before={"state": "open", "count": alert.count},
                after={"state": "resolved", "reason": (form.get("reason") or "")[:2000]},
                at=utcnow(),
            )
        )

    await run_in_threadpool(decide, visit, run)
    return RedirectResponse("/console/alerts?done=1", status_code=303)
