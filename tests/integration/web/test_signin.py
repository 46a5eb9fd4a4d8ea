"""Signing in to the pages through the real ASGI app (``hub.asgi``) in this process: the magic
link goes through the outbox to the fake SendGrid with no usable token in any row or log line;
GET only shows a button, POST uses the link once; expired and reused links, a form without its
CSRF token and a flood of sign-in requests are refused; the API and the pages never accept each
other's credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from hub.asgi import build_app
from hub.pipeline.models import OutboxItem
from hub.pipeline.store import utcnow
from hub.program import access
from hub.program.models import Notification, SigninToken, WebSession
from hub.program.partners import add_partner as add_partner_with_key
from hub.runtime.context import Hub
from hub.runtime.jobs import run_outbox_item
from hub.runtime.web_secret import web_secret
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.program_hub import cli
from tests.support.web import WEB_SECRET, csrf_of, links_in

BASE = "https://portal.example.test"


@pytest.fixture
def web(sendgrid_hub: Callable[..., Hub]) -> Iterator[tuple[Hub, TestClient]]:
    hub = sendgrid_hub(
        PARTNERHUB_WEB__SECRET=WEB_SECRET,
        PARTNERHUB_PUBLIC_BASE_URL=BASE,
        PARTNERHUB_WEB__SIGNIN_PER_ADDRESS="3",
        PARTNERHUB_MODE="test",
    )
    # the test client speaks to the app over https, as the public base URL says (Secure cookies)
    with TestClient(build_app(hub), base_url=BASE) as client:
        yield hub, client


def _send_outbox(hub: Hub) -> None:
    with hub.sessions() as s:
        ids = list(s.scalars(select(OutboxItem.id).where(OutboxItem.state != "done")))
    for item_id in ids:
        run_outbox_item(hub, item_id)


def _ask_link(client: TestClient, address: str) -> int:
    page = client.get("/signin")
    return client.post("/signin", data={"email": address, "csrf": csrf_of(page.text)}).status_code


def test_sign_in_by_mailed_link_once_with_no_token_stored_or_logged(
    web: tuple[Hub, TestClient],
    fake_sendgrid: FakeSendGrid,
    add_partner: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub, client = web
    add_partner(hub, name="Northwind", email="owner@northwind.example")

    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
    signin = client.get("/signin")
    for name, value in {
        "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }.items():
        assert signin.headers[name].startswith(value)
    assert "<script>" not in signin.text and " style=" not in signin.text  # nothing inline

    # the same answer for an address that exists and one that does not; mail only for the first
    known = client.post("/signin", data={"email": "Owner@Northwind.example", "csrf": csrf_of(signin.text)})
    unknown = client.post("/signin", data={"email": "nobody@northwind.example", "csrf": csrf_of(signin.text)})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("owner@northwind.example", "X") == unknown.text.replace("nobody@northwind.example", "X")

    _send_outbox(hub)
    links = links_in(fake_sendgrid.accepted, "owner@northwind.example")
    assert len(links) == 1 and links[0].startswith(BASE + "/signin/link?t=")  # from the setting, not Host
    assert not links_in(fake_sendgrid.accepted, "nobody@northwind.example")
    mail = fake_sendgrid.accepted[-1].body
    assert "asm" not in mail  # outside the unsubscribe groups
    assert mail["tracking_settings"]["click_tracking"] == {"enable": False, "enable_text": False}
    token = links[0].split("t=", 1)[1]

    # no usable token anywhere the hub keeps things
    with hub.sessions() as s:
        items = list(s.scalars(select(OutboxItem)))
        notes = list(s.scalars(select(Notification)))
        tokens = list(s.scalars(select(SigninToken)))
    assert [i.state for i in items] == ["done"]
    stored = repr([(i.payload, i.result, i.last_error) for i in items]) + repr(
        [(n.subject, n.to_email, n.status_reason) for n in notes]
    )
    assert token not in stored and token.split(".")[1] not in stored
    assert access.LINK_PLACEHOLDER in items[0].payload["text"]
    assert all(t.token_hash != token and token.split(".")[1] not in (t.nonce or "") for t in tokens)
    logged = capsys.readouterr()
    assert token.split(".")[1] not in logged.out + logged.err

    # GET only shows the button; nothing is used up
    landing = client.get(urlsplit(links[0]).path + "?" + urlsplit(links[0]).query)
    assert landing.status_code == 200 and "Sign in</button>" in landing.text
    with hub.sessions() as s:
        assert s.scalars(select(SigninToken.used_at)).one() is None
    # POST without the CSRF token: 403, nothing used
    refused = client.post("/signin/link", data={"t": token})
    assert refused.status_code == 403
    done = client.post("/signin/link", data={"t": token, "csrf": csrf_of(landing.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/portal"
    cookie = done.headers["set-cookie"]
    assert "__Host-ph_session=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=lax" in cookie.lower()
    home = client.get("/portal")
    assert home.status_code == 200 and "Northwind" in home.text

    # the link again, from another browser: refused
    other = TestClient(client.app, base_url=BASE)
    again = other.get("/signin/link?t=" + token)
    reused = other.post("/signin/link", data={"t": token, "csrf": csrf_of(again.text)})
    assert reused.status_code == 400 and "cannot be used" in reused.text
    assert other.get("/portal", follow_redirects=False).headers["location"].startswith("/signin")

    # the JSON API never accepts the page's cookie
    assert client.get("/api/v1/referrals").status_code == 401

    # a form without its token changes nothing: still signed in; with it, signed out at once
    assert client.post("/signout", data={}).status_code == 403
    assert client.get("/portal").status_code == 200
    stolen = client.cookies.get("__Host-ph_session")
    out = client.post("/signout", data={"csrf": csrf_of(client.get("/portal").text)}, follow_redirects=False)
    assert out.status_code == 303
    with hub.sessions() as s:
        assert s.scalars(select(WebSession.revoked_at)).one() is not None
    replay = TestClient(client.app, base_url=BASE, cookies={"__Host-ph_session": stolen or ""})
    assert replay.get("/portal", follow_redirects=False).status_code == 303


def test_an_expired_link_is_refused(web: tuple[Hub, TestClient], add_partner: Callable[..., int]) -> None:
    hub, client = web
    add_partner(hub, name="Northwind", email="owner@northwind.example")
    with hub.sessions() as s, s.begin():
        person = access.find_by_email(s, "owner@northwind.example")
        assert person is not None
        _, token = access.issue_link(s, web_secret(hub.settings), person, now=utcnow() - timedelta(minutes=16))
    landing = client.get("/signin/link?t=" + token)
    answer = client.post("/signin/link", data={"t": token, "csrf": csrf_of(landing.text)})
    assert answer.status_code == 400 and "expired" in answer.text
    assert client.get("/portal", follow_redirects=False).status_code == 303
    with hub.sessions() as s:
        assert s.scalars(select(WebSession)).first() is None


def test_sign_in_requests_are_throttled_per_address(
    web: tuple[Hub, TestClient], fake_sendgrid: FakeSendGrid, add_partner: Callable[..., int]
) -> None:
    hub, client = web
    add_partner(hub, name="Northwind", email="owner@northwind.example")
    assert [_ask_link(client, "owner@northwind.example") for _ in range(3)] == [200, 200, 200]
    page = client.get("/signin")
    blocked = client.post("/signin", data={"email": "owner@northwind.example", "csrf": csrf_of(page.text)})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    with hub.sessions() as s:
        assert len(list(s.scalars(select(SigninToken)))) == 3  # the fourth made no link
    assert _ask_link(client, "someone-else@northwind.example") == 200  # another address is not blocked


def test_pages_never_accept_an_api_key_and_operators_sign_in_by_cli_link(
    web: tuple[Hub, TestClient], add_partner: Callable[..., int]
) -> None:
    hub, client = web
    with hub.sessions() as s, s.begin():
        key = add_partner_with_key(s, name="Keyed", email="keyed@example.org").api_key
    assert client.get("/api/v1/referrals", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    page = client.get("/portal", headers={"Authorization": f"Bearer {key}"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/signin")

    assert "operator ops@example.com (admin)" in cli("admins", "add", "ops@example.com").stdout
    link = cli("admins", "login-link", "ops@example.com").stdout.strip()
    assert link.startswith(BASE + "/signin/link?t=")
    assert cli("admins", "login-link", "stranger@example.com", code=1).stderr.startswith("error:")
    token = link.split("t=", 1)[1]
    landing = client.get("/signin/link?t=" + token)
    done = client.post("/signin/link", data={"t": token, "csrf": csrf_of(landing.text)}, follow_redirects=False)
    assert done.headers["location"] == "/console"
    assert "ops@example.com" in client.get("/console").text
    assert client.get("/portal").status_code == 404  # an operator is not a partner user
    # a deactivated operator's session ends at once
    cli("admins", "deactivate", "ops@example.com")
    assert client.get("/console", follow_redirects=False).status_code == 303
