"""The partner API's program part (``/api/v1``): deal registrations and the partner's
statement (ledger entries, balances per currency, payouts). A partner sees only its own."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from hub.api.auth import PartnerDep, hub_of
from hub.api.errors import replayed
from hub.api.inputs import JsonRoute, Moment, RowId
from hub.mapping.money import from_minor_units
from hub.pipeline.unit_of_work import owe_inbox, unit_of_work
from hub.program import clock, registrations
from hub.program.commissions import balances
from hub.program.models import DealRegistration, LedgerEntry, Partner, Payout, Referral
from hub.program.submission import ReferralIn, once_per_key
from hub.runtime.context import Hub

router = APIRouter(prefix="/api/v1", tags=["partner"], route_class=JsonRoute)


class RegistrationIn(ReferralIn):
    """Same fields as a referral; the company name is matched after normalization."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegistrationOut(BaseModel):
    id: int
    status: str = Field(description="received | held_for_review | approved | declined")
    reason: str | None
    company_name: str
    company_domain: str | None
    contact_email: str | None
    tracking_id: str | None = Field(description="The referral (and CRM deal) an approved registration became.")
    protected_until: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, r: DealRegistration, tracking_id: str | None) -> RegistrationOut:
        return cls(
            id=r.id,
            status=r.status,
            reason=r.reason,
            company_name=r.company_name,
            company_domain=r.company_domain,
            contact_email=r.contact_email,
            tracking_id=tracking_id,
            protected_until=r.protected_until,
            created_at=r.created_at,
        )


def _out(session: Any, r: DealRegistration) -> RegistrationOut:
    tracking = session.get(Referral, r.referral_id).tracking_id if r.referral_id else None
    return RegistrationOut.of(r, tracking)


def _register(hub: Hub, partner: Partner, body: RegistrationIn, key: str | None) -> tuple[RegistrationOut, bool]:
    def attempt() -> tuple[RegistrationOut, bool]:
        with unit_of_work(hub) as session:
            row, created, event_id = registrations.submit(
                session,
                session.merge(partner),
                body.model_dump(),
                idempotency_key=key,
                at=clock.now(hub),
                requires=hub.program.registrations.requires,
            )
            if event_id is not None:
                owe_inbox(session, [event_id])
            return _out(session, row), created

    return once_per_key(attempt, key)


@router.post(
    "/deal-registrations",
    response_model=RegistrationOut,
    status_code=202,
    responses=replayed(RegistrationOut, "registration"),
    summary="Register a deal",
    description="Answered at once; the check against the CRM and other partners' registrations "
    "follows (poll GET /api/v1/deal-registrations/{id}). Idempotency-Key makes a retry safe.",
)
async def post_registration(
    request: Request,
    response: Response,
    partner: PartnerDep,
    body: RegistrationIn,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> RegistrationOut:
    out, created = await run_in_threadpool(_register, hub_of(request), partner, body, idempotency_key)
    if not created:
        response.status_code = 200
    return out


def _registrations(hub: Hub, partner_id: int, reg_id: int | None = None) -> list[RegistrationOut]:
    with hub.sessions() as session:
        query = (
            select(DealRegistration)
            .where(DealRegistration.partner_id == partner_id)
            .order_by(DealRegistration.id.desc())
        )
        if reg_id is not None:
            query = query.where(DealRegistration.id == reg_id)
        return [_out(session, r) for r in session.scalars(query)]


@router.get("/deal-registrations", response_model=list[RegistrationOut], summary="Your deal registrations")
async def list_registrations(request: Request, partner: PartnerDep) -> list[RegistrationOut]:
    return await run_in_threadpool(_registrations, hub_of(request), partner.id)


@router.get("/deal-registrations/{reg_id}", response_model=RegistrationOut, summary="One of your registrations")
async def get_registration(request: Request, partner: PartnerDep, reg_id: RowId) -> RegistrationOut:
    found = await run_in_threadpool(_registrations, hub_of(request), partner.id, reg_id)
    if not found:
        raise HTTPException(404, "no such registration")
    return found[0]


class StatementLine(BaseModel):
    id: int
    kind: str
    source: str | None
    amount_minor: int
    amount: str
    currency: str
    status: str
    rule: str | None
    payout_id: int | None
    held_for_review: str | None = Field(
        default=None, description="Why a person reviews this commission before it is paid (a fraud signal)."
    )
    approve_after: datetime | None
    expected_payment_date: date | None
    created_at: datetime


class PayoutLine(BaseModel):
    id: int
    period: str
    amount_minor: int
    amount: str
    currency: str
    status: str
    reason: str | None
    paid_at: datetime | None


class Statement(BaseModel):
    partner_id: int
    tier: str | None
    balances: dict[str, dict[str, int]] = Field(description="Per currency, minor units: pending, approved, paid.")
    entries: list[StatementLine]
    payouts: list[PayoutLine]


def statement(hub: Hub, partner_id: int, since: datetime | None = None) -> Statement:
    with hub.sessions() as session:
        partner = session.get(Partner, partner_id)
        assert partner is not None
        query = select(LedgerEntry).where(LedgerEntry.partner_id == partner_id).order_by(LedgerEntry.id)
        if since is not None:
            query = query.where(LedgerEntry.created_at >= since)
        entries = [
            StatementLine(
                id=e.id,
                kind=e.kind,
                source=e.source_key,
                amount_minor=e.amount_minor,
                amount=from_minor_units(e.amount_minor, e.currency),
                currency=e.currency,
                status=e.status,
                rule=(e.rule_snapshot or {}).get("rule_name"),
                payout_id=e.payout_id,
                held_for_review=e.hold_reason if e.hold_released_at is None else None,
                approve_after=e.approve_after,
                expected_payment_date=e.expected_payment_date,
                created_at=e.created_at,
            )
            for e in session.scalars(query)
        ]
        paid = [
            PayoutLine(
                id=p.id,
                period=p.period,
                amount_minor=p.amount_minor,
                amount=from_minor_units(p.amount_minor, p.currency),
                currency=p.currency,
                status=p.status,
                reason=p.reason,
                paid_at=p.paid_at,
            )
            for p in session.scalars(select(Payout).where(Payout.partner_id == partner_id).order_by(Payout.id))
        ]
        return Statement(
            partner_id=partner_id,
            tier=partner.tier,
            balances=balances(session, partner_id),
            entries=entries,
            payouts=paid,
        )


@router.get("/statement", response_model=Statement, summary="Your statement: ledger, balances, payouts")
async def get_statement(request: Request, partner: PartnerDep, since: Moment | None = None) -> Statement:
    return await run_in_threadpool(statement, hub_of(request), partner.id, since)
