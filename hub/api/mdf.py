"""MDF / co-marketing funds in the API (``hub.program.mdf``).

Partners (``/api/v1/mdf``, the partner's API key): the budget left this period and their
requests with claims; a request (JSON, ``Idempotency-Key``; 403 naming each unmet part of
``mdf.requires``, 422 past the budget); a claim against an approved request as
``multipart/form-data`` (``amount``, ``description``, one or more ``files``): the guard
(``hub.api.auth``) authenticated the key before reading the body, which it read under the claim
limit (``mdf.uploads``: files at their cap plus the form; more is 413 before anything is kept);
a proof file as an attachment (``nosniff``), the partner's own only (404 otherwise).

Admins (``/api/v1/admin/mdf``): the requests and claims by status, each decision by a named
person with a reason (audited), any proof file, and the ``mdf_budget_used`` figure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.api.auth import AdminDep, PartnerDep, hub_of
from hub.api.inputs import JsonRoute, Moment, RowId
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import clock
from hub.program.errors import NotFound
from hub.program.mdf import budget, proofs, workflow
from hub.program.models import MdfProof, Partner
from hub.runtime import multipart
from hub.runtime.context import Hub

T = TypeVar("T")

router = APIRouter(prefix="/api/v1/mdf", tags=["mdf"], route_class=JsonRoute)
admin_router = APIRouter(prefix="/api/v1/admin/mdf", tags=["admin"], route_class=JsonRoute)

#: the claim route: its body is multipart and may be as large as ``mdf.uploads`` allows
CLAIMS_PATH = "/api/v1/mdf/requests/"


def body_limit(hub: Hub, method: str, path: str) -> int | None:
    """The body limit of an MDF claim upload (None: not one; the API's own limit applies)."""
    if method == "POST" and path.startswith(CLAIMS_PATH) and path.endswith("/claims"):
        return max(hub.settings.api_body_limit, hub.program.mdf.body_limit())
    return None


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    activity: str = Field(min_length=1, max_length=200, examples=["Webinar with Acme, March"])
    description: str | None = Field(default=None, max_length=4000)
    amount: str = Field(min_length=1, max_length=32, description='Decimal text, e.g. "1500.00" (never a float).')
    currency: str = Field(min_length=3, max_length=3, examples=["USD"])


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
    by: str = Field(min_length=1, max_length=200, description="The person deciding (kept and audited).")


def _in_tx(hub: Hub, work: Callable[[Session], T]) -> T:
    with unit_of_work(hub) as session:
        return work(session)


def overview(hub: Hub, partner_id: int) -> dict[str, Any]:
    with hub.sessions() as session:
        partner = session.get(Partner, partner_id)
        if partner is None:
            raise NotFound("no such partner")
        return workflow.overview(session, hub.program, partner, clock.now(hub))


@router.get("", summary="Your MDF budget this period, whether you may request funds, and your requests")
async def get_mdf(request: Request, partner: PartnerDep) -> dict[str, Any]:
    return await run_in_threadpool(overview, hub_of(request), partner.id)


@router.post(
    "/requests",
    status_code=201,
    summary="Request co-marketing funds (a person decides every request)",
    description="403 names each unmet part of the program's condition; 422 when the amount passes your budget "
    "left this period. Send an Idempotency-Key header to make a retry safe.",
)
async def post_request(
    request: Request,
    response: Response,
    partner: PartnerDep,
    body: RequestIn,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> dict[str, Any]:
    hub = hub_of(request)

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        current = session.get(Partner, partner.id)  # this transaction's own copy (never the guard's, stale)
        if current is None:
            raise NotFound("no such partner")
        row, created = workflow.submit_request(
            session,
            hub.program,
            current,
            body.model_dump(),
            idempotency_key=idempotency_key,
            by=partner.email,
            now=clock.now(hub),
        )
        return workflow.request_dict(row), created

    out, created = await run_in_threadpool(_in_tx, hub, work)
    if not created:
        response.status_code = 200
    return out


@router.get("/requests/{request_id}", summary="One of your MDF requests, with its claims")
async def get_request(request: Request, partner: PartnerDep, request_id: RowId) -> dict[str, Any]:
    hub = hub_of(request)

    def read() -> dict[str, Any]:
        with hub.sessions() as session:
            for row in workflow.requests_of(session, partner.id):
                if row["id"] == request_id:
                    return row
        raise NotFound("no such MDF request")

    return await run_in_threadpool(read)


def read_claim_form(body: bytes, content_type: str | None) -> tuple[dict[str, Any], list[proofs.Upload]]:
    try:
        form = multipart.parse(body, content_type)
    except multipart.MultipartError as exc:
        raise HTTPException(400, str(exc)) from None
    amount = (form.fields.get("amount") or "").strip()
    if not amount or len(amount) > 32:
        raise HTTPException(422, "give the amount claimed (decimal text, e.g. 1200.00)")
    description = (form.fields.get("description") or "").strip()[:4000] or None
    files = [proofs.Upload(filename, data) for name, filename, data in form.files if name == "files"]
    return {"amount": amount, "description": description}, files


@router.post(
    "/requests/{request_id}/claims",
    status_code=201,
    summary="Claim against an approved request, with proof of performance (multipart/form-data)",
    description="Fields: amount (decimal text, in the request's currency), description, files (one or more PDF, "
    "PNG or JPEG, checked by content). 422 when the claim passes what the request has left, or a file is refused "
    "(type, size, your storage quota); 413 when the body is larger than the upload limits allow.",
)
async def post_claim(
    request: Request,
    response: Response,
    partner: PartnerDep,
    request_id: RowId,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> dict[str, Any]:
    hub = hub_of(request)
    fields, files = read_claim_form(await request.body(), request.headers.get("content-type"))

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        claim, created = workflow.submit_claim(
            session,
            hub.program,
            partner.id,
            request_id,
            fields,
            files,
            idempotency_key=idempotency_key,
            by=partner.email,
            now=clock.now(hub),
        )
        return workflow.claim_dict(claim, workflow.files_of(session, [claim.id]).get(claim.id, [])), created

    out, created = await run_in_threadpool(_in_tx, hub, work)
    if not created:
        response.status_code = 200
    return out


def attachment(proof: MdfProof) -> Response:
    """A proof file as a download only: its checked type, ``attachment``, ``nosniff``."""
    return Response(
        proof.content,
        media_type=proof.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{proofs.download_name(proof)}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def _proof(hub: Hub, name: str, partner_id: int | None) -> MdfProof:
    with hub.sessions() as session:
        found = proofs.for_partner(session, name, partner_id)
        if found is None:
            raise NotFound("no such file")
        session.expunge(found)
        return found


@router.get("/proofs/{name}", summary="One of your proof files (as a download)")
async def get_proof(request: Request, partner: PartnerDep, name: str) -> Response:
    return attachment(await run_in_threadpool(_proof, hub_of(request), name, partner.id))


# -- admins --------------------------------------------------------------------------------------


@admin_router.get("/requests", summary="MDF requests by status (default: pending, waiting for a person)")
async def admin_requests(
    request: Request, admin: AdminDep, status: Literal["pending", "approved", "rejected"] = "pending"
) -> list[dict[str, Any]]:
    hub = hub_of(request)

    def read() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return workflow.requests_of(session, status=status)

    return await run_in_threadpool(read)


@admin_router.post("/requests/{request_id}/{verdict}", summary="Approve or reject an MDF request (audited)")
async def decide_request(
    request: Request, admin: AdminDep, request_id: RowId, verdict: Literal["approve", "reject"], body: Decision
) -> dict[str, Any]:
    hub = hub_of(request)
    out: dict[str, Any] = await run_in_threadpool(
        _in_tx,
        hub,
        lambda s: workflow.request_dict(
            workflow.decide_request(
                s,
                request_id,
                approve_it=verdict == "approve",
                actor=body.by,
                reason=body.reason,
                now=clock.now(hub),
                mail_settings=hub.settings.sendgrid,
            )
        ),
    )
    return out


@admin_router.get("/claims", summary="MDF claims by status (default: pending), with their proof files")
async def admin_claims(
    request: Request, admin: AdminDep, status: Literal["pending", "approved", "rejected"] = "pending"
) -> list[dict[str, Any]]:
    hub = hub_of(request)

    def read() -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return workflow.claims_of(session, status=status)

    return await run_in_threadpool(read)


@admin_router.post(
    "/claims/{claim_id}/{verdict}",
    summary="Approve (a payable ledger entry for the next payout run) or reject an MDF claim (audited)",
)
async def decide_claim(
    request: Request, admin: AdminDep, claim_id: RowId, verdict: Literal["approve", "reject"], body: Decision
) -> dict[str, Any]:
    hub = hub_of(request)

    def work(session: Session) -> dict[str, Any]:
        claim = workflow.decide_claim(
            session,
            hub.program,
            claim_id,
            approve_it=verdict == "approve",
            actor=body.by,
            reason=body.reason,
            now=clock.now(hub),
            mail_settings=hub.settings.sendgrid,
        )
        return workflow.claim_dict(claim)

    out: dict[str, Any] = await run_in_threadpool(_in_tx, hub, work)
    return out


@admin_router.get("/proofs/{name}", summary="A proof file (as a download)")
async def admin_proof(request: Request, admin: AdminDep, name: str) -> Response:
    return attachment(await run_in_threadpool(_proof, hub_of(request), name, None))


@admin_router.get("/budget-used", summary="MDF budget used in the quarter or year containing `at`, per currency")
async def budget_used(
    request: Request,
    admin: AdminDep,
    period: Literal["quarter", "year"] = "quarter",
    at: Moment | None = None,
) -> dict[str, Any]:
    hub = hub_of(request)
    when: datetime = at or clock.now(hub)

    def read() -> dict[str, Any]:
        with hub.sessions() as session:
            return budget.mdf_budget_used(session, when, period)

    return await run_in_threadpool(read)
