"""The partner portal (``/portal``): what a partner company's users see and do.

Every page reads through ``hub.program.portal`` with the signed-in user's partner id, so another
partner's referral, registration or payout is simply not found (404). Forms go through the same
domain calls as the partner API: a referral through ``referrals.submit`` (``POST
/api/v1/referrals``), a deal registration through ``registrations.submit``, each with an
idempotency key made when the form was shown, so a form sent twice makes one record.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hub.pipeline.unit_of_work import owe_inbox, unit_of_work
from hub.program import access, clock, partners, portal, referrals, registrations
from hub.program.email.preferences import choose
from hub.program.errors import ConditionUnmet, DomainError, IdempotencyConflict
from hub.program.models import Partner
from hub.program.submission import ReferralIn, once_per_key
from hub.web.render import fragment, page
from hub.web.visit import PageError, PartnerVisit, Visit, not_found, posted

T = TypeVar("T")

router = APIRouter(include_in_schema=False)

FIELDS = (
    "company_name", "company_domain", "company_country", "company_industry", "contact_name", "contact_email", "notes",
)  # fmt: skip
LABELS = {
    "company_name": "Company",
    "company_domain": "Company website domain",
    "company_country": "Company country (2-letter code)",
    "company_industry": "Company industry",
    "contact_name": "Contact name",
    "contact_email": "Contact e-mail",
    "notes": "Notes",
}


def _partner_id(visit: Visit) -> int:
    assert visit.person is not None and visit.person.partner_id is not None
    return visit.person.partner_id


async def _posted_partner(request: Request) -> tuple[Visit, dict[str, str]]:
    visit, form = await posted(request)
    if visit.person is None or visit.person.partner_id is None:
        raise not_found()
    return visit, form


# -- home ---------------------------------------------------------------------------------------


@router.get("/portal")
def home(visit: PartnerVisit) -> Response:
    hub = visit.hub
    with hub.sessions() as session:
        data = portal.home(session, _partner_id(visit), today=clock.now(hub).date())
        if data is None:
            raise not_found()
        return page(visit, "portal/home.html", home=data, partner=data.partner)


# -- referrals ----------------------------------------------------------------------------------


def _before(value: str) -> int | None:
    """The ``before`` of an "older" link: the id the next page starts below; empty: the newest."""
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise PageError(400, "Bad page link", "Open the list again from its first page.")
    return int(value)


@router.get("/portal/referrals")
def referral_list(visit: PartnerVisit, status: str = "", q: str = "", before: str = "") -> Response:
    statuses = portal.referral_statuses()
    chosen = status if status in statuses else ""
    after = _before(before)
    with visit.hub.sessions() as session:
        found = portal.referrals(session, _partner_id(visit), status=chosen or None, search=q or None, before=after)
        return page(
            visit,
            "portal/referrals.html",
            referrals=found.rows,
            older=found.older,
            paged=after is not None,
            statuses=statuses,
            chosen=chosen,
            q=q[:100],
        )


def _new_form(visit: Visit, template: str, **extra: Any) -> Response:
    values = dict.fromkeys(FIELDS, "")
    return page(
        visit, template, values=values, errors={}, idem=secrets.token_urlsafe(16), labels=LABELS, status=200, **extra
    )


@router.get("/portal/referrals/new")
def referral_form(visit: PartnerVisit) -> Response:
    return _new_form(visit, "portal/referral_new.html")


def _validate(form: dict[str, str]) -> tuple[ReferralIn | None, dict[str, str]]:
    values = {name: (form.get(name) or "").strip() for name in FIELDS}
    try:
        return ReferralIn(**{k: (v or None) for k, v in values.items()}), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = error.get("loc") or ()
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            if loc and str(loc[0]) in FIELDS:
                errors.setdefault(str(loc[0]), message)
            else:  # a rule over several fields: someone to reach
                errors.setdefault("contact_email", "Give the contact's e-mail or the company's domain.")
                errors.setdefault("company_domain", "Give the contact's e-mail or the company's domain.")
        return None, errors


async def _submit(
    request: Request,
    template: str,
    submit: Callable[[Visit, Session, Partner, dict[str, Any], str], tuple[T, int | None]],
    *,
    again: str,
    refused: tuple[type[DomainError], ...] = (),
) -> tuple[Visit, T] | Response:
    """A portal form posted to the domain path the API takes: validated (422 with the errors by
    the fields), submitted once per the form's idempotency key in a unit of work (``submit``
    returns what was made and the inbox event it owes), or the form again with why it was not:
    409 for the key sent with other values (``again`` says what to do), 403 for a ``refused``."""
    visit, form = await _posted_partner(request)
    body, errors = _validate(form)
    idem = (form.get("idem") or "")[:64] or secrets.token_urlsafe(16)
    values = {name: form.get(name) or "" for name in FIELDS}

    def again_with(status: int, errors: dict[str, str]) -> Response:
        return page(visit, template, status=status, values=values, errors=errors, idem=idem, labels=LABELS)

    if body is None:
        return again_with(422, errors)
    key = f"portal:{idem}"
    fields = body.model_dump()

    def attempt() -> T:
        with unit_of_work(visit.hub) as session:
            partner = session.get(Partner, _partner_id(visit))
            if partner is None:
                raise not_found()
            made, event_id = submit(visit, session, partner, fields, key)
            if event_id is not None:
                owe_inbox(session, [event_id])
            return made

    try:
        return visit, await run_in_threadpool(once_per_key, attempt, key)
    except IdempotencyConflict:
        return again_with(409, {"form": f"This form was already sent with other values. Open a new form to {again}."})
    except refused as exc:  # e.g. the program's condition for registering deals (named on the page)
        return again_with(403, {"form": str(exc)})


def _submit_referral(
    visit: Visit, session: Session, partner: Partner, fields: dict[str, Any], key: str
) -> tuple[str, int | None]:
    result = referrals.submit(session, partner, fields, idempotency_key=key)
    return result.referral.tracking_id, result.event_id


@router.post("/portal/referrals")
async def referral_submit(request: Request) -> Response:
    done = await _submit(request, "portal/referral_new.html", _submit_referral, again="submit another referral")
    if isinstance(done, Response):
        return done
    visit, tracking_id = done
    return _see_other(visit, f"/portal/referrals/{tracking_id}?submitted=1")


def _see_other(visit: Visit, to: str) -> Response:
    from starlette.responses import RedirectResponse

    response = RedirectResponse(to, status_code=303)
    visit.apply_cookies(response)
    return response


@router.get("/portal/referrals/{tracking_id}")
def referral_detail(visit: PartnerVisit, tracking_id: str, submitted: str = "") -> Response:
    with visit.hub.sessions() as session:
        found = portal.referral(session, _partner_id(visit), tracking_id)
        if found is None:
            raise not_found()
        return page(visit, "portal/referral.html", referral=found, submitted=bool(submitted))


@router.get("/portal/referrals/{tracking_id}/status")
def referral_status(visit: PartnerVisit, tracking_id: str) -> Response:
    """The status part of the referral's page, for the page's script to swap in."""
    with visit.hub.sessions() as session:
        found = portal.referral(session, _partner_id(visit), tracking_id)
        if found is None:
            raise not_found()
        return fragment("portal/_referral_status.html", referral=found)


# -- deal registrations ---------------------------------------------------------------------------


@router.get("/portal/registrations")
def registration_list(visit: PartnerVisit, before: str = "") -> Response:
    after = _before(before)
    with visit.hub.sessions() as session:
        found = portal.registrations(session, _partner_id(visit), before=after)
        return page(visit, "portal/registrations.html", rows=found.rows, older=found.older, paged=after is not None)


@router.get("/portal/registrations/new")
def registration_form(visit: PartnerVisit) -> Response:
    return _new_form(visit, "portal/registration_new.html")


def _submit_registration(
    visit: Visit, session: Session, partner: Partner, fields: dict[str, Any], key: str
) -> tuple[int, int | None]:
    hub = visit.hub
    row, _, event_id = registrations.submit(
        session,
        partner,
        fields,
        idempotency_key=key,
        at=clock.now(hub),
        requires=hub.program.registrations.requires,
    )
    return row.id, event_id


@router.post("/portal/registrations")
async def registration_submit(request: Request) -> Response:
    done = await _submit(
        request,
        "portal/registration_new.html",
        _submit_registration,
        again="register another deal",
        refused=(ConditionUnmet,),
    )
    if isinstance(done, Response):
        return done
    visit, reg_id = done
    return _see_other(visit, f"/portal/registrations/{reg_id}")


def _row_id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise not_found()
    return int(value)


@router.get("/portal/registrations/{reg_id}")
def registration_detail(visit: PartnerVisit, reg_id: str) -> Response:
    with visit.hub.sessions() as session:
        found = portal.registration(session, _partner_id(visit), _row_id(reg_id))
        if found is None:
            raise not_found()
        return page(visit, "portal/registration.html", registration=found[0], tracking_id=found[1])


@router.get("/portal/registrations/{reg_id}/status")
def registration_status(visit: PartnerVisit, reg_id: str) -> Response:
    with visit.hub.sessions() as session:
        found = portal.registration(session, _partner_id(visit), _row_id(reg_id))
        if found is None:
            raise not_found()
        return fragment("portal/_registration_status.html", registration=found[0], tracking_id=found[1])


# -- money --------------------------------------------------------------------------------------


@router.get("/portal/money")
def money(visit: PartnerVisit, before: str = "", payouts_before: str = "") -> Response:
    hub = visit.hub
    entries_after, payouts_after = _before(before), _before(payouts_before)
    with hub.sessions() as session:
        data = portal.home(session, _partner_id(visit), today=clock.now(hub).date())
        if data is None:
            raise not_found()
        return page(
            visit,
            "portal/money.html",
            home=data,
            entries=portal.entries(session, _partner_id(visit), before=entries_after),
            payouts=portal.payouts(session, _partner_id(visit), before=payouts_after),
            entries_paged=entries_after is not None,
            payouts_paged=payouts_after is not None,
            rule_of=portal.rule_of,
        )


@router.get("/portal/payouts/{payout_id}")
def payout_detail(visit: PartnerVisit, payout_id: str) -> Response:
    with visit.hub.sessions() as session:
        found = portal.payout(session, _partner_id(visit), _row_id(payout_id))
        if found is None:
            raise not_found()
        return page(visit, "portal/payout.html", payout=found[0], lines=found[1], rule_of=portal.rule_of)


@router.get("/portal/statement.csv")
def statement(visit: PartnerVisit) -> Response:
    with visit.hub.sessions() as session:
        body = portal.statement_csv(session, _partner_id(visit))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="statement.csv"'},
    )


# -- profile ------------------------------------------------------------------------------------


def _groups(visit: Visit) -> dict[int, list[str]]:
    """Unsubscribe group id -> the kinds of mail in it (``PARTNERHUB_SENDGRID__UNSUBSCRIBE_GROUPS``)."""
    groups: dict[int, list[str]] = {}
    for kind, group in visit.hub.settings.sendgrid.unsubscribe_groups.items():
        groups.setdefault(int(group), []).append(kind)
    return groups


def _profile(visit: Visit, *, status: int = 200, **extra: Any) -> Response:
    pid = _partner_id(visit)
    with visit.hub.sessions() as session:
        partner = session.get(Partner, pid)
        if partner is None:
            raise not_found()
        context: dict[str, Any] = {
            "partner": partner,
            "users": access.partner_users(session, pid),
            "groups": _groups(visit),
            "choices": portal.preferences(session, pid),
            "new_key": None,
            "message": None,
            "error": None,
            "invite_email": "",
        }
        context.update(extra)
        return page(visit, "portal/profile.html", status=status, **context)


@router.get("/portal/profile")
def profile(visit: PartnerVisit) -> Response:
    return _profile(visit)


@router.post("/portal/profile/users")
async def invite_user(request: Request) -> Response:
    visit, form = await _posted_partner(request)
    email = (form.get("email") or "").strip()[:320]
    name = (form.get("name") or "").strip()[:200] or None
    assert visit.person is not None
    inviter = visit.person.label

    def invite() -> tuple[str | None, str | None]:
        try:
            with unit_of_work(visit.hub) as session:
                user = access.add_partner_user(session, _partner_id(visit), email, name=name, invited_by=inviter)
                return user.email, None
        except DomainError as exc:
            return None, str(exc)

    added, refused = await run_in_threadpool(invite)
    if refused is not None:
        return await run_in_threadpool(lambda: _profile(visit, status=422, error=refused, invite_email=email))
    message = f"{added} can now sign in with their own address."
    return await run_in_threadpool(lambda: _profile(visit, message=message))


@router.post("/portal/profile/users/{user_id}/remove")
async def remove_user(request: Request, user_id: str) -> Response:
    visit, _ = await _posted_partner(request)
    assert visit.person is not None
    if not user_id.isdigit() or len(user_id) > 18:
        raise not_found()
    actor = visit.person.label
    if int(user_id) == visit.person.principal_id:
        return await run_in_threadpool(lambda: _profile(visit, status=422, error="You cannot remove yourself."))

    def remove() -> str:
        with unit_of_work(visit.hub) as session:
            return access.remove_partner_user(session, _partner_id(visit), int(user_id), actor=actor).email

    try:
        email = await run_in_threadpool(remove)
    except DomainError:
        raise not_found() from None
    return await run_in_threadpool(lambda: _profile(visit, message=f"{email} was removed; their sessions ended."))


@router.post("/portal/profile/preferences")
async def save_preferences(request: Request) -> Response:
    visit, form = await _posted_partner(request)
    groups = _groups(visit)
    assert visit.person is not None
    actor = visit.person.label

    def save() -> None:
        with unit_of_work(visit.hub) as session:
            partner = session.get(Partner, _partner_id(visit))
            if partner is None:
                raise not_found()
            now = clock.now(visit.hub)
            chosen = {str(group): form.get(f"group_{group}") == "on" for group in groups}
            for group in groups:
                choose(session, partner, group, receive=chosen[str(group)], at=now)
            access.audit(session, actor, "email_preferences.set", f"partner:{partner.id}", after={"receive": chosen})

    await run_in_threadpool(save)
    return await run_in_threadpool(lambda: _profile(visit, message="Your e-mail choices are saved."))


@router.post("/portal/profile/locale")
async def save_locale(request: Request) -> Response:
    visit, form = await _posted_partner(request)
    assert visit.person is not None
    actor = visit.person.label
    locale = (form.get("locale") or "")[:16]

    def save() -> str | None:
        try:
            with unit_of_work(visit.hub) as session:
                partner = session.get(Partner, _partner_id(visit))
                if partner is None:
                    raise not_found()
                before = partner.locale
                partners.set_locale(session, partner, locale)
                access.audit(
                    session,
                    actor,
                    "locale.set",
                    f"partner:{partner.id}",
                    before={"locale": before},
                    after={"locale": partner.locale},
                )
        except DomainError as exc:
            return str(exc)
        return None

    refused = await run_in_threadpool(save)
    if refused is not None:
        return await run_in_threadpool(lambda: _profile(visit, status=422, error=refused))
    return await run_in_threadpool(lambda: _profile(visit, message="The language of your e-mails is saved."))


@router.post("/portal/profile/key")
async def rotate_key(request: Request) -> Response:
    visit, _ = await _posted_partner(request)
    assert visit.person is not None
    actor = visit.person.label

    def rotate() -> str:
        with unit_of_work(visit.hub) as session:
            partner = session.get(Partner, _partner_id(visit))
            if partner is None:
                raise not_found()
            key = partners.rotate_key(session, partner)
            access.audit(session, actor, "api_key.rotate", f"partner:{partner.id}")
            return key

    key = await run_in_threadpool(rotate)
    return await run_in_threadpool(lambda: _profile(visit, new_key=key))


__all__ = ["PageError", "router"]
