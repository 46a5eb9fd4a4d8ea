"""The portal's MDF page (``/portal/mdf``): the budget left this period, the request form (open
only to partners meeting ``mdf.requires``; otherwise the unmet parts are shown and a request is
refused with them, 403), the partner's requests with their status and claims, and for an
approved request the claim form with its proof files (``multipart/form-data``: the visit is
authenticated before the body is read, and the body is read under the upload limits: 413).
The same domain calls as ``/api/v1/mdf`` (``hub.program.mdf.workflow``); proof files are
served as attachments, to the partner's own users only."""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.pipeline.unit_of_work import unit_of_work
from hub.program import clock
from hub.program.errors import ConditionUnmet, DomainError, InvalidInput
from hub.program.mdf import proofs, workflow
from hub.program.models import MdfProof, Partner
from hub.program.submission import once_per_key
from hub.web.render import page
from hub.web.visit import PartnerVisit, Visit, not_found, posted, posted_files

router = APIRouter(include_in_schema=False)

STATUS_OF = {ConditionUnmet: 403, InvalidInput: 422}


def _partner_id(visit: Visit) -> int:
    assert visit.person is not None and visit.person.partner_id is not None
    return visit.person.partner_id


def _status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 409


def _page(
    visit: Visit, *, status: int = 200, error: str | None = None, values: dict[str, str] | None = None
) -> Response:
    hub = visit.hub
    with hub.sessions() as session:
        partner = session.get(Partner, _partner_id(visit))
        if partner is None:
            raise not_found()
        data = workflow.overview(session, hub.program, partner, clock.now(hub))
    return page(
        visit,
        "portal/mdf.html",
        status=status,
        mdf=data,
        error=error,
        values=values or {"activity": "", "description": "", "amount": "", "currency": ""},
        idem=secrets.token_urlsafe(16),
    )


@router.get("/portal/mdf")
def mdf_page(visit: PartnerVisit) -> Response:
    return _page(visit)


@router.post("/portal/mdf/requests")
async def request_submit(request: Request) -> Response:
    visit, form = await posted(request)
    if visit.person is None or visit.person.partner_id is None:
        raise not_found()
    values = {k: (form.get(k) or "").strip() for k in ("activity", "description", "amount", "currency")}
    if not values["activity"] or len(values["activity"]) > 200 or len(values["description"]) > 4000:
        return await run_in_threadpool(
            lambda: _page(visit, status=422, error="Name the activity (at most 200 characters).", values=values)
        )
    if not values["amount"] or len(values["amount"]) > 32 or len(values["currency"]) != 3:
        return await run_in_threadpool(
            lambda: _page(visit, status=422, error="Give the amount and its currency.", values=values)
        )
    key = f"portal:{(form.get('idem') or '')[:64] or secrets.token_urlsafe(16)}"
    by = visit.person.email

    def attempt() -> int:
        with unit_of_work(visit.hub) as session:
            partner = session.get(Partner, _partner_id(visit))
            if partner is None:
                raise not_found()
            row, _ = workflow.submit_request(
                session,
                visit.hub.program,
                partner,
                {**values, "description": values["description"] or None},
                idempotency_key=key,
                by=by,
                now=clock.now(visit.hub),
            )
            return row.id

    try:
        await run_in_threadpool(once_per_key, attempt, key)
    except DomainError as exc:
        message, status = str(exc), _status(exc)
        return await run_in_threadpool(lambda: _page(visit, status=status, error=message, values=values))
    return _see_other(visit, "/portal/mdf?requested=1")


def _see_other(visit: Visit, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    visit.apply_cookies(response)
    return response


@router.post("/portal/mdf/requests/{request_id}/claims")
async def claim_submit(request: Request, request_id: str) -> Response:
    hub = request.app.state.hub
    visit, fields, files = await posted_files(request, hub.program.mdf.body_limit())
    if not request_id.isdigit() or len(request_id) > 18:
        raise not_found()
    amount = (fields.get("amount") or "").strip()[:32]
    description = (fields.get("description") or "").strip()[:4000] or None
    uploads = [proofs.Upload(filename, data) for name, filename, data in files if name == "files"]
    assert visit.person is not None
    by = visit.person.email
    key = f"portal:{(fields.get('idem') or '')[:64] or secrets.token_urlsafe(16)}"

    def attempt() -> int:
        with unit_of_work(visit.hub) as session:
            claim, _ = workflow.submit_claim(
                session,
                visit.hub.program,
                _partner_id(visit),
                int(request_id),
                {"amount": amount or "0", "description": description},
                uploads,
                idempotency_key=key,
                by=by,
                now=clock.now(visit.hub),
            )
            return claim.id

    try:
        await run_in_threadpool(once_per_key, attempt, key)
    except DomainError as exc:
        message = f"Claim on request #{request_id}: {exc}"
        status = 404 if "no MDF request" in str(exc) else _status(exc)
        return await run_in_threadpool(lambda: _page(visit, status=status, error=message))
    return _see_other(visit, "/portal/mdf?claimed=1")


def proof_download(proof: MdfProof) -> Response:
    return Response(
        proof.content,
        media_type=proof.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{proofs.download_name(proof)}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def find_proof(visit: Visit, name: str, partner_id: int | None) -> MdfProof:
    with visit.hub.sessions() as session:
        found = proofs.for_partner(session, name, partner_id)
        if found is None:
            raise not_found()
        session.expunge(found)
        return found


@router.get("/portal/mdf/proofs/{name}")
def proof(visit: PartnerVisit, name: str) -> Response:
    return proof_download(find_proof(visit, name, _partner_id(visit)))
