"""The MDF pages through the real ASGI app in this process (SQLite and PostgreSQL): the portal's
MDF page shows an ineligible partner the unmet condition and refuses its request (403, nothing
stored); an eligible partner's request waits in the console's queue, where an admin approves it
with a reason (audited); the claim form takes its proof files as multipart only from a signed-in
partner user with the form's CSRF token, refuses a disguised or oversized file, and serves the
proof as an attachment to its own partner and to operators (another partner: 404); the admin's
approval from the claims queue makes the payable ledger entry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from hub.asgi import build_app
from hub.program import access
from hub.program.models import AuditEntry, LedgerEntry, MdfClaim, MdfProof, MdfRequest
from hub.program.partners import add_partner
from hub.runtime.context import Hub
from tests.integration.web.test_console import signed_in
from tests.support.program_hub import open_program_hub
from tests.support.web import WEB_SECRET, csrf_of, session_cookie

PROGRAM = """\
version: 1
mdf:
  enabled: true
  requires: {tier: [gold]}
  budgets: {gold: {EUR: "2500.00"}}
  uploads: {max_bytes: 4096, max_files: 2}
"""
PDF = b"%PDF-1.4\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    opened = open_program_hub(
        database_url,
        redis_url,
        tmp_path,
        monkeypatch,
        program=PROGRAM,
        admin_token="admin-token-made-up-for-tests-000000",
        env={"PARTNERHUB_WEB__SECRET": WEB_SECRET, "PARTNERHUB_MODE": "test"},
    )
    try:
        yield opened
    finally:
        opened.close()


def partner_client(hub: Hub, name: str, tier: str) -> TestClient:
    email = f"owner@{name.lower()}.example"
    with hub.sessions() as s, s.begin():
        add_partner(s, name=name, email=email, tier=tier)
        person = access.find_by_email(s, email)
        assert person is not None
    client = TestClient(build_app(hub))
    cookie, value = session_cookie(hub, person)
    client.cookies.set(cookie, value)
    return client


def form_post(client: TestClient, action: str, **data: str) -> Any:
    token = csrf_of(client.get("/portal/mdf").text)
    return client.post(
        action, data={"csrf": token, "idem": f"k-{len(data)}-{data.get('amount')}", **data}, follow_redirects=False
    )


def claim_post(
    client: TestClient, request_id: int, amount: str, files: list[tuple[str, bytes]], csrf: bool = True
) -> Any:
    token = csrf_of(client.get("/portal/mdf").text) if csrf else "wrong"
    return client.post(
        f"/portal/mdf/requests/{request_id}/claims",
        data={"csrf": token, "amount": amount, "description": "trade fair booth"},
        files=[("files", (n, d, "application/pdf")) for n, d in files],
        follow_redirects=False,
    )


def count(hub: Hub, model: Any) -> int:
    with hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_mdf_pages_request_review_claim_and_proof(hub: Hub) -> None:
    silver = partner_client(hub, "Silverline", "silver")
    alpha = partner_client(hub, "Alphacorp", "gold")
    beta = partner_client(hub, "Betamax", "gold")
    with signed_in(hub, "ada@ops.example", "admin") as admin, silver, alpha, beta:
        # ineligible: the page names what is missing; a request is refused with it, nothing stored
        page = silver.get("/portal/mdf")
        assert page.status_code == 200 and "An MDF request requires: tier must be one of gold" in page.text
        refused = form_post(silver, "/portal/mdf/requests", activity="Booth", amount="100.00", currency="EUR")
        assert refused.status_code == 403 and "tier must be one of gold" in refused.text
        assert count(hub, MdfRequest) == 0

        # eligible: the request waits for a person; the budget shows what is left
        sent = form_post(alpha, "/portal/mdf/requests", activity="Trade fair", amount="2000.00", currency="EUR")
        assert sent.status_code == 303, sent.text
        page = alpha.get("/portal/mdf").text
        assert "Trade fair" in page and "s-pending" in page and "500.00 EUR" in page
        over = form_post(alpha, "/portal/mdf/requests", activity="Ads", amount="500.01", currency="EUR")
        assert over.status_code == 422 and "500.00 EUR left" in over.text
        with hub.sessions() as s:
            request_id = s.scalars(select(MdfRequest.id)).one()

        # the console's queue: an admin approves with a reason, audited with the operator's name
        queue = admin.get("/console/queues/mdf_requests")
        assert queue.status_code == 200 and "Trade fair" in queue.text and "2,000.00 EUR" in queue.text
        token = csrf_of(queue.text)
        with signed_in(hub, "vic@ops.example", "viewer") as viewer:  # a viewer looks, never decides
            seen = viewer.get("/console/queues/mdf_requests")
            assert "Trade fair" in seen.text and "viewer: read only" in seen.text
            refused_viewer = viewer.post(
                f"/console/queues/mdf_requests/{request_id}/approve",
                data={"csrf": csrf_of(seen.text), "reason": "looks fine"},
                follow_redirects=False,
            )
            assert refused_viewer.status_code == 403
        with hub.sessions() as s:
            assert s.get(MdfRequest, request_id).status == "pending"  # type: ignore[union-attr]
        assert (
            admin.post(
                f"/console/queues/mdf_requests/{request_id}/approve", data={"csrf": token, "reason": ""}
            ).status_code
            == 400
        )
        done = admin.post(
            f"/console/queues/mdf_requests/{request_id}/approve",
            data={"csrf": token, "reason": "fits the plan"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        with hub.sessions() as s:
            [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "mdf_request.approve"))
            assert (entry.actor, entry.after["reason"]) == ("operator:ada@ops.example", "fits the plan")

        # the claim form: multipart, CSRF checked, proof checked by content
        assert 'enctype="multipart/form-data"' in alpha.get("/portal/mdf").text
        assert claim_post(alpha, request_id, "100.00", [("a.pdf", PDF)], csrf=False).status_code == 403
        disguised = claim_post(alpha, request_id, "100.00", [("invoice.pdf", b"<html><script>x</script></html>")])
        assert disguised.status_code == 422 and "not a PDF, PNG, JPEG file by its content" in disguised.text
        too_big = claim_post(alpha, request_id, "100.00", [("a.pdf", PDF + b"0" * 5000)])
        assert too_big.status_code == 422 and "larger than 4096 bytes" in too_big.text
        huge = claim_post(alpha, request_id, "100.00", [("a.pdf", PDF + b"0" * 200_000)])
        assert huge.status_code == 413
        with TestClient(build_app(hub)) as nobody:
            anonymous = nobody.post(
                f"/portal/mdf/requests/{request_id}/claims", files=[("files", ("a.pdf", PDF))], follow_redirects=False
            )
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin")
        assert claim_post(beta, request_id, "100.00", [("a.pdf", PDF)]).status_code == 404  # not beta's
        assert count(hub, MdfClaim) == 0 and count(hub, MdfProof) == 0
        ok = claim_post(alpha, request_id, "1999.99", [("booth.pdf", PDF), ("photo.png", PNG)])
        assert ok.status_code == 303, ok.text
        page = alpha.get("/portal/mdf").text
        names = re.findall(r'href="/portal/mdf/proofs/([^"]+)"', page)
        assert len(names) == 2 and "booth.pdf" in page

        # the proof: an attachment with nosniff, to its own partner and operators only
        own = alpha.get(f"/portal/mdf/proofs/{names[0]}")
        assert own.status_code == 200 and own.content in (PDF, PNG)
        assert own.headers["content-disposition"].startswith("attachment;")
        assert own.headers["x-content-type-options"] == "nosniff"
        assert beta.get(f"/portal/mdf/proofs/{names[0]}").status_code == 404
        assert admin.get(f"/console/mdf/proofs/{names[0]}").content == own.content
        assert alpha.get(f"/console/mdf/proofs/{names[0]}").status_code == 404  # a partner user is no operator

        # the claims queue: the admin approves; a payable ledger entry for the next payout run
        with hub.sessions() as s:
            claim_id = s.scalars(select(MdfClaim.id)).one()
        claims = admin.get("/console/queues/mdf_claims")
        assert "booth.pdf" in claims.text and "1,999.99 EUR" in claims.text
        done = admin.post(
            f"/console/queues/mdf_claims/{claim_id}/approve",
            data={"csrf": csrf_of(claims.text), "reason": "photos and invoice match"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        with hub.sessions() as s:
            entries = [(e.kind, e.amount_minor, e.currency, e.status) for e in s.scalars(select(LedgerEntry))]
        assert entries == [("mdf", 199999, "EUR", "approved")]
        assert "s-approved" in alpha.get("/portal/mdf").text
        # the dashboard's MDF figure: this quarter's budget used, per currency
        block = admin.get("/console").text.split('id="mdf-kpis"', 1)[1].split("</section>", 1)[0]
        row = block.split('data-currency="EUR"', 1)[1].split("</tr>", 1)[0]
        cells = [c.split("</td>", 1)[0] for c in row.split("<td>")[1:]]
        assert cells == ["EUR", "2,000.00 EUR", "2,000.00 EUR", "1,999.99 EUR"], row  # requested, approved, claimed
