"""The operator console's pages (``/console``). This is the console's home only; its pages —
dashboard, review queues, money, partners, events, files — are added here on the same
foundation (``hub.web.visit.OperatorVisit``, ``hub.web.render.page``, ``posted`` for forms)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hub.web.render import page
from hub.web.visit import OperatorVisit

router = APIRouter(include_in_schema=False)


@router.get("/console")
def console_home(visit: OperatorVisit) -> Response:
    return page(visit, "console/home.html")
