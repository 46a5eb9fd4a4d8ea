"""Money (``/console/money``): payouts by status with their lines, the CSV export of approved
payouts for manual payment (the same rows as ``partnerhub payouts export``), settling a payout
(paid with its transfer id / failed, or a manual payout marked paid: ``payouts.settle``), ledger
adjustments (``ledger.adjust``) and the attribution override (``reattribution.reattribute``) —
each the domain call the CLI and the admin API make, audited with the operator's name."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.mapping.money import MoneyError, exponent, parse_amount
from hub.program import clock, exports, ledger
from hub.program.models import Partner, Payout
from hub.program.partner_directory import payout_lines
from hub.program.reattribution import reattribute
from hub.program.states import PayoutStatus
from hub.web.console_common import PageParam, badges, choice, decide, page_number, reason_of, require_admin
from hub.web.render import page
from hub.web.visit import OperatorVisit, PageError, posted

router = APIRouter(include_in_schema=False)
PAGE = 50
STATUSES = tuple(str(s) for s in PayoutStatus)


@router.get("/console/money")
def money(visit: OperatorVisit, status: str | None = None, page_: PageParam = None) -> Response:
    chosen = choice(status, STATUSES, "status") or "approved"
    number = page_number(page_)
    with visit.hub.sessions() as session:
        found = session.execute(
            select(Payout, Partner.name)
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.status == chosen)
            .order_by(Payout.id.desc())
            .offset((number - 1) * PAGE)
            .limit(PAGE + 1)
        ).all()
        rows = found[:PAGE]
        return page(
            visit,
            "console/money.html",
            badges=badges(session),
            shown_status=chosen,
            statuses=STATUSES,
            rows=rows,
            lines=payout_lines(session, [p.id for p, _ in rows]),
            more=len(found) > PAGE,
            page_no=number,
        )


@router.get("/console/money/payouts.csv")
def payouts_csv(visit: OperatorVisit, status: str | None = None) -> Response:
    chosen = choice(status, STATUSES, "status") or "approved"
    with visit.hub.sessions() as session:
        body = exports.payouts_csv(session, chosen)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="payouts-{chosen}.csv"'},
    )


def amount_of(value: str | None, currency: str) -> int:
    """A decimal amount typed by a person, in minor units; more decimals than the currency has
    are refused, not rounded."""
    try:
        places = exponent(currency)
        amount = parse_amount((value or "").strip())
    except MoneyError as exc:
        raise PageError(400, "That amount cannot be used", str(exc)) from None
    minor = amount.scaleb(places)
    if minor != minor.to_integral_value() or abs(minor) >= Decimal(2) ** 62:
        raise PageError(400, "That amount cannot be used", f"{currency} has {places} decimal places")
    return int(minor)


def _row_id(value: str | None, name: str, *, optional: bool = False) -> int | None:
    value = (value or "").strip()
    if not value and optional:
        return None
    if not value.isdigit() or len(value) > 18:
        raise PageError(400, f"{name}: a record number")
    return int(value)


@router.post("/console/money/adjust")
async def adjust(request: Request) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    reason = reason_of(form)
    currency = (form.get("currency") or "").strip().upper()
    amount = amount_of(form.get("amount"), currency)
    partner_id = _row_id(form.get("partner_id"), "partner")
    assert partner_id is not None
    now = clock.now(visit.hub)
    await run_in_threadpool(
        decide,
        visit,
        lambda s: ledger.adjust(s, partner_id, amount, currency, actor=actor, reason=reason, now=now),
    )
    return RedirectResponse(f"/console/partners/{partner_id}?done=1", status_code=303)


@router.post("/console/money/attribution")
async def attribution(request: Request) -> Response:
    visit, form = await posted(request)
    actor = require_admin(visit)
    reason = reason_of(form)
    deal_id = _row_id(form.get("deal_id"), "deal")
    assert deal_id is not None
    partner_id = _row_id(form.get("partner_id"), "partner", optional=True)
    tracking = (form.get("referral_tracking_id") or "").strip() or None
    if tracking is not None and len(tracking) > 32:
        raise PageError(400, "That tracking id is too long")
    await run_in_threadpool(
        decide,
        visit,
        lambda s: reattribute(
            s, visit.hub, deal_id, partner_id=partner_id, referral_tracking_id=tracking, actor=actor, reason=reason
        ),
    )
    return RedirectResponse("/console/money?done=1", status_code=303)
