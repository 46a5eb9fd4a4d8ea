"""The review queues (``/console/queues``): what the program engine parks for a person, a count
badge per queue, one page of a queue, and each row's decision (approve / decline / release…,
always with a reason) made through the domain function the admin API and the CLI call, audited
with the signed-in operator's name. Viewers see the queues; only admins decide.

The applications queue shows each confirmed application's eligibility facts (what the program's
``applications.eligibility`` checks, and whether it still passes under the file in force), the
duplicate and recommended marks; the onboarding queue's rows are completed on the partner's
onboarding (``hub.web.console_lifecycle``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.program import applications, clock, fraud, ledger, payouts, registrations, review_queues
from hub.program.errors import DomainError
from hub.program.mdf import workflow
from hub.program.partner_directory import payout_lines
from hub.program.referrals import review
from hub.web.console_common import PageParam, RowId, badges, decide, page_number, reason_of, refused, require_admin
from hub.web.render import page
from hub.web.visit import OperatorVisit, PageError, not_found, posted

router = APIRouter(include_in_schema=False)


@router.get("/console/queues")
def queues(visit: OperatorVisit) -> Response:
    with visit.hub.sessions() as session:
        counts = badges(session)
    return page(visit, "console/queues.html", badges=counts, queues=review_queues.QUEUES)


@router.get("/console/queues/{name}")
def queue(visit: OperatorVisit, name: str, page_: PageParam = None) -> Response:
    if name not in review_queues.QUEUES:
        raise not_found()
    number = page_number(page_)
    with visit.hub.sessions() as session:
        counts = badges(session)
        rows, more = review_queues.rows(session, name, page=number)
        lines = {}
        if name in ("payouts", "unknown"):
            lines = payout_lines(session, [r["record"].id for r in rows])
        mdf_files = {}
        if name == "mdf_claims":
            mdf_files = workflow.files_of(session, [r["record"].id for r in rows])
        ineligible = {}
        if name == "applications":
            ineligible = {
                r["record"].id: applications.eligibility(
                    visit.hub, {k: getattr(r["record"], k) for k in applications.FIELDS}
                )
                for r in rows
            }
        return page(
            visit,
            "console/queue.html",
            badges=counts,
            name=name,
            queue=review_queues.QUEUES[name],
            rows=rows,
            lines=lines,
            ineligible=ineligible,
            mdf_files=mdf_files,
            more=more,
            page_no=number,
        )


def _back(name: str) -> Response:
    return RedirectResponse(f"/console/queues/{name}?done=1", status_code=303)


@router.post("/console/queues/referrals/{tracking_id}/{verdict}")
async def decide_referral(request: Request, tracking_id: str, verdict: str) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    if verdict not in ("approve", "decline"):
        raise not_found()
    reason = reason_of(form)
    await run_in_threadpool(
        decide,
        visit,
        lambda s: review(s, visit.hub, tracking_id, approve=verdict == "approve", reason=reason, actor=actor),
    )
    return _back("referrals")


@router.post("/console/queues/registrations/{reg_id}/{verdict}")
async def decide_registration(request: Request, reg_id: RowId, verdict: str) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    if verdict not in ("approve", "decline"):
        raise not_found()
    reason = reason_of(form)
    await run_in_threadpool(
        decide,
        visit,
        lambda s: registrations.decide(
            s, visit.hub, reg_id, approve_it=verdict == "approve", actor=actor, reason=reason
        ),
    )
    return _back("registrations")


@router.post("/console/queues/applications/{application_id}/{verdict}")
async def decide_application(request: Request, application_id: RowId, verdict: str) -> Response:
    """Approve (the partner is created, mailed a sign-in link and starts onboarding) or decline
    (the applicant is told the reason): ``applications.decide``, as the admin API."""
    visit, form = await posted(request)
    actor = require_admin(visit)
    if verdict not in ("approve", "decline"):
        raise not_found()
    reason = reason_of(form)
    hub = visit.hub
    await run_in_threadpool(
        decide,
        visit,
        lambda s: applications.decide(
            s,
            hub,
            application_id,
            approve_it=verdict == "approve",
            actor=actor,
            reason=reason,
            now=clock.now(hub),
            signin_secret=visit.secret,
        ),
    )
    return _back("applications")


@router.get("/console/payouts/{payout_id}/lookup")
def lookup(visit: OperatorVisit, payout_id: RowId) -> Response:
    """A payout whose transfer outcome is unknown, looked up at the provider now (read only):
    the transfers found for it, so an admin settles it paid with the right transfer id, or
    failed when there is none."""
    with visit.hub.sessions() as session:
        try:
            payout, transfers = payouts.look_up(session, visit.hub, payout_id)
        except DomainError as exc:
            raise refused(exc) from None
        return page(
            visit,
            "console/lookup.html",
            badges=badges(session),
            p=payout,
            transfers=transfers,
            matching=[t for t in transfers or [] if t["matches"]],
        )


@router.post("/console/payouts/{payout_id}/{verdict}")
async def decide_payout(request: Request, payout_id: RowId, verdict: str) -> Response:
    """Approve or reject a payout in review; settle one (paid with its transfer id, or failed)
    or mark a manual one paid."""
    visit, form = await posted(request)
    actor = require_admin(visit)
    reason = reason_of(form)
    hub = visit.hub
    if verdict == "approve":
        work = lambda s: payouts.approve(s, hub, payout_id, actor=actor, reason=reason)
    elif verdict == "reject":
        work = lambda s: payouts.reject(s, hub, payout_id, actor=actor, reason=reason)
    elif verdict in ("paid", "failed"):
        transfer_id = (form.get("transfer_id") or "").strip() or None
        if transfer_id is not None and len(transfer_id) > 128:
            raise PageError(400, "The transfer id is too long")
        work = lambda s: payouts.settle(
            s, hub, payout_id, paid=verdict == "paid", actor=actor, transfer_id=transfer_id, reason=reason
        )
    else:
        raise not_found()
    await run_in_threadpool(decide, visit, work)
    back = form.get("back") or ""
    if back in ("money", "payouts", "unknown"):
        return RedirectResponse("/console/money?done=1" if back == "money" else f"/console/queues/{back}?done=1", 303)
    return _back("payouts")


@router.post("/console/ledger/{entry_id}/{verdict}")
async def decide_hold(request: Request, entry_id: RowId, verdict: str) -> Response:
    """Release a commission a fraud signal held, or cancel it."""
    visit, form = await posted(request)
    actor = require_admin(visit)
    reason = reason_of(form)
    now = clock.now(visit.hub)
    if verdict == "release":
        await run_in_threadpool(decide, visit, lambda s: fraud.release(s, entry_id, by=actor, reason=reason, now=now))
    elif verdict == "cancel":
        await run_in_threadpool(
            decide,
            visit,
            lambda s: ledger.override(
                s, entry_id, actor=actor, reason=reason, status="cancelled", amount_minor=None, now=now
            ),
        )
    else:
        raise not_found()
    return _back("holds")
