"""The partner portal through the real ASGI app in this process: every partner page keeps
partners apart (another partner's URL is 404), renders what partners wrote inert, and its forms
take the same domain path as the partner API (field errors, one referral per form however often
it is sent, CSRF checked first); the statement CSV neutralises formulas; the profile invites and
removes colleagues, keeps e-mail choices and rotates the API key."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from hub.asgi import build_app
from hub.pipeline.models import OutboxItem
from hub.pipeline.store import utcnow
from hub.program import access, referrals, registrations
from hub.program.models import (
    AuditEntry,
    DealRegistration,
    EmailPreference,
    LedgerEntry,
    Partner,
    Payout,
    Referral,
)
from hub.program.partners import add_partner
from hub.runtime.context import Hub
from hub.runtime.jobs import run_outbox_item
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.web import WEB_SECRET, csrf_of, session_cookie

SCRIPT = "<script>alert('owned')</script> Evil Corp"


@dataclass
class Company:
    partner_id: int
    api_key: str
    tracking_id: str
    registration_id: int
    payout_id: int
    client: TestClient


@pytest.fixture
def portal(sendgrid_hub: Callable[..., Hub]) -> Iterator[tuple[Hub, Callable[[str], Company]]]:
    hub = sendgrid_hub(
        PARTNERHUB_WEB__SECRET=WEB_SECRET,
        PARTNERHUB_MODE="test",
        PARTNERHUB_SENDGRID__UNSUBSCRIBE_GROUPS='{"referral_status": 41, "deal_closed": 42}',
    )
    app = build_app(hub)
    clients: list[TestClient] = []

    def company(name: str) -> Company:
        email = f"owner@{name.lower()}.example"
        now = utcnow()
        with hub.sessions() as s, s.begin():
            made = add_partner(s, name=name, email=email)
            partner = made.partner
            ref = referrals.submit(
                s,
                partner,
                {"company_name": SCRIPT, "company_domain": f"{name.lower()}-lead.example"},
                idempotency_key=None,
            ).referral
            reg, _, _ = registrations.submit(
                s,
                partner,
                {"company_name": f"{name} Deal", "contact_email": "buyer@deal.example"},
                idempotency_key=None,
                at=now,
            )
            payout = Payout(
                partner_id=partner.id,
                currency="EUR",
                amount_minor=12345,
                period="2026-11",
                status="paid",
                created_at=now,
                updated_at=now,
                paid_at=now,
            )
            s.add(payout)
            s.flush()
            for key, amount, status, pay in (
                (f'=HYPERLINK("x")-{name}', 12345, "paid", payout.id),
                (f"@sum-{name}", -500, "pending", None),
            ):
                s.add(
                    LedgerEntry(
                        natural_key=f"test:{name}:{key}",
                        partner_id=partner.id,
                        kind="commission",
                        amount_minor=amount,
                        currency="EUR",
                        status=status,
                        created_at=now,
                        updated_at=now,
                        source_key=key,
                        payout_id=pay,
                    )
                )
            person = access.find_by_email(s, email)
            assert person is not None
            ids = (partner.id, made.api_key, ref.tracking_id, reg.id, payout.id)
        name_, value = session_cookie(hub, person)
        client = TestClient(app, cookies={name_: value})
        client.__enter__()
        clients.append(client)
        return Company(*ids, client=client)

    yield hub, company
    for c in clients:
        c.__exit__(None, None, None)


def _pages(c: Company) -> list[str]:
    return [
        f"/portal/referrals/{c.tracking_id}",
        f"/portal/referrals/{c.tracking_id}/status",
        f"/portal/registrations/{c.registration_id}",
        f"/portal/registrations/{c.registration_id}/status",
        f"/portal/payouts/{c.payout_id}",
    ]


LISTS = [
    "/portal",
    "/portal/referrals",
    "/portal/registrations",
    "/portal/money",
    "/portal/profile",
    "/portal/statement.csv",
]


def test_partners_never_see_each_other_and_what_they_wrote_renders_inert(
    portal: tuple[Hub, Callable[[str], Company]],
) -> None:
    hub, company = portal
    a, b = company("Alpha"), company("Beta")
    for url in _pages(a):
        assert a.client.get(url).status_code == 200, url
        answer = b.client.get(url)
        assert answer.status_code == 404, url  # not "forbidden": B cannot even learn it exists
        assert a.tracking_id not in answer.text
    for url in LISTS:
        mine, theirs = b.client.get(url), a.client.get(url)
        assert mine.status_code == theirs.status_code == 200, url
        assert a.tracking_id not in mine.text and "Alpha" not in mine.text and "alpha" not in mine.text, url
    with hub.sessions() as s:
        a_user = access.find_by_email(s, "owner@alpha.example")
    assert a_user is not None
    # B cannot remove A's user either
    profile = b.client.get("/portal/profile")
    assert (
        b.client.post(
            f"/portal/profile/users/{a_user.principal_id}/remove", data={"csrf": csrf_of(profile.text)}
        ).status_code
        == 404
    )
    assert a.client.get("/portal").status_code == 200

    # the partner-written company name is text on every page that shows it, never markup
    for url in ["/portal", "/portal/referrals", f"/portal/referrals/{a.tracking_id}"]:
        text = a.client.get(url).text
        assert "<script>alert" not in text, url
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; Evil Corp" in text, url


def test_referral_form_takes_the_api_path_once_with_field_errors_and_csrf(
    portal: tuple[Hub, Callable[[str], Company]],
) -> None:
    hub, company = portal
    a = company("Gamma")
    form = a.client.get("/portal/referrals/new").text
    csrf, idem = csrf_of(form), re.search(r'name="idem" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]

    def count() -> int:
        with hub.sessions() as s:
            return int(
                s.scalar(select(func.count()).select_from(Referral).where(Referral.partner_id == a.partner_id)) or 0
            )

    before = count()
    bad = a.client.post(
        "/portal/referrals",
        data={"csrf": csrf, "idem": idem, "company_name": "Initech", "contact_email": "not-an-address"},
    )
    assert bad.status_code == 422
    assert re.search(r'id="e-contact_email">not an email address<', bad.text)
    assert 'value="Initech"' in bad.text  # what was typed stays
    nobody = a.client.post("/portal/referrals", data={"csrf": csrf, "idem": idem, "company_name": "Initech"})
    assert nobody.status_code == 422 and 'id="e-company_domain"' in nobody.text
    assert (
        a.client.post(
            "/portal/referrals", data={"idem": idem, "company_name": "Initech", "company_domain": "initech.example"}
        ).status_code
        == 403
    )
    assert count() == before

    good = {
        "csrf": csrf,
        "idem": idem,
        "company_name": "Initech",
        "company_domain": "https://www.initech.example/about",
    }
    first = a.client.post("/portal/referrals", data=good, follow_redirects=False)
    again = a.client.post("/portal/referrals", data=good, follow_redirects=False)  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert count() == before + 1
    other = a.client.post("/portal/referrals", data={**good, "company_name": "Initrode"}, follow_redirects=False)
    assert other.status_code == 409 and "already sent with other values" in other.text  # same form, other values
    assert count() == before + 1
    shown = a.client.get(first.headers["location"]).text
    tracking_id = first.headers["location"].split("/")[-1].split("?")[0]
    assert f'id="tracking-id">{tracking_id}<' in shown and "received" in shown
    with hub.sessions() as s:
        made = s.scalars(select(Referral).where(Referral.tracking_id == tracking_id)).one()
        assert made.company_domain == "initech.example"  # normalised as the API does
        assert made.partner_id == a.partner_id

    reg_form = a.client.get("/portal/registrations/new").text
    reg = a.client.post(
        "/portal/registrations",
        data={
            "csrf": csrf_of(reg_form),
            "idem": re.search(r'name="idem" value="([^"]+)"', reg_form).group(1),
            "company_name": "Hooli",
            "contact_email": "cto@hooli.example",
        },  # type: ignore[union-attr]
        follow_redirects=False,
    )
    assert reg.status_code == 303
    assert "being checked" in a.client.get(reg.headers["location"]).text


def test_statement_csv_neutralises_formulas(portal: tuple[Hub, Callable[[str], Company]]) -> None:
    _, company = portal
    a = company("Delta")
    answer = a.client.get("/portal/statement.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    sources = {r["source"] for r in rows}
    assert '\'=HYPERLINK("x")-Delta' in sources and "'@sum-Delta" in sources
    assert {r["amount"] for r in rows} == {"123.45", "'-5.00"}
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())


def _send_outbox(hub: Hub) -> None:
    with hub.sessions() as s:
        ids = list(s.scalars(select(OutboxItem.id).where(OutboxItem.state != "done")))
    for item_id in ids:
        run_outbox_item(hub, item_id)


def test_profile_invites_removes_chooses_mail_and_rotates_the_key(
    portal: tuple[Hub, Callable[[str], Company]], fake_sendgrid: FakeSendGrid
) -> None:
    hub, company = portal
    a = company("Epsilon")
    page = a.client.get("/portal/profile")
    invited = a.client.post(
        "/portal/profile/users", data={"csrf": csrf_of(page.text), "email": "Colleague@Epsilon.example", "name": "Cole"}
    )
    assert invited.status_code == 200 and "colleague@epsilon.example can now sign in" in invited.text
    with hub.sessions() as s, s.begin():
        colleague = access.find_by_email(s, "colleague@epsilon.example")
    assert colleague is not None and colleague.partner_id == a.partner_id
    name, value = session_cookie(hub, colleague)
    with TestClient(a.client.app, cookies={name: value}) as theirs:
        assert theirs.get("/portal").status_code == 200
        removed = a.client.post(
            f"/portal/profile/users/{colleague.principal_id}/remove", data={"csrf": csrf_of(page.text)}
        )
        assert removed.status_code == 200 and "their sessions ended" in removed.text
        assert theirs.get("/portal", follow_redirects=False).status_code == 303  # signed out at once

    saved = a.client.post("/portal/profile/preferences", data={"csrf": csrf_of(page.text), "group_42": "on"})
    assert saved.status_code == 200
    with hub.sessions() as s:
        choices = {
            p.asm_group_id: p.opted_out
            for p in s.scalars(select(EmailPreference).where(EmailPreference.partner_id == a.partner_id))
        }
    assert choices == {41: True}  # group 42 was never left: nothing to record
    _send_outbox(hub)  # SendGrid's group suppressions follow the choice
    assert fake_sendgrid.group_suppressions == {41: {"owner@epsilon.example"}}
    again = a.client.post(
        "/portal/profile/preferences", data={"csrf": csrf_of(page.text), "group_41": "on", "group_42": "on"}
    )
    assert again.status_code == 200
    _send_outbox(hub)
    assert fake_sendgrid.group_suppressions == {41: set()}
    with hub.sessions() as s:
        assert s.scalars(select(OutboxItem.state).where(OutboxItem.action == "set_group_suppression")).all() == [
            "done",
            "done",
        ]

    assert (
        a.client.post("/portal/profile/locale", data={"csrf": csrf_of(page.text), "locale": "Deutsch"}).status_code
        == 422
    )
    assert (
        a.client.post("/portal/profile/locale", data={"csrf": csrf_of(page.text), "locale": "de-AT"}).status_code == 200
    )
    with hub.sessions() as s:
        assert s.get(Partner, a.partner_id).locale == "de-AT"  # type: ignore[union-attr]

    assert a.client.get("/api/v1/referrals", headers={"Authorization": f"Bearer {a.api_key}"}).status_code == 200
    rotated = a.client.post("/portal/profile/key", data={"csrf": csrf_of(page.text)})
    key = re.search(r'id="new-api-key">(ph_live_[^<]+)<', rotated.text)
    assert key, rotated.text[-2000:]
    assert rotated.headers["cache-control"] == "no-store"
    assert a.client.get("/api/v1/referrals", headers={"Authorization": f"Bearer {a.api_key}"}).status_code == 401
    assert a.client.get("/api/v1/referrals", headers={"Authorization": f"Bearer {key.group(1)}"}).status_code == 200
    assert key.group(1) not in a.client.get("/portal/profile").text  # shown once
    with hub.sessions() as s:
        assert s.get(Partner, a.partner_id) is not None
        audited = [
            (e.actor, e.action) for e in s.scalars(select(AuditEntry).where(AuditEntry.actor.like("partner_user:%")))
        ]
    me = "partner_user:owner@epsilon.example"
    assert audited == [
        (me, "partner_user.add"),
        (me, "partner_user.remove"),
        (me, "email_preferences.set"),
        (me, "email_preferences.set"),
        (me, "locale.set"),
        (me, "api_key.rotate"),
    ]


def _grow(hub: Hub, c: Company, n: int, start: int) -> None:
    """``n`` more referrals, deal registrations (every other one approved into its referral),
    ledger entries (every status, two currencies) and payouts for ``c``."""
    now = utcnow()
    statuses = ("pending", "approved", "in_payout", "paid", "cancelled", "reversed")
    with hub.sessions() as s, s.begin():
        for i in range(start, start + n):
            referral = Referral(
                tracking_id=f"R-P{c.partner_id:03d}{i:05d}",
                partner_id=c.partner_id,
                company_name=f"Lead {i}",
                status="submitted",
                history=[],
                created_at=now,
                updated_at=now,
            )
            s.add(referral)
            s.flush()
            s.add(
                DealRegistration(
                    partner_id=c.partner_id,
                    company_name=f"Lead {i}",
                    company_key=f"lead {i}",
                    status="approved" if i % 2 else "held",
                    referral_id=referral.id if i % 2 else None,
                    created_at=now,
                    updated_at=now,
                )
            )
            status = statuses[i % len(statuses)]
            s.add(
                LedgerEntry(
                    natural_key=f"grow:{c.partner_id}:{i}",
                    partner_id=c.partner_id,
                    kind="commission",
                    amount_minor=(i + 1) * (-1 if status == "reversed" else 1),
                    currency=("EUR", "USD")[i % 2],
                    status=status,
                    created_at=now,
                    updated_at=now,
                    source_key=f"grow:{i}",
                )
            )
            s.add(
                Payout(
                    partner_id=c.partner_id,
                    currency="USD",
                    amount_minor=100 + i,
                    period=f"grow-{i}",
                    status="paid",
                    created_at=now,
                    updated_at=now,
                )
            )


def _walk(client: TestClient, first: str, pattern: str, older: str) -> list[list[str]]:
    """The rows (``pattern``'s group) of every page from ``first`` on, following the ``older`` links."""
    pages: list[list[str]] = []
    url: str | None = first
    while url is not None and len(pages) < 20:
        answer = client.get(url)
        assert answer.status_code == 200, url
        pages.append(re.findall(pattern, answer.text))
        link = re.search(rf'href="\?((?:[^"]*&amp;)?{older}=\d+)"', answer.text)
        url = first.split("?")[0] + "?" + link.group(1).replace("&amp;", "&") if link else None
    return pages


def test_a_big_partner_pages_its_lists_and_no_page_runs_a_query_per_row(
    portal: tuple[Hub, Callable[[str], Company]],
) -> None:
    """Lists come 50 rows a page with an "older" link that walks the partner's own rows exactly
    once; the balances are the ledger's grouped sums; every portal page runs as many statements
    with 130 rows of everything as with 1."""
    from sqlalchemy import event

    from hub.program import portal as portal_domain

    hub, company = portal
    a, b = company("Alpha"), company("Beta")

    def statements() -> dict[str, int]:
        out = {}
        for path in LISTS:
            seen: list[str] = []

            def listener(*args: object, seen: list[str] = seen) -> None:
                seen.append(str(args[2]))

            event.listen(hub.engine, "before_cursor_execute", listener)
            try:
                assert a.client.get(path).status_code == 200, path
            finally:
                event.remove(hub.engine, "before_cursor_execute", listener)
            out[path] = len(seen)
        return out

    few = statements()
    _grow(hub, a, 130, 0)
    _grow(hub, b, 3, 500)
    assert statements() == few

    tracking = _walk(a.client, "/portal/referrals", r'href="/portal/referrals/(R-[A-Z0-9]+)"', "before")
    assert [len(p) for p in tracking] == [50, 50, 31]
    flat = [t for p in tracking for t in p]
    assert len(set(flat)) == 131  # 130 grown + the fixture's own, each once
    assert not any(t.startswith(f"R-P{b.partner_id:03d}") for t in flat)
    with hub.sessions() as s:
        newest_first = list(
            s.scalars(
                select(Referral.tracking_id).where(Referral.partner_id == a.partner_id).order_by(Referral.id.desc())
            )
        )
    assert flat == newest_first
    # the filters travel with the link
    searched = _walk(
        a.client, "/portal/referrals?q=lead&status=submitted", r'href="/portal/referrals/(R-[A-Z0-9]+)"', "before"
    )
    assert [len(p) for p in searched] == [50, 50, 30]

    registered = _walk(a.client, "/portal/registrations", r'href="/portal/registrations/(\d+)"', "before")
    assert [len(p) for p in registered] == [50, 50, 31]  # 130 grown + the fixture's own
    with hub.sessions() as s:
        mine_newest_first = list(
            s.scalars(
                select(DealRegistration.id)
                .where(DealRegistration.partner_id == a.partner_id)
                .order_by(DealRegistration.id.desc())
            )
        )
    assert [int(r) for p in registered for r in p] == mine_newest_first
    first = a.client.get("/portal/registrations").text  # an approved one links the referral it became
    assert f'href="/portal/referrals/R-P{a.partner_id:03d}00129"' in first
    assert f"R-P{b.partner_id:03d}" not in first

    entries = _walk(a.client, "/portal/money", r"<tr><td>(\d+)</td><td>", "before")
    assert [len(p) for p in entries] == [50, 50, 32]
    payouts = _walk(a.client, "/portal/money", r'href="/portal/payouts/(\d+)"', "payouts_before")
    assert [len(p) for p in payouts] == [50, 50, 31]
    with hub.sessions() as s:
        mine = set(s.scalars(select(LedgerEntry.id).where(LedgerEntry.partner_id == a.partner_id)))
        rows = list(
            s.execute(
                select(LedgerEntry.currency, LedgerEntry.status, LedgerEntry.amount_minor).where(
                    LedgerEntry.partner_id == a.partner_id
                )
            )
        )
    assert {int(e) for p in entries for e in p} == mine

    expected: dict[str, dict[str, int]] = {}
    for currency, status, amount in rows:
        if str(status) in ("cancelled", "reversed"):
            continue
        bucket = {"paid": "paid", "approved": "approved", "in_payout": "approved"}.get(str(status), "pending")
        expected.setdefault(currency, {"pending": 0, "approved": 0, "paid": 0})[bucket] += amount
    with hub.sessions() as s:
        home = portal_domain.home(s, a.partner_id, today=utcnow().date())
    assert home is not None and home.balances == expected
    assert home.by_status["submitted"] >= 130 and sum(home.by_status.values()) == 131

    # another partner's id in the link shows that partner nothing of the first one's
    other = b.client.get(f"/portal/referrals?before={10**9}")
    assert other.status_code == 200 and f"R-P{a.partner_id:03d}" not in other.text
    for bad in ("abc", "-1", "1" * 19, "1.5"):
        for path in (
            "/portal/referrals?before=",
            "/portal/registrations?before=",
            "/portal/money?before=",
            "/portal/money?payouts_before=",
        ):
            answer = a.client.get(path + bad)
            assert answer.status_code == 400, path + bad
