"""Partners (``/console/partners``): the list with search and filters (tier, segment, region,
activity), a partner's detail (referrals, ledger, payouts with lines, e-mails and their status,
audit trail), and the operator's changes — add, edit, tier, activate / pause / deactivate, a
new sign-in link for the partner's address — each a domain call, audited with the operator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.pipeline.store import utcnow
from hub.program import access, clock, onboarding, partner_directory, partners, segments, tiers
from hub.program.email.templates import templates_for
from hub.program.errors import InvalidInput, NotFound
from hub.program.models import AuditEntry, Partner
from hub.web.console_common import PageParam, RowId, badges, choice, decide, page_number, reason_of, require_admin, text
from hub.web.render import page
from hub.web.visit import OperatorVisit, PageError, not_found, posted

router = APIRouter(include_in_schema=False)


@router.get("/console/partners")
def partner_list(
    visit: OperatorVisit,
    q: str | None = None,
    tier: str | None = None,
    segment: str | None = None,
    region: str | None = None,
    activity: str | None = None,
    page_: PageParam = None,
) -> Response:
    chosen = partner_directory.PartnerFilter(
        search=text(q, "search"),
        tier=text(tier, "tier", limit=64),
        segment=text(segment, "segment", limit=64),
        region=text(region, "region", limit=64),
        activity=choice(activity, partner_directory.ACTIVITIES, "activity"),
    )
    number = page_number(page_)
    with visit.hub.sessions() as session:
        rows, more = partner_directory.list_partners(session, chosen, now=clock.now(visit.hub), page=number)
        return page(
            visit,
            "console/partners.html",
            badges=badges(session),
            rows=rows,
            more=more,
            page_no=number,
            f=chosen,
            facets=partner_directory.facets(session),
            activities=partner_directory.ACTIVITIES,
        )


@router.get("/console/partners/{partner_id}")
def partner_page(visit: OperatorVisit, partner_id: RowId) -> Response:
    with visit.hub.sessions() as session:
        try:
            detail = partner_directory.partner_detail(session, partner_id)
        except NotFound:
            raise not_found() from None
        lifecycle = partner_directory.partner_lifecycle(session, visit.hub, detail.partner, clock.now(visit.hub))
        return page(
            visit,
            "console/partner.html",
            badges=badges(session),
            d=detail,
            p=detail.partner,
            statuses=partners.STATUSES,
            lc=lifecycle,
            min_peers=segments.MIN_PEERS,
        )


def _fields(form: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in partners.EDITABLE:
        if name in form:
            value = form[name]
            if len(value) > 320:
                raise PageError(400, f"{name} is too long")
            out[name] = value
    return out


@router.post("/console/partners")
async def partner_add(request: Request) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    fields = _fields(form)
    name, email = (fields.get("name") or "").strip(), (fields.get("email") or "").strip()
    if not name or "@" not in email:
        raise PageError(400, "A partner needs a name and an e-mail address")
    tier = (form.get("tier") or "").strip() or None

    def work(session: Any) -> int:
        made = partners.add_partner(
            session,
            name=name[:200],
            email=email,
            region=(fields.get("region") or "").strip() or None,
            segment=(fields.get("segment") or "").strip() or None,
            tier=tier,
            partner_manager=(fields.get("partner_manager") or "").strip() or None,
        )
        if form.get("onboard") == "1":
            onboarding.admit(session, visit.hub, made.partner, clock.now(visit.hub))
        session.add(
            AuditEntry(
                actor=actor,
                action="partner.add",
                subject=f"partner:{made.partner.id}",
                before=None,
                after={
                    "name": made.partner.name,
                    "email": made.partner.email,
                    "tier": tier,
                    "onboarding": form.get("onboard") == "1",
                },
                at=utcnow(),
            )
        )
        return made.partner.id

    try:
        partner_id = await run_in_threadpool(decide, visit, work)
    except IntegrityError:
        raise PageError(409, "Another partner has this address") from None
    return RedirectResponse(f"/console/partners/{partner_id}?done=added", status_code=303)


def _locked(session: Session, partner_id: RowId) -> Partner:
    partner = session.get(Partner, partner_id, with_for_update=True)
    if partner is None:
        raise NotFound("no such partner")
    return partner


@router.post("/console/partners/{partner_id}/edit")
async def partner_edit(request: Request, partner_id: RowId) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    reason = reason_of(form)
    fields = _fields(form)
    tier = form.get("tier")
    if tier is not None and len(tier) > 64:
        raise PageError(400, "tier is too long")
    hub = visit.hub

    def work(session: Any) -> None:
        partner = _locked(session, partner_id)
        partners.edit(session, partner, fields, actor=actor, reason=reason)
        if tier is not None and (tier.strip() or None) != partner.tier:
            tiers.set_tier(
                session,
                partner,
                tier.strip() or None,
                actor=actor,
                reason=reason,
                mail_settings=hub.settings.sendgrid,
                at=clock.now(hub),
            )

    await run_in_threadpool(decide, visit, work)
    return RedirectResponse(f"/console/partners/{partner_id}?done=saved", status_code=303)


@router.post("/console/partners/{partner_id}/status")
async def partner_status(request: Request, partner_id: RowId) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    reason = reason_of(form)
    status = form.get("status") or ""
    if status not in partners.STATUSES:
        raise PageError(400, "Unknown status")
    await run_in_threadpool(
        decide, visit, lambda s: partners.set_status(s, _locked(s, partner_id), status, actor=actor, reason=reason)
    )
    return RedirectResponse(f"/console/partners/{partner_id}?done=status", status_code=303)


@router.post("/console/partners/{partner_id}/signin-link")
async def partner_link(request: Request, partner_id: RowId) -> Response:
    """A new one-time sign-in link, mailed to the partner's own address (never shown here)."""
    visit, _ = await posted(request)
    actor = require_admin(visit)
    hub = visit.hub

    def work(session: Any) -> None:
        partner = session.get(Partner, partner_id)
        if partner is None:
            raise NotFound("no such partner")
        person = access.find_by_email(session, partner.email)
        if person is None:
            raise InvalidInput("this partner is not active, or its address cannot sign in")
        access.send_link(
            session,
            visit.secret,
            person,
            now=clock.now(hub),
            templates=templates_for(hub.settings.templates_dir),
            mail_settings=hub.settings.sendgrid,
        )
        session.add(
            AuditEntry(
                actor=actor,
                action="partner.signin_link",
                subject=f"partner:{partner_id}",
                before=None,
                after={"to": "partner address"},
                at=utcnow(),
            )
        )

    await run_in_threadpool(decide, visit, work)
    return RedirectResponse(f"/console/partners/{partner_id}?done=link", status_code=303)
