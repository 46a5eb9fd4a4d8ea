"""The operator console's pages (``/console``): the dashboard here; the review queues, money,
partners (with their lifecycle), events and files pages in their own modules (``hub.web.console_*``), included in this
router. Every page reads through the program domain's read models and decides through the same
domain functions as the CLI and the admin API."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hub.program import clock, exports, kpis, review_queues
from hub.program.email.formatting import format_money
from hub.web import (
    charts,
    console_events,
    console_files,
    console_lifecycle,
    console_mdf,
    console_money,
    console_operators,
    console_partners,
    console_queues,
)
from hub.web.console_common import badges, choice
from hub.web.render import page, percent
from hub.web.visit import OperatorVisit

router = APIRouter(include_in_schema=False)
for sub in (
    console_queues,
    console_money,
    console_partners,
    console_lifecycle,
    console_mdf,
    console_events,
    console_files,
    console_operators,
):
    router.include_router(sub.router)

TOP = 10


@router.get("/console")
def console_home(visit: OperatorVisit, period: str | None = None) -> Response:
    chosen = choice(period, kpis.PERIODS, "period") or "month"
    with visit.hub.sessions() as session:
        data = kpis.compute(session, clock.now(visit.hub), period=chosen)  # type: ignore[arg-type]
        counts = badges(session)
    top = sorted(data["conversion_by_partner"].values(), key=lambda c: (-c["referrals"], c["name"]))[:TOP]
    top = [c for c in top if c["referrals"]]
    return page(
        visit,
        "console/home.html",
        kpis=data,
        period=chosen,
        periods=kpis.PERIODS,
        badges=counts,
        queue_titles={name: q.title for name, q in review_queues.QUEUES.items()},
        top=top,
        per_month_chart=charts.columns(
            [(m["month"][2:], m["referrals"]) for m in data["referrals_per_month"]], title="Referrals per month"
        ),
        conversion_chart=charts.bars(
            [(c["name"], c["won"], c["referrals"], f"{c['won']}/{c['referrals']} {percent(c['rate'])}") for c in top],
            title="Conversion by partner",
        ),
        money_chart=charts.pairs(
            [
                (cur, per["owed"], per["paid"], format_money(per["owed"], cur), format_money(per["paid"], cur))
                for cur, per in data["commission"].items()
            ],
            title="Commission owed and paid, per currency",
            names=("owed", "paid"),
        ),
    )


@router.get("/console/kpis.csv")
def kpis_csv(visit: OperatorVisit, period: str | None = None) -> Response:
    chosen = choice(period, kpis.PERIODS, "period") or "month"
    with visit.hub.sessions() as session:
        data = kpis.compute(session, clock.now(visit.hub), period=chosen)  # type: ignore[arg-type]
    return Response(
        exports.to_csv(["kpi", "value"], kpis.as_rows(data)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="kpis-{chosen}.csv"'},
    )
