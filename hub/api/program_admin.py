"""The admin API's program part (``/api/v1/admin``): the review queues (payouts, deal
registrations), KPIs, and the escape valves — an admin can override every automated decision
(a ledger entry's amount or status, a payout, a tier, a registration, a re-engagement sequence),
each with an audit entry (who, when, before, after). Money decisions name the person who makes
them in the body's ``by`` (a payout's approval, a ledger override or adjustment, a hold's
release) until the console's signed-in operators exist; the admin token says only that the
caller may decide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.api.auth import AdminDep, hub_of
from hub.api.inputs import Int64, JsonRoute, Moment, RowId
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import clock, fraud, kpis, ledger, payouts, reengagement, registrations, tiers
from hub.program.errors import NotFound
from hub.program.models import DealRegistration, Partner, Payout, ReengagementSequence
from hub.runtime.context import Hub

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], route_class=JsonRoute)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class Decision(Reason):
    """A money decision by a named person (until the console's signed-in operators exist)."""

    by: str = Field(
        min_length=1,
        max_length=200,
        description="The person deciding (kept on the record and in the audit log); "
        "a payout is never approved by the person who made a manual ledger change in it.",
    )


class SettleIn(Reason):
    outcome: Literal["paid", "failed"]
    transfer_id: str | None = Field(default=None, max_length=128, description="The provider's transfer id, if paid.")


class EntryOverride(Decision):
    status: Literal["pending", "approved", "cancelled", "reversed"] | None = None
    amount_minor: Int64 | None = Field(
        default=None, description="New amount (pending or approved entries not in a payout)."
    )


class AdjustmentIn(Decision):
    partner_id: RowId
    amount_minor: Int64 = Field(description="Signed minor units: negative takes money back.")
    currency: str = Field(min_length=3, max_length=3)


class ProgramDiffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program: str = Field(min_length=1, max_length=200_000, description="The edited program file (YAML text).")
    since: str = Field(default="90d", max_length=16, description="The period, back from now: 30d, 12w, 90d.")
    all_sources: bool = Field(default=False, description="List unchanged sources too.")


class TierIn(Reason):
    tier: str | None = Field(max_length=64)


def _in_tx(hub: Hub, work: Callable[[Session], Any]) -> Any:
    """``work`` in one unit of work; a domain refusal answers from ``hub.api.errors``."""
    with unit_of_work(hub) as session:
        return work(session)


@router.get("/kpis", summary="Program KPIs (JSON)")
async def get_kpis(
    request: Request, admin: AdminDep, at: Moment | None = None, period: kpis.Period = "month"
) -> dict[str, Any]:
    hub = hub_of(request)

    def compute() -> dict[str, Any]:
        with hub.sessions() as session:
            return kpis.compute(session, at or clock.now(hub), period=period)

    return await run_in_threadpool(compute)


@router.get("/payouts", summary="Payouts by status (default: waiting for review)")
async def list_payouts(request: Request, admin: AdminDep, status: str = "review") -> list[dict[str, Any]]:
    hub = hub_of(request)

    def rows() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return [
                payouts.payout_dict(p)
                for p in session.scalars(select(Payout).where(Payout.status == status).order_by(Payout.id))
            ]

    return await run_in_threadpool(rows)


@router.post(
    "/payouts/{payout_id}/approve",
    summary="Approve a payout waiting for review, as the named person `by` (audited; 409 when it holds a "
    "commission held for review, or `by` made a manual ledger change in it)",
)
async def approve_payout(request: Request, admin: AdminDep, payout_id: RowId, body: Decision) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: payouts.payout_dict(payouts.approve(s, hub, payout_id, actor=body.by, reason=body.reason)),
    )


@router.post("/payouts/{payout_id}/reject", summary="Reject a payout; its entries return to the balance (audited)")
async def reject_payout(request: Request, admin: AdminDep, payout_id: RowId, body: Reason) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx, hub, lambda s: payouts.payout_dict(payouts.reject(s, hub, payout_id, actor=admin, reason=body.reason))
    )


@router.post(
    "/payouts/{payout_id}/settle",
    summary="Settle a payout whose transfer outcome is unknown, or mark a manual payout paid (audited)",
)
async def settle_payout(request: Request, admin: AdminDep, payout_id: RowId, body: SettleIn) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: payouts.payout_dict(
            payouts.settle(
                s,
                hub,
                payout_id,
                paid=body.outcome == "paid",
                actor=admin,
                transfer_id=body.transfer_id,
                reason=body.reason,
            )
        ),
    )


@router.post("/ledger/{entry_id}", summary="Override a ledger entry's amount or status (audited)")
async def override_entry(request: Request, admin: AdminDep, entry_id: RowId, body: EntryOverride) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: ledger.override(
            s,
            entry_id,
            actor=payouts.approver_name(body.by),
            reason=body.reason,
            status=body.status,
            amount_minor=body.amount_minor,
            now=clock.now(hub),
        ),
    )


@router.post("/ledger", status_code=201, summary="Add a manual adjustment (audited)")
async def add_adjustment(request: Request, admin: AdminDep, body: AdjustmentIn) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: ledger.adjust(
            s,
            body.partner_id,
            body.amount_minor,
            body.currency,
            actor=payouts.approver_name(body.by),
            reason=body.reason,
            now=clock.now(hub),
        ),
    )


