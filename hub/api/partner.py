"""The partner API (``/api/v1``), authenticated by the partner's API key. A partner only ever
sees its own referrals and ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from hub.api.auth import PartnerDep, hub_of
from hub.api.errors import replayed
from hub.api.inputs import JsonRoute
from hub.mapping.money import from_minor_units
from hub.pipeline.unit_of_work import owe_inbox, unit_of_work
from hub.program.commissions import balances
from hub.program.models import LedgerEntry, Partner, Referral
from hub.program.referrals import submit
from hub.program.submission import ReferralIn, once_per_key
from hub.runtime.context import Hub

router = APIRouter(prefix="/api/v1", tags=["partner"], route_class=JsonRoute)


class ReferralOut(BaseModel):
    tracking_id: str
    status: str
    status_reason: str | None
    company_name: str
    company_domain: str | None
    contact_name: str | None
    contact_email: str | None
    notes: str | None
    history: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: Referral) -> ReferralOut:
        return cls(
            tracking_id=r.tracking_id,
            status=r.status,
            status_reason=r.status_reason,
            company_name=r.company_name,
            company_domain=r.company_domain,
            contact_name=r.contact_name,
            contact_email=r.contact_email,
            notes=r.notes,
            history=r.history or [],
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class LedgerEntryOut(BaseModel):
    kind: str
    amount_minor: int
    amount: str
    currency: str
    status: str
    expected_payment_date: date | None
    created_at: datetime


class CommissionsOut(BaseModel):
    entries: list[LedgerEntryOut]
    balances: dict[str, dict[str, int]] = Field(description="Per currency, minor units: pending, approved, paid.")


def _submit(hub: Hub, partner: Partner, body: ReferralIn, key: str | None) -> tuple[ReferralOut, bool]:
    def attempt() -> tuple[ReferralOut, bool]:
        with unit_of_work(hub) as session:
            result = submit(session, session.merge(partner), body.model_dump(), idempotency_key=key)
            if result.event_id is not None:
                owe_inbox(session, [result.event_id])
            return ReferralOut.of(result.referral), result.created

    return once_per_key(attempt, key)


@router.post(
    "/referrals",
    response_model=ReferralOut,
    status_code=202,
    responses=replayed(ReferralOut, "referral"),
    summary="Submit a referral",
    description="Answered at once with a tracking id; the conflict check and the CRM deal follow. "
    "Send an Idempotency-Key header to make a retry safe.",
)
async def post_referral(
    request: Request,
    response: Response,
    partner: PartnerDep,
    body: ReferralIn,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> ReferralOut:
    out, created = await run_in_threadpool(_submit, hub_of(request), partner, body, idempotency_key)
    if not created:
        response.status_code = 200
    return out


def _referrals(hub: Hub, partner_id: int, tracking_id: str | None = None) -> list[ReferralOut]:
    with hub.sessions() as session:
        query = select(Referral).where(Referral.partner_id == partner_id).order_by(Referral.id.desc())
        if tracking_id:
            query = query.where(Referral.tracking_id == tracking_id)
        return [ReferralOut.of(r) for r in session.scalars(query)]


@router.get("/referrals", response_model=list[ReferralOut], summary="Your referrals, newest first")
async def list_referrals(request: Request, partner: PartnerDep) -> list[ReferralOut]:
    return await run_in_threadpool(_referrals, hub_of(request), partner.id)


@router.get("/referrals/{tracking_id}", response_model=ReferralOut, summary="One of your referrals")
async def get_referral(request: Request, partner: PartnerDep, tracking_id: str) -> ReferralOut:
    found = await run_in_threadpool(_referrals, hub_of(request), partner.id, tracking_id)
    if not found:
        raise HTTPException(404, "no such referral")
    return found[0]


def _commissions(hub: Hub, partner_id: int) -> CommissionsOut:
    with hub.sessions() as session:
        entries = [
            LedgerEntryOut(
                kind=e.kind,
                amount_minor=e.amount_minor,
                amount=from_minor_units(e.amount_minor, e.currency),
                currency=e.currency,
                status=e.status,
                expected_payment_date=e.expected_payment_date,
                created_at=e.created_at,
            )
            for e in session.scalars(
                select(LedgerEntry).where(LedgerEntry.partner_id == partner_id).order_by(LedgerEntry.id)
            )
        ]
        return CommissionsOut(entries=entries, balances=balances(session, partner_id))


@router.get("/commissions", response_model=CommissionsOut, summary="Your ledger and balances")
async def get_commissions(request: Request, partner: PartnerDep) -> CommissionsOut:
    return await run_in_threadpool(_commissions, hub_of(request), partner.id)
