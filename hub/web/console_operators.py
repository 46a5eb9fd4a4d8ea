"""Operators (``/console/operators``): who signs in to the console, with their role, their last
sign-in and the status of the newest sign-in mail to their address (a bounced or suppressed one
is marked). Read only: operators are added and deactivated with ``partnerhub admins``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hub.program import access
from hub.web.console_common import badges
from hub.web.render import page
from hub.web.visit import OperatorVisit

router = APIRouter(include_in_schema=False)


@router.get("/console/operators")
def operators(visit: OperatorVisit) -> Response:
    with visit.hub.sessions() as session:
        people = access.operators(session)
        mails = access.newest_signin_mails(session, [o.email for o in people], scan=max(200, 4 * len(people)))
        return page(
            visit,
            "console/operators.html",
            badges=badges(session),
            rows=[(o, mails.get(o.email)) for o in people],
        )
