"""The partner portal (``/portal``): what a partner company's users see and do."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hub.program.models import Partner
from hub.web.render import page
from hub.web.visit import PartnerVisit, not_found

router = APIRouter(include_in_schema=False)


@router.get("/portal")
def home(visit: PartnerVisit) -> Response:
    assert visit.person is not None and visit.person.partner_id is not None
    with visit.hub.sessions() as session:
        partner = session.get(Partner, visit.person.partner_id)
        if partner is None:
            raise not_found()
        return page(visit, "portal/home.html", partner=partner)
