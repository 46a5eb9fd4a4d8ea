"""Hostile or broken requests to the pages get a clear 4xx and change nothing, never a 5xx."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from starlette.testclient import TestClient

from hub.asgi import build_app
from hub.program import access
from hub.program.models import Application, Credential, Referral, SigninToken
from hub.runtime.context import Hub
from tests.support.web import WEB_SECRET, csrf_of, session_cookie


def test_bad_requests_to_the_pages_are_4xx_and_change_nothing(
    sendgrid_hub: Callable[..., Hub], add_partner: Callable[..., int]
) -> None:
    hub = sendgrid_hub(PARTNERHUB_WEB__SECRET=WEB_SECRET, PARTNERHUB_WEB__FORM_LIMIT="2048")
    add_partner(hub, name="Northwind", email="owner@northwind.example")
    with hub.sessions() as s, s.begin():
        person = access.find_by_email(s, "owner@northwind.example")
    assert person is not None
    name, value = session_cookie(hub, person)
    with TestClient(build_app(hub), cookies={name: value}) as client, TestClient(client.app) as stranger:
        csrf = csrf_of(client.get("/portal/referrals/new").text)
        anon_csrf = csrf_of(stranger.get("/signin").text)
        answers = {
            "long tracking id": client.get("/portal/referrals/" + "R" * 5000).status_code,
            "NUL in path": client.get("/portal/referrals/R-%00").status_code,
            "huge row id": client.get("/portal/registrations/99999999999999999999999").status_code,
            "non-numeric payout": client.get("/portal/payouts/abc").status_code,
            "odd filters": client.get(
                "/portal/referrals", params={"status": "<script>", "q": "\x00%_" * 100}
            ).status_code,
            "traversal": client.get("/static/../../pyproject.toml").status_code,
            "forged cookie": TestClient(client.app, cookies={name: value[:-3] + "AAA"})
            .get("/portal", follow_redirects=False)
            .status_code,
            "long link token": stranger.get("/signin/link", params={"t": "x" * 10_000}).status_code,
            "garbage link": stranger.post("/signin/link", data={"t": "1.garbage", "csrf": anon_csrf}).status_code,
            "multipart form": stranger.post("/signin", files={"email": ("a", b"x")}).status_code,
            "invalid utf-8": stranger.post(
                "/signin",
                content=b"email=\xff\xfe&csrf=" + anon_csrf.encode(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            ).status_code,
            "too large": client.post(
                "/portal/referrals", data={"csrf": csrf, "notes": "n" * 5000, "company_name": "X"}
            ).status_code,
            "too long fields": client.post(
                "/portal/referrals",
                data={"csrf": csrf, "idem": "i", "company_name": "C" * 201, "company_domain": "a.example"},
            ).status_code,
            "not an address": stranger.post("/signin", data={"email": "<script>", "csrf": anon_csrf}).status_code,
            "unknown page": client.get("/portal/nothing-here").status_code,
            # the lifecycle's pages: the public application form, its confirmation, onboarding
            "application without csrf": stranger.post("/apply", data={"email": "a@b.example"}).status_code,
            "application too long": stranger.post(
                "/apply",
                data={"csrf": anon_csrf, "contact_name": "N", "email": "a@b.example", "company_name": "C" * 201},
            ).status_code,
            "application odd country": stranger.post(
                "/apply",
                data={
                    "csrf": anon_csrf,
                    "contact_name": "N",
                    "email": "a@b.example",
                    "company_name": "C",
                    "country": "\x00\x00",
                },
            ).status_code,
            "garbage confirmation": stranger.post(
                "/apply/confirm", data={"csrf": anon_csrf, "token": "\x00" + "t" * 1000}
            ).status_code,
            "unknown onboarding step": client.post(
                "/portal/onboarding/steps/" + "s" * 5000, data={"csrf": csrf}
            ).status_code,
            "agreement not ticked": client.post(
                "/portal/onboarding/agreement", data={"csrf": csrf, "version": "<script>"}
            ).status_code,
            "agreement wrong version": client.post(
                "/portal/onboarding/agreement", data={"csrf": csrf, "accept": "yes", "version": "v" * 500}
            ).status_code,
        }
    assert all(400 <= code < 500 for code in answers.values() if code not in (200, 303)), answers
    assert answers["long tracking id"] == answers["huge row id"] == answers["non-numeric payout"] == 404
    assert answers["garbage link"] == 400 and answers["multipart form"] == 415
    assert answers["invalid utf-8"] == 400 and answers["too large"] == 413 and answers["too long fields"] == 422
    assert answers["forged cookie"] == 303 and answers["traversal"] == 404
    assert answers["application without csrf"] == 403 and answers["garbage confirmation"] == 400
    assert answers["application too long"] == answers["application odd country"] == 422
    assert answers["unknown onboarding step"] == 404 and answers["agreement not ticked"] == 422
    assert 400 <= answers["agreement wrong version"] < 500
    with hub.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Referral)) == 0
        assert s.scalar(select(func.count()).select_from(SigninToken)) == 0
        assert s.scalar(select(func.count()).select_from(Application)) == 0
        assert s.scalar(select(func.count()).select_from(Credential)) == 0