@router.get("/holds", summary="Commissions held for review by a fraud signal, with the reason")
async def list_holds(request: Request, admin: AdminDep) -> list[dict[str, Any]]:
    hub = hub_of(request)

    def rows() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return [ledger.entry_dict(e) for e in fraud.held(session)]

    return await run_in_threadpool(rows)


@router.post(
    "/ledger/{entry_id}/release",
    summary="Release a commission held for review, as the named person `by` (audited)",
)
async def release_hold(request: Request, admin: AdminDep, entry_id: RowId, body: Decision) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: ledger.entry_dict(
            fraud.release(s, entry_id, by=payouts.approver_name(body.by), reason=body.reason, now=clock.now(hub))
        ),
    )


@router.post("/partners/{partner_id}/tier", summary="Set a partner's tier (audited; the partner is told)")
async def set_tier(request: Request, admin: AdminDep, partner_id: RowId, body: TierIn) -> dict[str, Any]:
    hub = hub_of(request)

    def work(session: Session) -> dict[str, Any]:
        partner = session.get(Partner, partner_id, with_for_update=True)
        if partner is None:
            raise NotFound("no such partner")
        changed = tiers.set_tier(
            session,
            partner,
            body.tier,
            actor=admin,
            reason=body.reason,
            mail_settings=hub.settings.sendgrid,
            at=clock.now(hub),
        )
        return {"partner_id": partner.id, "tier": partner.tier, "changed": changed}

    return await run_in_threadpool(_in_tx, hub, work)


@router.post("/partners/{partner_id}/reengagement/stop", summary="Stop a partner's re-engagement sequence (audited)")
async def stop_sequence(request: Request, admin: AdminDep, partner_id: RowId, body: Reason) -> dict[str, Any]:
    hub = hub_of(request)

    def work(session: Session) -> dict[str, Any]:
        sequence = session.scalars(
            select(ReengagementSequence)
            .where(ReengagementSequence.partner_id == partner_id, ReengagementSequence.state == "active")
            .with_for_update()
        ).first()
        if sequence is None:
            raise NotFound("no active re-engagement sequence for this partner")
        reengagement.stop(session, sequence, reason=body.reason, actor=admin)
        return {"partner_id": partner_id, "sequence_id": sequence.id, "state": sequence.state, "step": sequence.step}

    return await run_in_threadpool(_in_tx, hub, work)


def registration_dict(r: DealRegistration) -> dict[str, Any]:
    return {
        "id": r.id,
        "partner_id": r.partner_id,
        "company_name": r.company_name,
        "company_domain": r.company_domain,
        "contact_email": r.contact_email,
        "status": r.status,
        "reason": r.reason,
        "referral_id": r.referral_id,
        "protected_until": r.protected_until,
        "created_at": r.created_at,
    }


@router.get("/deal-registrations", summary="Deal registrations by status (default: held for review)")
async def list_registrations(
    request: Request, admin: AdminDep, status: str = "held_for_review"
) -> list[dict[str, Any]]:
    hub = hub_of(request)

    def rows() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return [
                registration_dict(r)
                for r in session.scalars(
                    select(DealRegistration).where(DealRegistration.status == status).order_by(DealRegistration.id)
                )
            ]

    return await run_in_threadpool(rows)


@router.post("/deal-registrations/{reg_id}/approve", summary="Approve a held (or declined) registration (audited)")
async def approve_registration(request: Request, admin: AdminDep, reg_id: RowId, body: Reason) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: registration_dict(
            registrations.decide(s, hub, reg_id, approve_it=True, actor=admin, reason=body.reason)
        ),
    )


@router.post("/deal-registrations/{reg_id}/decline", summary="Decline a held registration (audited)")
async def decline_registration(request: Request, admin: AdminDep, reg_id: RowId, body: Reason) -> dict[str, Any]:
    hub = hub_of(request)
    return await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: registration_dict(
            registrations.decide(s, hub, reg_id, approve_it=False, actor=admin, reason=body.reason)
        ),
    )


@router.post(
    "/program/diff",
    summary="What an edited program file would have paid in a period, per partner and currency (writes nothing)",
)
async def program_diff(request: Request, admin: AdminDep, body: ProgramDiffIn) -> dict[str, Any]:
    from hub.mapping import MappingFileError
    from hub.mapping.shadow import parse_since
    from hub.program.errors import InvalidInput
    from hub.program.program_diff import diff
    from hub.program.program_file import parse_program_text

    hub = hub_of(request)
    until = clock.now(hub)
    try:
        since = until - parse_since(body.since)
    except (ValueError, OverflowError):
        raise InvalidInput(f"since: {body.since!r} is not a period like 30d, 12w or 90d") from None
    try:
        edited = parse_program_text(body.program)
    except MappingFileError as exc:
        raise InvalidInput("; ".join(exc.errors)) from None

    def compute() -> dict[str, Any]:
        with hub.sessions() as session:
            result = diff(session, edited, since=since, until=until)
            session.rollback()
        return result.as_dict(all_sources=body.all_sources)

    return await run_in_threadpool(compute)
