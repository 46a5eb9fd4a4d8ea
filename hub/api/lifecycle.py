"""The lifecycle's public and partner routes (``/api/v1``): applying to the program (no key)
and confirming the application's e-mail address; a partner's onboarding checklist, accepting
the partner agreement, its peer comparison and the portal features it may use.

``POST /api/v1/applications`` takes no key: every submission and every failed confirmation
counts against the client's address in the failed-attempt throttle (``hub.runtime.throttle``,
``applications`` and ``auth`` windows), so the form cannot be used to flood anyone. A filled-in
honeypot field (``website_url``, hidden on the page) is answered like a success and stores
nothing; so is a second application from an address whose confirmation link still works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from connectors.bounds import MAIL_ADDRESS_PATTERN, MAX_MAIL_ADDRESS
from hub.api.auth import PartnerDep, hub_of, throttle_of
from hub.api.inputs import JsonRoute
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import applications, clock, conditions, onboarding, segments
from hub.program.models import Partner
from hub.runtime.context import Hub
from hub.runtime.throttle import Throttle, client_address

router = APIRouter(prefix="/api/v1", tags=["lifecycle"], route_class=JsonRoute)


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(max_length=MAX_MAIL_ADDRESS, pattern=MAIL_ADDRESS_PATTERN, examples=["jane@acme.com"])
    contact_name: str = Field(min_length=1, max_length=200)
    company_name: str = Field(min_length=1, max_length=200)
    company_domain: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
    website: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    company_size: str | None = Field(default=None, max_length=32)
    industry: str | None = Field(default=None, max_length=64)
    specialization: str | None = Field(default=None, max_length=64)
    partner_type: str | None = Field(default=None, max_length=32)
    message: str | None = Field(default=None, max_length=4000)
    website_url: str | None = Field(
        default=None, max_length=500, description="Leave empty (a field hidden from people: filled only by bots)."
    )


class Accepted(BaseModel):
    status: str = Field(description="confirmation_sent: check your mailbox and open the link.")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=16, max_length=128)


class Confirmed(BaseModel):
    status: str = Field(description="pending: the application waits for a person's decision.")


def applications_throttle(hub: Hub) -> Throttle:
    s = hub.settings
    return Throttle(
        hub.redis, prefix=s.queue_prefix, limit=s.throttle_failures, window_s=s.throttle_window_s, name="applications"
    )


def _address(request: Request, hub: Hub) -> str:
    return f"addr:{client_address(request.scope, hub.settings.trusted_proxies)}"


@router.post(
    "/applications",
    response_model=Accepted,
    status_code=202,
    summary="Apply to the partner program (no key)",
    description="Answered 202 when a confirmation link was e-mailed (or nothing needed to be); 422 names the "
    "eligibility condition that is not met; 429 when this address applied too often.",
)
async def post_application(request: Request, body: ApplicationIn) -> Accepted:
    hub = hub_of(request)
    key = _address(request, hub)
    throttle = applications_throttle(hub)
    wait = throttle.check(key)
    if wait is not None:
        raise HTTPException(429, "too many applications from this address; try again later", {"Retry-After": str(wait)})
    throttle.fail(key)  # every submission counts: a rate, not only failures
    if body.website_url:
        return Accepted(status="confirmation_sent")

    def work() -> None:
        with unit_of_work(hub) as session:
            applications.submit(session, hub, body.model_dump(exclude={"website_url"}), clock.now(hub))

    await run_in_threadpool(work)
    return Accepted(status="confirmation_sent")


@router.post(
    "/applications/confirm",
    response_model=Confirmed,
    summary="Confirm an application's e-mail address with the link's token (no key)",
)
async def confirm_application(request: Request, body: ConfirmIn) -> Confirmed:
    hub = hub_of(request)

    def work() -> str:
        with unit_of_work(hub) as session:
            return applications.confirm(session, hub, body.token, clock.now(hub)).status

    try:
        status = await run_in_threadpool(work)
    except Exception:
        throttle_of(hub).fail(_address(request, hub))  # a wrong token is a failed attempt
        raise
    return Confirmed(status=status)


class StepOut(BaseModel):
    step: str
    kind: str
    module: str | None
    due_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    overdue: bool


class AgreementOut(BaseModel):
    version: str | None
    accepted_at: datetime | None
    accepted_by: str | None
    expires_at: datetime | None


class OnboardingOut(BaseModel):
    complete: bool
    onboarded_at: datetime | None
    agreement_in_force: str
    agreement: AgreementOut | None
    steps: list[StepOut]


def onboarding_view(hub: Hub, partner_id: int) -> OnboardingOut:
    with hub.sessions() as session:
        partner = session.get(Partner, partner_id)
        assert partner is not None
        return OnboardingOut.model_validate(onboarding.checklist(session, hub, partner, clock.now(hub)))


@router.get("/onboarding", response_model=OnboardingOut, summary="Your onboarding checklist")
async def get_onboarding(request: Request, partner: PartnerDep) -> OnboardingOut:
    return await run_in_threadpool(onboarding_view, hub_of(request), partner.id)


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=32, description="The version shown (agreement_in_force).")
    accepted_by: str = Field(min_length=1, max_length=320, description="The person accepting (name or e-mail).")


@router.post(
    "/onboarding/agreement",
    response_model=OnboardingOut,
    summary="Accept the partner agreement in force (the version, time and person are recorded)",
)
async def accept_agreement(request: Request, partner: PartnerDep, body: AcceptIn) -> OnboardingOut:
    hub = hub_of(request)

    def work() -> None:
        with unit_of_work(hub) as session:
            onboarding.accept_agreement(
                session, hub, session.merge(partner), by=body.accepted_by, now=clock.now(hub), version=body.version
            )

    await run_in_threadpool(work)
    return await run_in_threadpool(onboarding_view, hub, partner.id)


@router.post(
    "/onboarding/steps/{step}/complete",
    response_model=OnboardingOut,
    summary="Complete one of your task steps (training, payout and referral steps complete by themselves)",
)
async def complete_step(request: Request, partner: PartnerDep, step: str) -> OnboardingOut:
    hub = hub_of(request)
    if len(step) > 64:
        raise HTTPException(404, "no such step")

    def work() -> None:
        with unit_of_work(hub) as session:
            p = session.merge(partner)
            onboarding.complete(session, hub, p, step, by=p.email, now=clock.now(hub), as_partner=True)

    await run_in_threadpool(work)
    return await run_in_threadpool(onboarding_view, hub, partner.id)


def peers_dict(hub: Hub, partner_id: int) -> dict[str, Any]:
    with hub.sessions() as session:
        partner = session.get(Partner, partner_id)
        assert partner is not None
        return segments.peers_dict(session, partner)


@router.get("/peers", summary="Your figures beside your segment's median (only with 5+ other partners in it)")
async def get_peers(request: Request, partner: PartnerDep) -> dict[str, Any]:
    return await run_in_threadpool(peers_dict, hub_of(request), partner.id)


def features_dict(hub: Hub, partner_id: int) -> dict[str, Any]:
    with hub.sessions() as session:
        partner = session.get(Partner, partner_id)
        assert partner is not None
        facts = conditions.facts_for(session, partner, clock.now(hub))
        return {
            name: {"open": not missing, "unmet": missing}
            for name, missing in conditions.benefits(hub.program, facts).items()
        }


@router.get("/features", summary="The benefits and portal features you may use, and what is missing for the others")
async def get_features(request: Request, partner: PartnerDep) -> dict[str, Any]:
    return await run_in_threadpool(features_dict, hub_of(request), partner.id)
