"""The lifecycle's pages: the public application form (``/apply``) with its confirmation step
(``/apply/confirm``), and the portal's onboarding checklist with the agreement acceptance
(``/portal/onboarding``).

- ``GET /apply`` shows the form; ``POST /apply`` goes through ``applications.submit`` like
  ``POST /api/v1/applications``: an ineligible application is shown the reason and stores
  nothing; otherwise "check your mailbox". Every submission counts against the client address
  (``hub.runtime.throttle``, ``applications``); a filled-in honeypot (``website_url``, hidden)
  is answered the same and stores nothing.
- ``GET /apply/confirm?token=…`` only shows a button (mail scanners fetch links); ``POST
  /apply/confirm`` confirms: the application enters the review queue. A bad, used or expired
  token is refused (400) and counted under the failed-attempt throttle.
- ``GET /portal/onboarding``: the partner's steps, due dates and who completed them, the
  agreement in force and the recorded acceptance; ``POST /portal/onboarding/agreement`` accepts
  it as the signed-in user (version, time and user recorded); ``POST
  /portal/onboarding/steps/{step}`` completes a task step.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from connectors.bounds import is_mail_address
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import applications, clock, conditions, onboarding
from hub.program.errors import DomainError, Ineligible, NotFound
from hub.program.models import Partner
from hub.runtime.throttle import Throttle, client_address
from hub.web.render import page
from hub.web.visit import AnyVisit, PageError, PartnerVisit, Visit, not_found, posted

router = APIRouter(include_in_schema=False)

FIELDS = (
    "contact_name",
    "email",
    "company_name",
    "website",
    "country",
    "company_size",
    "industry",
    "specialization",
    "partner_type",
    "message",
)
LABELS = {
    "contact_name": "Your name",
    "email": "Your work e-mail",
    "company_name": "Company",
    "website": "Company website",
    "country": "Country (2-letter code)",
    "company_size": "Company size",
    "industry": "Industry",
    "specialization": "Specialization",
    "partner_type": "Partner type",
    "message": "Anything we should know",
    "website_url": "Leave this empty",
}
LIMITS = {
    "contact_name": 200,
    "email": 320,
    "company_name": 200,
    "website": 500,
    "country": 2,
    "company_size": 32,
    "industry": 64,
    "specialization": 64,
    "partner_type": 32,
    "message": 4000,
}


def _throttle(visit: Visit, name: str = "applications") -> Throttle:
    s = visit.hub.settings
    return Throttle(
        visit.hub.redis, prefix=s.queue_prefix, limit=s.throttle_failures, window_s=s.throttle_window_s, name=name
    )


def _form(visit: Visit, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    return page(visit, "apply.html", status=status, values=values, errors=errors, labels=LABELS, sent=False)


@router.get("/apply")
def apply_form(visit: AnyVisit) -> Response:
    return _form(visit, dict.fromkeys(FIELDS, ""), {})


def _check(values: dict[str, str]) -> dict[str, str]:
    errors = {}
    for name in ("contact_name", "email", "company_name"):
        if not values[name]:
            errors[name] = "Required."
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            errors[name] = f"At most {limit} characters."
    if values["email"] and not is_mail_address(values["email"].strip().lower()):
        errors["email"] = "Not an e-mail address."
    if values["website"] and not values["website"].startswith(("http://", "https://")):
        errors["website"] = "Give the full address, like https://example.com."
    if values["country"] and not (len(values["country"]) == 2 and values["country"].isalpha()):
        errors["country"] = "Two letters, like DE."
    return errors


@router.post("/apply")
async def apply_submit(request: Request) -> Response:
    visit, form = await posted(request, signed_in=False)
    values = {name: (form.get(name) or "").strip() for name in FIELDS}
    throttle = _throttle(visit)
    key = f"addr:{client_address(request.scope, visit.hub.settings.trusted_proxies)}"
    wait = throttle.check(key)
    if wait:
        raise PageError(429, "Too many applications", f"Try again in {wait} seconds.")
    errors = _check(values)
    if errors:
        return _form(visit, values, errors, status=422)
    throttle.fail(key)  # every submission counts
    if form.get("website_url"):  # the honeypot: a bot filled the hidden field
        return page(visit, "apply.html", values=values, errors={}, labels=LABELS, sent=True)

    def work() -> None:
        hub = visit.hub
        with unit_of_work(hub) as session:
            applications.submit(session, hub, {k: (v or None) for k, v in values.items()}, clock.now(hub))

    try:
        await run_in_threadpool(work)
    except Ineligible as exc:
        return _form(visit, values, {"form": str(exc)}, status=422)
    except DomainError as exc:
        return _form(visit, values, {"form": str(exc)}, status=409)
    return page(visit, "apply.html", values=values, errors={}, labels=LABELS, sent=True)


@router.get("/apply/confirm")
def confirm_form(visit: AnyVisit, token: str = "") -> Response:
    return page(visit, "apply_confirm.html", token=token[:200], confirmed=False)


@router.post("/apply/confirm")
async def confirm_submit(request: Request) -> Response:
    visit, form = await posted(request, signed_in=False)
    auth = _throttle(visit, "auth")
    key = f"addr:{client_address(request.scope, visit.hub.settings.trusted_proxies)}"
    wait = auth.check(key)
    if wait:
        raise PageError(429, "Too many attempts", f"Try again in {wait} seconds.")
    token = (form.get("token") or "")[:200]

    def work() -> None:
        hub = visit.hub
        with unit_of_work(hub) as session:
            applications.confirm(session, hub, token, clock.now(hub))

    try:
        await run_in_threadpool(work)
    except NotFound:
        auth.fail(key)
        raise PageError(
            400,
            "This confirmation link cannot be used",
            "It was used already or has expired. Send the application again to get a new link.",
        ) from None
    return page(visit, "apply_confirm.html", token="", confirmed=True)


# -- the portal's onboarding checklist ------------------------------------------------------------


def _partner(session: Session, visit: Visit) -> Partner:
    assert visit.person is not None and visit.person.partner_id is not None
    partner = session.get(Partner, visit.person.partner_id)
    if partner is None:
        raise not_found()
    return partner


def _checklist(visit: Visit, status: int = 200, error: str | None = None) -> Response:
    hub = visit.hub
    with hub.sessions() as session:
        partner = _partner(session, visit)
        now = clock.now(hub)
        data = onboarding.checklist(session, hub, partner, now)
        facts = conditions.facts_for(session, partner, now)
        gated = {name.replace("_", " "): unmet for name, unmet in conditions.benefits(hub.program, facts).items()}
    return page(visit, "portal/onboarding.html", status=status, data=data, error=error, benefits=gated)


@router.get("/portal/onboarding")
def checklist(visit: PartnerVisit) -> Response:
    return _checklist(visit)


async def _posted_partner(request: Request) -> tuple[Visit, dict[str, str]]:
    visit, form = await posted(request)
    if visit.person is None or visit.person.partner_id is None:
        raise not_found()
    return visit, form


@router.post("/portal/onboarding/agreement")
async def accept(request: Request) -> Response:
    visit, form = await _posted_partner(request)
    if form.get("accept") != "yes":
        return _checklist(visit, 422, "Tick the box to accept the agreement.")
    assert visit.person is not None
    email = visit.person.email

    def work() -> None:
        hub = visit.hub
        with unit_of_work(hub) as session:
            onboarding.accept_agreement(
                session,
                hub,
                _partner(session, visit),
                by=email,
                now=clock.now(hub),
                version=(form.get("version") or "")[:32],
            )

    try:
        await run_in_threadpool(work)
    except DomainError as exc:
        return _checklist(visit, 409, str(exc))
    response = RedirectResponse("/portal/onboarding", status_code=303)
    visit.apply_cookies(response)
    return response


@router.post("/portal/onboarding/steps/{step}")
async def complete(request: Request, step: str) -> Response:
    visit, _ = await _posted_partner(request)
    assert visit.person is not None
    email = visit.person.email

    def work() -> None:
        hub = visit.hub
        with unit_of_work(hub) as session:
            onboarding.complete(
                session,
                hub,
                _partner(session, visit),
                step[:64],
                by=email,
                now=clock.now(hub),
                as_partner=True,
            )

    try:
        await run_in_threadpool(work)
    except NotFound:
        raise not_found() from None
    except DomainError as exc:
        return _checklist(visit, 409, str(exc))
    response = RedirectResponse("/portal/onboarding", status_code=303)
    visit.apply_cookies(response)
    return response
