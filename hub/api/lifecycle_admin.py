"""The lifecycle's admin routes (``/api/v1/admin``): the application queue and its decisions,
partner attributes (the segment follows), onboarding steps completed by an operator, the
overdue-onboarding queue, certifications and agreements, peer comparison, the health score and
the at-risk queue, and the lifecycle KPIs.
Decisions name the person in ``by`` and are audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.api.auth import AdminDep, hub_of
from hub.api.inputs import JsonRoute, Moment, RowId
from hub.api.lifecycle import peers_dict
from hub.api.program_admin import Decision, _in_tx
from hub.program import applications, clock, health, lifecycle_kpis, onboarding, segments
from hub.program.errors import NotFound
from hub.program.models import Partner
from hub.runtime.web_secret import web_secret

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], route_class=JsonRoute)


application_dict = applications.as_dict


@router.get("/applications", summary="Applications by status (default: confirmed, waiting for a decision)")
async def list_applications(
    request: Request, admin: AdminDep, status: Literal["pending", "approved", "declined", "expired"] = "pending"
) -> list[dict[str, Any]]:
    hub = hub_of(request)

    def rows() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return [application_dict(a) for a in applications.queue(session, status)]

    return await run_in_threadpool(rows)


@router.post(
    "/applications/{application_id}/approve",
    summary="Approve a confirmed application as `by` (audited): the partner is created, mailed a sign-in link "
    "and starts onboarding",
)
async def approve_application(
    request: Request, admin: AdminDep, application_id: RowId, body: Decision
) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: application_dict(
            applications.decide(
                s,
                hub,
                application_id,
                approve_it=True,
                actor=body.by,
                reason=body.reason,
                now=clock.now(hub),
                signin_secret=web_secret(hub.settings),
            )
        ),
    )


@router.post(
    "/applications/{application_id}/decline",
    summary="Decline a confirmed application as `by`, with the reason (audited; the applicant is told)",
)
async def decline_application(
    request: Request, admin: AdminDep, application_id: RowId, body: Decision
) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: application_dict(
            applications.decide(
                s, hub, application_id, approve_it=False, actor=body.by, reason=body.reason, now=clock.now(hub)
            )
        ),
    )


class AttributesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=200)
    values: dict[str, str | None] = Field(
        description="Attributes to set (null clears one): " + ", ".join(segments.EDITABLE), max_length=16
    )


def _partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner #{partner_id}")
    return partner


def partner_attributes(p: Partner) -> dict[str, Any]:
    return {"id": p.id, "segment": p.segment, **{k: getattr(p, k) for k in segments.EDITABLE}}


@router.patch("/partners/{partner_id}/attributes", summary="Set partner attributes (audited); the segment follows")
async def set_attributes(request: Request, admin: AdminDep, partner_id: RowId, body: AttributesIn) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: partner_attributes(
            segments.set_attributes(
                s, hub.program, _partner(s, partner_id), dict(body.values), actor=body.by, now=clock.now(hub)
            )
        ),
    )


class ByIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=200)


@router.post(
    "/partners/{partner_id}/onboarding/{step}/complete", summary="Complete a partner's onboarding step (audited)"
)
async def complete_step(request: Request, admin: AdminDep, partner_id: RowId, step: str, body: ByIn) -> dict[str, Any]:
    hub = hub_of(request)

    def work(s: Session) -> dict[str, Any]:
        partner = _partner(s, partner_id)
        done = onboarding.complete(s, hub, partner, step[:64], by=body.by, now=clock.now(hub))
        return {"step": done.step, "completed_at": done.completed_at, "onboarded_at": partner.onboarded_at}

    return await run_in_threadpool(_in_tx, hub, work)


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=128, description="The certification's name.")
    expires_at: Moment | None = Field(default=None, description="When it expires; null: never.")


@router.post(
    "/partners/{partner_id}/certifications",
    summary="Record or renew a partner's certification (audited); benefits requiring it open while it is valid",
)
async def grant_certification(
    request: Request, admin: AdminDep, partner_id: RowId, body: CredentialIn
) -> dict[str, Any]:
    hub = hub_of(request)

    def work(s: Session) -> dict[str, Any]:
        partner = _partner(s, partner_id)
        cred = onboarding.record_certification(
            s, hub, partner, name=body.name, expires_at=body.expires_at, by=body.by, now=clock.now(hub)
        )
        return {"name": cred.name, "expires_at": cred.expires_at, "segment": partner.segment}

    return await run_in_threadpool(_in_tx, hub, work)


@router.get("/onboarding/overdue", summary="The overdue-onboarding queue: steps reminded and escalated, still open")
async def overdue(request: Request, admin: AdminDep) -> list[dict[str, Any]]:
    hub = hub_of(request)

    def rows() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return [
                {
                    "partner_id": p.id,
                    "partner_name": p.name,
                    "partner_manager": p.partner_manager,
                    "step": t.step,
                    "due_at": t.due_at,
                    "reminded_at": t.reminded_at,
                    "escalated_at": t.escalated_at,
                }
                for t, p in onboarding.overdue(session)
            ]

    return await run_in_threadpool(rows)


@router.get("/partners/{partner_id}/peers", summary="A partner's figures beside its segment's median")
async def partner_peers(request: Request, admin: AdminDep, partner_id: RowId) -> dict[str, Any]:
    hub = hub_of(request)

    def work() -> dict[str, Any]:
        with hub.sessions() as session:
            _partner(session, partner_id)
        return peers_dict(hub, partner_id)

    return await run_in_threadpool(work)


@router.get(
    "/partners/{partner_id}/health",
    summary="A partner's health score: the newest score and its parts, the last 30 days, the at-risk task",
)
async def partner_health(request: Request, admin: AdminDep, partner_id: RowId) -> dict[str, Any]:
    hub = hub_of(request)

    def work() -> dict[str, Any]:
        with hub.sessions() as session:
            _partner(session, partner_id)
            return health.latest(session, partner_id)

    return await run_in_threadpool(work)


@router.get(
    "/health/at-risk", summary="The at-risk queue: partners whose health score fell below the threshold, open tasks"
)
async def at_risk(request: Request, admin: AdminDep) -> list[dict[str, Any]]:
    hub = hub_of(request)

    def rows() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return [
                {
                    "partner_id": p.id,
                    "partner_name": p.name,
                    "partner_manager": p.partner_manager,
                    **health.task_dict(t),
                }
                for t, p in health.open_tasks(session)
            ]

    return await run_in_threadpool(rows)


@router.get("/kpis/lifecycle", summary="Lifecycle KPIs: time to onboard, time to first referral")
async def lifecycle_kpi(request: Request, admin: AdminDep, at: Moment | None = None) -> dict[str, Any]:
    hub = hub_of(request)

    def compute() -> dict[str, Any]:
        with hub.sessions() as session:
            moment: datetime = at or clock.now(hub)
            return lifecycle_kpis.compute(session, moment)

    return await run_in_threadpool(compute)
