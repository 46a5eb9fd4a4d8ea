"""Odd and hostile input to the partner and admin APIs through the running app: each is a 4xx
that changes nothing, never a 5xx — integers past 64 bits in paths and bodies, bodies that are
not JSON (NaN, Infinity), naive or extreme moments in queries — and identical submissions
racing with one Idempotency-Key all get the first one's answer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.program.models import DealRegistration, LedgerEntry, Referral
from tests.support.flows import ADMIN_TOKEN, add_partner, api

TOO_BIG = 2**63  # one past the largest 64-bit key


@pytest.fixture
def hub_api(make_harness, database_url):  # type: ignore[no-untyped-def]
    h = make_harness(database_url, PARTNERHUB_ADMIN_TOKEN=ADMIN_TOKEN)
    h.start_web()
    h.key = add_partner(h, "Hostile Partners", "ops@hostile.example")
    return h


def _count(h: Any, model: Any) -> int:
    with h.hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_integers_past_64_bits_in_api_paths_are_4xx(hub_api):
    h = hub_api
    for method, path, body in [
        ("POST", f"/api/v1/admin/payouts/{TOO_BIG}/approve", {"reason": "r"}),
        ("POST", f"/api/v1/admin/ledger/{TOO_BIG}", {"reason": "r", "status": "approved"}),
        ("POST", f"/api/v1/admin/partners/{TOO_BIG}/tier", {"reason": "r", "tier": "gold"}),
        ("POST", f"/api/v1/admin/deal-registrations/{TOO_BIG}/approve", {"reason": "r"}),
        ("POST", f"/api/v1/admin/deals/{TOO_BIG}/attribution", {"partner_id": None, "reason": "r"}),
    ]:
        answer = api(h, ADMIN_TOKEN, method, path, json=body)
        assert answer.status_code == 422, (path, answer.status_code, answer.text)
    answer = api(h, h.key, "GET", f"/api/v1/deal-registrations/{TOO_BIG}")
    assert answer.status_code == 422, answer.text


def test_integers_past_64_bits_in_api_bodies_are_4xx_and_change_nothing(hub_api):
    h = hub_api
    too_big = str(TOO_BIG).encode()
    for body in [
        b'{"partner_id": ' + too_big + b', "amount_minor": 100, "currency": "USD", "reason": "r"}',
        b'{"partner_id": 1, "amount_minor": ' + too_big + b', "currency": "USD", "reason": "r"}',
        b'{"partner_id": 1, "amount_minor": -' + too_big + b'1, "currency": "USD", "reason": "r"}',
    ]:
        answer = api(
            h, ADMIN_TOKEN, "POST", "/api/v1/admin/ledger", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        assert "64-bit" in answer.json()["detail"]
    # the same number written as a string passes the JSON parser and is refused by the field
    answer = api(
        h,
        ADMIN_TOKEN,
        "POST",
        "/api/v1/admin/ledger",
        json={"partner_id": str(TOO_BIG), "amount_minor": 100, "currency": "USD", "reason": "r"},
    )
    assert answer.status_code == 422, answer.text
    assert _count(h, LedgerEntry) == 0


def test_nan_and_infinity_in_an_api_body_are_not_json(hub_api):
    h = hub_api
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        body = b'{"partner_id": 1, "amount_minor": ' + literal + b', "currency": "USD", "reason": "r"}'
        answer = api(
            h, ADMIN_TOKEN, "POST", "/api/v1/admin/ledger", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, (literal, answer.text)
        assert "not JSON" in answer.json()["detail"] or "too large" in answer.json()["detail"]
    answer = api(
        h, h.key, "POST", "/api/v1/referrals",
        content=b'{"company_name": "Acme", "company_domain": "acme.example", "notes": NaN}',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert _count(h, LedgerEntry) == 0 and _count(h, Referral) == 0


def test_naive_or_extreme_moments_in_queries_are_4xx(hub_api):
    h = hub_api
    for since in ("2025-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        answer = api(h, h.key, "GET", "/api/v1/statement", params={"since": since})
        assert answer.status_code == 422, (since, answer.status_code, answer.text)
    for at in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2025-01-01T00:00:00"):
        answer = api(h, ADMIN_TOKEN, "GET", "/api/v1/admin/kpis", params={"at": at})
        assert answer.status_code == 422, (at, answer.status_code, answer.text)
    # an ordinary moment still works
    assert api(h, h.key, "GET", "/api/v1/statement", params={"since": "2025-01-01T00:00:00Z"}).status_code == 200
    assert (
        api(h, ADMIN_TOKEN, "GET", "/api/v1/admin/kpis", params={"at": "2025-01-01T00:00:00+02:00"}).status_code == 200
    )


@pytest.mark.parametrize(
    ("path", "model", "answer_key"),
    [("/api/v1/referrals", Referral, "tracking_id"), ("/api/v1/deal-registrations", DealRegistration, "id")],
)
def test_identical_submissions_racing_with_one_idempotency_key_get_the_first_answer(hub_api, path, model, answer_key):
    h = hub_api
    body = {"company_name": "Racing Co", "company_domain": "racing.example", "contact_email": "ceo@racing.example"}
    at_once = 16  # fewer than the web process's database connections: the race is on the key
    for round_ in range(6):
        start = threading.Barrier(at_once)

        def post(_: int, key: str = f"race-{round_}", start: threading.Barrier = start) -> Any:
            start.wait()
            return api(h, h.key, "POST", path, json=body, headers={"Idempotency-Key": key})

        with ThreadPoolExecutor(max_workers=at_once) as pool:
            answers = list(pool.map(post, range(at_once)))
        statuses = sorted(a.status_code for a in answers)
        # one created it; everyone else got its answer
        assert statuses == [200] * (at_once - 1) + [202], [a.text for a in answers if a.status_code not in (200, 202)]
        assert len({a.json()[answer_key] for a in answers}) == 1
        assert _count(h, model) == round_ + 1


@pytest.mark.parametrize(
    ("path", "model"), [("/api/v1/referrals", Referral), ("/api/v1/deal-registrations", DealRegistration)]
)
def test_an_empty_idempotency_key_is_refused_and_stores_nothing(hub_api, path, model):
    """Found by schemathesis: an empty key skipped the lookup but was stored, so the second
    submission with it broke the unique (partner, key) constraint: a 500."""
    h = hub_api
    body = {"company_name": "Empty Key Co", "company_domain": "emptykey.example", "contact_email": "a@emptykey.example"}
    for _ in range(2):
        answer = api(h, h.key, "POST", path, json=body, headers={"Idempotency-Key": ""})
        assert answer.status_code == 422, answer.text
    assert _count(h, model) == 0


@pytest.mark.parametrize(
    ("path", "model"), [("/api/v1/referrals", Referral), ("/api/v1/deal-registrations", DealRegistration)]
)
def test_a_bad_company_country_or_industry_is_422_and_stores_nothing(hub_api, path, model):
    h = hub_api
    for company in (
        {"company_country": "Germany"},
        {"company_country": "D1"},
        {"company_country": 49},
        {"company_industry": "x" * 65},
        {"company_industry": ["Manufacturing"]},
    ):
        body = {"company_name": "Routed Co", "company_domain": "routed.example", **company}
        answer = api(h, h.key, "POST", path, json=body)
        assert answer.status_code == 422, answer.text
        assert any(e["loc"][-1] in company for e in answer.json()["detail"]), answer.text
    assert _count(h, model) == 0
