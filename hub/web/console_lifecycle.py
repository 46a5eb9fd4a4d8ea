"""A partner's lifecycle on the console (shown on ``/console/partners/{id}``): the operator's
changes — set the partner's attributes (the segment is recomputed), complete an onboarding step
(also from the overdue-onboarding queue), record or renew a certification with its expiry — each
the domain function the admin API and the CLI call, audited with the operator's name. Viewers
see the partner page; only admins change anything."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.program import clock, onboarding, segments
from hub.program.errors import NotFound
from hub.program.models import Partner
from hub.web.console_common import RowId, decide, moment, require_admin
from hub.web.visit import PageError, posted

router = APIRouter(include_in_schema=False)


def _locked(session: Session, partner_id: RowId) -> Partner:
    partner = session.get(Partner, partner_id, with_for_update=True)
    if partner is None:
        raise NotFound("no such partner")
    return partner


def _to_partner(partner_id: RowId, done: str) -> Response:
    return RedirectResponse(f"/console/partners/{partner_id}?done={done}#lifecycle", status_code=303)


@router.post("/console/partners/{partner_id}/attributes")
async def set_attributes(request: Request, partner_id: RowId) -> Response:
    """The attributes present in the form (``segments.EDITABLE``); an empty one is cleared."""
    visit, form = await posted(request)
    actor = require_admin(visit)
    values: dict[str, Any] = {}
    for name in segments.EDITABLE:
        if name in form:
            value = form[name].strip()
            if len(value) > 64:
                raise PageError(400, f"{name.replace('_', ' ')} is too long")
            values[name] = value or None
    if not values:
        raise PageError(400, "Nothing to change", "The form names none of the partner's attributes.")
    hub = visit.hub
    await run_in_threadpool(
        decide,
        visit,
        lambda s: segments.set_attributes(
            s, hub.program, _locked(s, partner_id), values, actor=actor, now=clock.now(hub)
        ),
    )
    return _to_partner(partner_id, "attributes")


@router.post("/console/partners/{partner_id}/onboarding/{step}/complete")
async def complete_step(request: Request, partner_id: RowId, step: str) -> Response:
    """Complete a step as the operator (any kind; the agreement step records the acceptance by
    the operator). A step the partner does not have answers 404."""
    visit, form = await posted(request)
    actor = require_admin(visit)
    hub = visit.hub
    await run_in_threadpool(
        decide,
        visit,
        lambda s: onboarding.complete(s, hub, _locked(s, partner_id), step[:64], by=actor, now=clock.now(hub)),
    )
    if form.get("back") == "onboarding":
        return RedirectResponse("/console/queues/onboarding?done=1", status_code=303)
    return _to_partner(partner_id, "step")


@router.post("/console/partners/{partner_id}/certifications")
async def record_certification(request: Request, partner_id: RowId) -> Response:
    """Record or renew a certification; an empty expiry: it never expires."""
    visit, form = await posted(request)
    actor = require_admin(visit)
    name = (form.get("name") or "").strip()
    if not name:
        raise PageError(400, "A certification needs a name")
    if len(name) > 128:
        raise PageError(400, "The certification name is too long")
    expires_at = moment(form.get("expires_at"), "expires")
    hub = visit.hub
    await run_in_threadpool(
        decide,
        visit,
        lambda s: onboarding.record_certification(
            s, hub, _locked(s, partner_id), name=name, expires_at=expires_at, by=actor, now=clock.now(hub)
        ),
    )
    return _to_partner(partner_id, "certification")
