"""The console's MDF decisions: the review queues ``mdf_requests`` and ``mdf_claims``
(``/console/queues/...``, ``hub.program.review_queues``) carry an approve / reject form with a
required reason; the decision is ``hub.program.mdf.workflow.decide_request`` /
``decide_claim`` (the admin API's), audited with the signed-in admin's name. An approved claim
is a payable ledger entry for the next payout run. Operators download a claim's proof files
(``/console/mdf/proofs/<name>``, as attachments)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.program import clock
from hub.program.mdf import workflow
from hub.web.console_common import RowId, decide, reason_of, require_admin
from hub.web.portal_mdf import find_proof, proof_download
from hub.web.visit import OperatorVisit, not_found, posted

router = APIRouter(include_in_schema=False)


@router.post("/console/queues/mdf_requests/{request_id}/{verdict}")
async def decide_request(request: Request, request_id: RowId, verdict: str) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    if verdict not in ("approve", "reject"):
        raise not_found()
    reason = reason_of(form)
    now = clock.now(visit.hub)
    await run_in_threadpool(
        decide,
        visit,
        lambda s: workflow.decide_request(
            s,
            request_id,
            approve_it=verdict == "approve",
            actor=actor,
            reason=reason,
            now=now,
            mail_settings=visit.hub.settings.sendgrid,
        ),
    )
    return RedirectResponse("/console/queues/mdf_requests?done=1", status_code=303)


@router.post("/console/queues/mdf_claims/{claim_id}/{verdict}")
async def decide_claim(request: Request, claim_id: RowId, verdict: str) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    if verdict not in ("approve", "reject"):
        raise not_found()
    reason = reason_of(form)
    hub = visit.hub
    now = clock.now(hub)
    await run_in_threadpool(
        decide,
        visit,
        lambda s: workflow.decide_claim(
            s,
            hub.program,
            claim_id,
            approve_it=verdict == "approve",
            actor=actor,
            reason=reason,
            now=now,
            mail_settings=hub.settings.sendgrid,
        ),
    )
    return RedirectResponse("/console/queues/mdf_claims?done=1", status_code=303)


@router.get("/console/mdf/proofs/{name}")
def proof(visit: OperatorVisit, name: str) -> Response:
    return proof_download(find_proof(visit, name, None))
