"""MDF / co-marketing funds through the running web app, worker and CLI (SQLite and PostgreSQL):
an ineligible partner's request is refused with the unmet condition and nothing is stored; an
eligible one waits for a person; parallel requests never pass the budget and parallel claims
never pass the approved request; an oversized or disguised upload is refused (and nothing is
read before the key is checked); another partner cannot fetch the proof (404) while its own
partner and the admin can, as an attachment with ``nosniff``; the approved claim is paid once
through the payout run and its review; ``privacy forget`` erases the proof's bytes."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from hub.program import review_queues
from hub.program.mdf.budget import period_of
from hub.program.models import AuditEntry, LedgerEntry, MdfBudget, MdfClaim, MdfProof, MdfRequest, Payout
from tests.support.flows import ADMIN_TOKEN, add_partner, api, idle, start_flow, subjects
from tests.support.servers import REPO, wait_until

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PROGRAM = """\
version: 1
new_deals:
  start:
    hubspot: {pipeline: default, stage: appointmentscheduled}
payouts: {day_of_month: 28}
mdf:
  enabled: true
  requires: {tier: [gold]}
  budgets: {gold: {USD: "1000.00"}}
  uploads: {max_bytes: 2048, max_files: 2, quota_bytes: 8192}
"""
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML_AS_PDF = b"<!DOCTYPE html><html><body><script>document.cookie</script></body></html>"


def request_funds(h: Any, key: str, amount: str, activity: str = "Webinar") -> httpx.Response:
    return api(h, key, "POST", "/api/v1/mdf/requests", json={"activity": activity, "amount": amount, "currency": "USD"})


def claim(h: Any, key: str | None, request_id: int, amount: str, *files: tuple[str, bytes]) -> httpx.Response:
    return api(
        h,
        key,
        "POST",
        f"/api/v1/mdf/requests/{request_id}/claims",
        data={"amount": amount, "description": "held the webinar"},
        files=[("files", (name, data, "application/pdf")) for name, data in files],
    )


def decide(h: Any, what: str, row_id: int, verdict: str, reason: str = "checked") -> httpx.Response:
    return api(
        h,
        None,
        "POST",
        f"/api/v1/admin/mdf/{what}/{row_id}/{verdict}",
        headers=dict(ADMIN),
        json={"reason": reason, "by": "dana.ops"},
    )


def count(h: Any, model: Any) -> int:
    with h.hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_mdf_requests_claims_proofs_and_payout(make_harness, database_url, fake_hubspot, fake_sendgrid, tmp_path):
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    (mappings / "program.yaml").write_text(PROGRAM)
    h = start_flow(  # the program clock stands on the 2nd: no payout run until the test ticks on the 28th
        make_harness,
        "hubspot",
        database_url,
        fake_hubspot,
        fake_sendgrid,
        PARTNERHUB_MAPPINGS_DIR=str(mappings),
        PARTNERHUB_PROGRAM__CLOCK_NOW=NOW.isoformat(),
    )
    alpha = add_partner(h, "Alpha Media", "alpha@mdf-partners.example", tier="gold")
    beta = add_partner(h, "Beta Events", "beta@mdf-partners.example", tier="gold")
    silver = add_partner(h, "Silver Shop", "silver@mdf-partners.example", tier="silver")

    # an ineligible partner: refused with the unmet condition, nothing stored
    refused = request_funds(h, silver, "100.00")
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "an MDF request requires: tier must be one of gold"
    page = api(h, silver, "GET", "/api/v1/mdf").json()
    assert page["open"] is False and page["unmet"] == ["tier must be one of gold"]
    features = api(h, silver, "GET", "/api/v1/features").json()  # MDF among the gated benefits
    assert features["mdf"] == {"open": False, "unmet": ["tier must be one of gold"]}
    assert api(h, alpha, "GET", "/api/v1/features").json()["mdf"] == {"open": True, "unmet": []}
    assert count(h, MdfRequest) == 0 and count(h, MdfBudget) == 0

    # parallel requests for 300.00 against a 1000.00 budget: exactly three are taken
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda i: request_funds(h, alpha, "300.00", f"Webinar {i}"), range(5)))
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 422, 422], [a.text for a in answers]
    assert all("passes your MDF budget" in a.text for a in answers if a.status_code == 422)
    period = period_of(NOW, "quarter")
    assert period == "2026-Q4"
    with h.hub.sessions() as s:
        assert s.scalars(select(MdfBudget.used_minor).where(MdfBudget.period == period)).all() == [90000]
    made = sorted(a.json()["id"] for a in answers if a.status_code == 201)
    page = api(h, alpha, "GET", "/api/v1/mdf").json()
    assert page["budgets"]["USD"] == {"allowance_minor": 100000, "used_minor": 90000, "left_minor": 10000}

    # every request waits for a person, whatever the amount (the worker is running)
    wait_until(lambda: idle(h), 60, what="worker idle")
    assert {r["status"] for r in page["requests"]} == {"pending"}
    queue = api(h, None, "GET", "/api/v1/admin/mdf/requests", headers=dict(ADMIN)).json()
    assert sorted(r["id"] for r in queue) == made
    with h.hub.sessions() as s:
        assert review_queues.counts(s)["mdf_requests"] == 3
    first, second, third = made
    assert claim(h, alpha, first, "10.00", ("p.pdf", PDF)).status_code == 409  # not approved yet
    assert decide(h, "requests", first, "approve").json()["status"] == "approved"
    assert decide(h, "requests", second, "reject", "not this quarter").json()["status"] == "rejected"
    assert decide(h, "requests", second, "approve").status_code == 409  # decided once
    with h.hub.sessions() as s:
        assert s.scalars(select(MdfBudget.used_minor).where(MdfBudget.period == period)).all() == [60000]

    # a retried request with its Idempotency-Key is the same request; another body under the key is refused
    body = {"activity": "Newsletter", "amount": "100.00", "currency": "USD"}
    key = {"Idempotency-Key": "newsletter-1"}
    made_once = api(h, alpha, "POST", "/api/v1/mdf/requests", json=body, headers=dict(key))
    again = api(h, alpha, "POST", "/api/v1/mdf/requests", json=body, headers=dict(key))
    assert (made_once.status_code, again.status_code) == (201, 200) and again.json()["id"] == made_once.json()["id"]
    other = api(h, alpha, "POST", "/api/v1/mdf/requests", json={**body, "amount": "50.00"}, headers=dict(key))
    assert other.status_code == 409
    with h.hub.sessions() as s:
        assert s.scalars(select(MdfBudget.used_minor).where(MdfBudget.period == period)).all() == [70000]

    # refused uploads store nothing: disguised, too large a file, too large a body, no key
    disguised = claim(h, alpha, first, "10.00", ("invoice.pdf", HTML_AS_PDF))
    assert disguised.status_code == 422 and "not a PDF, PNG, JPEG file by its content" in disguised.text
    big = claim(h, alpha, first, "10.00", ("big.pdf", PDF + b"0" * 3000))
    assert big.status_code == 422 and "larger than 2048 bytes" in big.text
    huge = claim(h, alpha, first, "10.00", ("huge.pdf", PDF + b"0" * (1024 * 1024 + 1)))
    assert huge.status_code == 413
    nobody = claim(h, None, first, "10.00", ("huge.pdf", PDF + b"0" * (1024 * 1024 + 1)))
    assert nobody.status_code == 401  # authenticated before anything is read
    assert claim(h, beta, first, "10.00", ("p.pdf", PDF)).status_code == 404  # not beta's request
    assert count(h, MdfClaim) == 0 and count(h, MdfProof) == 0

    # parallel claims of 100.01 against the approved 300.00: two fit, the third would pass it
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(lambda i: claim(h, alpha, first, "100.01", (f"proof{i}.pdf", PDF)), range(4)))
    assert sorted(c.status_code for c in claims) == [201, 201, 422, 422], [c.text for c in claims]
    assert all("passes the approved request" in c.text for c in claims if c.status_code == 422)
    taken = sorted((c.json() for c in claims if c.status_code == 201), key=lambda c: c["id"])
    assert all(c["status"] == "pending" for c in taken)
    with h.hub.sessions() as s:
        assert s.get(MdfRequest, first).claimed_minor == 20002
    assert count(h, MdfProof) == 2

    # the proof: the partner's own users and operators only, as an attachment
    name = taken[0]["proofs"][0]["name"]
    assert name.endswith(".pdf") and "proof" not in name  # stored under a random name
    own = api(h, alpha, "GET", f"/api/v1/mdf/proofs/{name}")
    assert own.status_code == 200 and own.content == PDF
    assert own.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert own.headers["x-content-type-options"] == "nosniff" and own.headers["content-type"] == "application/pdf"
    assert api(h, beta, "GET", f"/api/v1/mdf/proofs/{name}").status_code == 404
    assert api(h, None, "GET", f"/api/v1/admin/mdf/proofs/{name}", headers=dict(ADMIN)).content == PDF
    assert api(h, beta, "GET", f"/api/v1/mdf/requests/{first}").status_code == 404

    # a person decides each claim; the approved one becomes a payable ledger entry
    pending = api(h, None, "GET", "/api/v1/admin/mdf/claims", headers=dict(ADMIN)).json()
    assert sorted(c["id"] for c in pending) == [c["id"] for c in taken]
    approved = decide(h, "claims", taken[0]["id"], "approve").json()
    assert approved["status"] == "approved" and approved["ledger_entry_id"] is not None
    assert decide(h, "claims", taken[1]["id"], "reject", "no attendee list").json()["status"] == "rejected"
    with h.hub.sessions() as s:
        entry = s.get(LedgerEntry, approved["ledger_entry_id"])
        assert (entry.kind, entry.amount_minor, entry.currency, entry.status) == ("mdf", 10001, "USD", "approved")
        assert s.get(MdfRequest, first).claimed_minor == 10001  # the rejected claim's amount returned
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions.count("mdf_claim.approve") == 1 and actions.count("mdf_request.reject") == 1

    # the KPI: MDF budget used this quarter, the same in its own endpoint and in the program KPIs
    used = {"USD": {"requested": 70000, "approved": 30000, "claimed_approved": 10001}}
    figure = api(h, None, "GET", "/api/v1/admin/mdf/budget-used", headers=dict(ADMIN)).json()
    assert figure == {"period": period, "by_currency": used}
    kpis = api(h, None, "GET", "/api/v1/admin/kpis", params={"period": "quarter"}, headers=dict(ADMIN)).json()
    assert kpis["mdf_budget_used"] == figure

    # the partner is told of each decision, once (the worker sends the mails)
    told = [
        "MDF request approved: ",
        "MDF request rejected: ",
        "MDF claim approved: ",
        "MDF claim rejected: ",
    ]
    wait_until(
        lambda: all(any(s.startswith(t) for s in subjects(h, "alpha@mdf-partners.example")) for t in told),
        60,
        what="the decision mails",
    )
    assert len([s for s in subjects(h, "alpha@mdf-partners.example") if s.startswith("MDF ")]) == 4

    # the payout run proposes it; a person approves the payout; it is paid once
    run_at = NOW.replace(day=28, hour=12)
    h.cli("program", "tick", "--now", run_at.isoformat())
    h.cli("program", "tick", "--now", run_at.isoformat())  # the same run again: nothing more
    review = api(h, None, "GET", "/api/v1/admin/payouts", headers=dict(ADMIN)).json()
    assert [(p["partner_id"], p["amount_minor"], p["currency"]) for p in review] == [(entry.partner_id, 10001, "USD")]
    payout_id = review[0]["id"]
    ok = api(
        h,
        None,
        "POST",
        f"/api/v1/admin/payouts/{payout_id}/approve",
        headers=dict(ADMIN),
        json={"reason": "MDF claim checked", "by": "erin.finance"},
    )
    assert ok.status_code == 200, ok.text
    assert "paid" in h.cli("payouts", "mark-paid", str(payout_id), "--reference", "BANK-1").stdout
    h.cli("program", "tick", "--now", (run_at + timedelta(days=31)).isoformat())  # the next run: nothing left
    with h.hub.sessions() as s:
        assert s.get(LedgerEntry, entry.id).status == "paid" and s.get(LedgerEntry, entry.id).payout_id == payout_id
        assert s.scalar(select(func.count()).select_from(Payout)) == 1

    # privacy: forgetting the partner erases the proof bytes (the claim and its money stay)
    assert "mdf_proofs" in h.cli("privacy", "forget", "alpha@mdf-partners.example").stdout
    assert api(h, None, "GET", f"/api/v1/admin/mdf/proofs/{name}", headers=dict(ADMIN)).status_code == 404
    with h.hub.sessions() as s:
        files = list(s.scalars(select(MdfProof)))
        assert {f.erased_at is not None for f in files} == {True} and {len(f.content) for f in files} == {0}
        assert s.get(LedgerEntry, entry.id).amount_minor == 10001
    assert third in [r["id"] for r in api(h, None, "GET", "/api/v1/admin/mdf/requests", headers=dict(ADMIN)).json()]
