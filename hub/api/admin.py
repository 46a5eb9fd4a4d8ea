"""The admin API (``/api/v1/admin``), behind the admin token: the decisions automation leaves to
people — held referrals, attribution overrides — each recorded in the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.api.auth import AdminDep, hub_of
from hub.api.inputs import JsonRoute, RowId
from hub.api.partner import ReferralOut
from hub.pipeline.unit_of_work import unit_of_work
from hub.program.models import Referral
from hub.program.referrals import review
from hub.runtime.context import Hub

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], route_class=JsonRoute)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class AttributionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: RowId | None = Field(description="The partner the deal belongs to; null: unattributed.")
    referral_tracking_id: str | None = None
    reason: str = Field(min_length=1, max_length=2000)


def _held(hub: Hub, status: str) -> list[ReferralOut]:
    with hub.sessions() as session:
        return [
            ReferralOut.of(r)
            for r in session.scalars(select(Referral).where(Referral.status == status).order_by(Referral.id))
        ]


@router.get("/referrals", response_model=list[ReferralOut], summary="Referrals by status (default: held for review)")
async def list_referrals(request: Request, admin: AdminDep, status: str = "held_for_review") -> list[ReferralOut]:
    return await run_in_threadpool(_held, hub_of(request), status)


def _decide(hub: Hub, tracking_id: str, approve: bool, reason: str, actor: str) -> ReferralOut:
    with unit_of_work(hub) as session:
        return _decide_in(session, hub, tracking_id, approve, reason, actor)


def _decide_in(session: Session, hub: Hub, tracking_id: str, approve: bool, reason: str, actor: str) -> ReferralOut:
    return ReferralOut.of(review(session, hub, tracking_id, approve=approve, reason=reason, actor=actor))


@router.post("/referrals/{tracking_id}/approve", response_model=ReferralOut, summary="Approve a held referral")
async def approve(request: Request, admin: AdminDep, tracking_id: str, body: Decision) -> ReferralOut:
    return await run_in_threadpool(_decide, hub_of(request), tracking_id, True, body.reason, admin)


@router.post("/referrals/{tracking_id}/decline", response_model=ReferralOut, summary="Decline a held referral")
async def decline_referral(request: Request, admin: AdminDep, tracking_id: str, body: Decision) -> ReferralOut:
    return await run_in_threadpool(_decide, hub_of(request), tracking_id, False, body.reason, admin)


def _override(hub: Hub, deal_id: int, body: AttributionIn, actor: str) -> dict[str, object]:
    from hub.program.reattribution import reattribute

    with unit_of_work(hub) as session:
        return reattribute(
            session,
            hub,
            deal_id,
            partner_id=body.partner_id,
            referral_tracking_id=body.referral_tracking_id,
            actor=actor,
            reason=body.reason,
        )


@router.post(
    "/deals/{deal_id}/attribution",
    summary="Override a deal's attribution (audited); its commissions and revenue move with it, both partners told",
)
async def set_attribution(request: Request, admin: AdminDep, deal_id: RowId, body: AttributionIn) -> dict[str, object]:
    return await run_in_threadpool(_override, hub_of(request), deal_id, body, admin)


class StripeAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stripe_account_id: str | None = Field(description="The partner's Stripe Connect account (acct_…); null unlinks.")


def _link(hub: Hub, partner_id: int, body: StripeAccountIn, actor: str) -> dict[str, object]:
    from hub.program.payments import link_partner_account

    return link_partner_account(hub, partner_id, body.stripe_account_id, actor=actor)


@router.put("/partners/{partner_id}/stripe-account", summary="Link a partner to their Stripe Connect account (audited)")
async def set_stripe_account(
    request: Request, admin: AdminDep, partner_id: RowId, body: StripeAccountIn
) -> dict[str, object]:
    return await run_in_threadpool(_link, hub_of(request), partner_id, body, admin)
