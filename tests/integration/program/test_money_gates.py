"""What always waits for a person, whatever the amounts (issue 12, item 1): a payout within 30
days of a change to the partner's payout account (an operator linking another Connect account,
or Stripe reporting other bank accounts in ``account.updated``), a payout holding a manual ledger
change; the approver is a named person (``--by`` on the CLI, ``by`` in the admin API), stored on
the payout and in the audit, and never the person who made a manual change inside that payout.

The program file auto-approves USD payouts up to 1,000 (``test_payouts.PROGRAM``), so each payout
here would go out without a person but for the rule under test. Decisions go through the real
admin API app and the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.api.app import create_app
from hub.pipeline.store import utcnow
from hub.program import payments
from hub.program import tick as program_tick
from hub.program.models import AuditEntry, LedgerEntry, Partner
from hub.runtime.context import Hub
from tests.integration.program.test_payouts import (  # noqa: F401  (fixtures)
    RUN_AT,
    add_partner,
    hub,
    payout_of,
    program_text,
    transfer_row,
)

AUTH = {"Authorization": "Bearer admin-token-made-up-32-characters-or-more"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=dict(os.environ), capture_output=True, text=True, timeout=120
    )


def account_event(account_id: str, *fingerprints: str, email: str | None = None) -> dict[str, Any]:
    """A Connect ``account.updated`` event as Stripe sends it (API version 2023-08-16)."""
    account: dict[str, Any] = {
        "id": account_id,
        "object": "account",
        "capabilities": {"transfers": "active"},
        "payouts_enabled": True,
        "external_accounts": {
            "object": "list",
            "data": [
                {"id": f"ba_{n}", "object": "bank_account", "fingerprint": fp, "last4": "6789"}
                for n, fp in enumerate(fingerprints)
            ],
        },
    }
    if email is not None:
        account["email"] = email
    return {
        "id": f"evt_{account_id}_{len(fingerprints)}",
        "object": "event",
        "type": "account.updated",
        "account": account_id,
        "created": 1_700_000_100,
        "data": {"object": account},
    }


def stripe_event(h: Hub, event: dict[str, Any]) -> list[str]:
    """Apply one Stripe event as the worker does: the real connector's reading, then the domain."""
    from connectors.stripe import StripeConnector

    connector = StripeConnector(h.settings.stripe)
    with h.sessions() as s, s.begin():
        return [payments.apply(s, h, "stripe", change) for change in connector.payment_changes(event)]


def test_a_payout_within_30_days_of_a_payout_account_change_waits_for_a_person(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    relinked = add_partner(h, "Relinked", 6_000, stripe=True)  # USD 60: auto-approved but for the change
    new_bank = add_partner(h, "NewBank", 6_000, stripe=True)
    old_change = add_partner(h, "OldChange", 6_000, stripe=True)
    steady = add_partner(h, "Steady", 6_000, stripe=True)
    # an operator links another Connect account (the CLI, as an admin would)
    result = run_cli("partners", "set-stripe-account", "relinked@partners.example", "acct_relinked2")
    assert result.returncode == 0, result.stderr
    # Stripe reports the account's bank accounts: first what they are, later another one
    assert stripe_event(h, account_event("acct_newbank", "fpAAA")) == ["account:ready"]
    with h.sessions() as s, s.begin():
        s.get(Partner, new_bank).payout_account_changed_at = RUN_AT - timedelta(days=45)
    assert stripe_event(h, account_event("acct_newbank", "fpAAA")) == ["account:ready"]  # no change
    with h.sessions() as s:
        assert s.get(Partner, new_bank).payout_account_changed_at == RUN_AT - timedelta(days=45)
    stripe_event(h, account_event("acct_newbank", "fpBBB"))  # the bank account changed
    with h.sessions() as s, s.begin():
        s.get(Partner, old_change).payout_account_changed_at = RUN_AT - timedelta(days=31)
        s.get(Partner, relinked).payouts_enabled = True
        assert s.get(Partner, new_bank).payout_fingerprints == ["fpBBB"]

    program_tick.tick(h, RUN_AT)
    for partner in (relinked, new_bank):
        payout = payout_of(h, partner)
        assert payout.status == "review", payout.reason
        assert "payout account changed" in (payout.reason or "") and "30 days" in (payout.reason or "")
        assert transfer_row(h, payout.id) is None  # nothing owed to Stripe
    assert payout_of(h, old_change).status == "sending"  # 31 days ago: the ordinary rules
    assert payout_of(h, steady).status == "sending"
    with h.sessions() as s:
        audit = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.subject == f"partner:{new_bank}"))]
    assert audit == ["partner.payout_details", "partner.payout_details"]


def test_a_manual_adjustment_waits_for_a_person_who_did_not_make_it(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    partner = add_partner(h, "Adjusted", 6_000, stripe=True)  # USD 60, paid before
    with TestClient(create_app(h)) as client:
        r = client.post(
            "/api/v1/admin/ledger",
            headers=AUTH,
            json={"partner_id": partner, "amount_minor": 2_500, "currency": "USD", "reason": "bonus"},
        )
        assert r.status_code == 422  # who made it must be named
        r = client.post(
            "/api/v1/admin/ledger",
            headers=AUTH,
            json={"partner_id": partner, "amount_minor": 2_500, "currency": "USD", "reason": "bonus", "by": "Grace"},
        )
        assert r.status_code == 201 and r.json()["by"] == "Grace"
        adjustment = r.json()["id"]
    program_tick.tick(h, RUN_AT)
    payout = payout_of(h, partner)
    assert payout.status == "review" and payout.amount_minor == 8_500
    assert f"manual ledger change (#{adjustment} by Grace)" in (payout.reason or "")
    assert transfer_row(h, payout.id) is None

    # four eyes: the person who made the adjustment cannot approve it, by CLI or API
    refused = run_cli("payouts", "approve", str(payout.id), "--by", "grace", "--reason", "mine")
    assert refused.returncode == 3 and "four eyes" in refused.stderr, refused.stderr
    assert run_cli("payouts", "approve", str(payout.id)).returncode == 2  # --by is required
    with TestClient(create_app(h)) as client:
        r = client.post(f"/api/v1/admin/payouts/{payout.id}/approve", headers=AUTH, json={"reason": "ok"})
        assert r.status_code == 422  # no approver named
        r = client.post(
            f"/api/v1/admin/payouts/{payout.id}/approve", headers=AUTH, json={"reason": "ok", "by": " Grace "}
        )
        assert r.status_code == 409 and "four eyes" in r.json()["detail"]
        assert payout_of(h, partner).status == "review"
        r = client.post(
            f"/api/v1/admin/payouts/{payout.id}/approve", headers=AUTH, json={"reason": "checked", "by": "Ada"}
        )
        assert r.status_code == 200 and r.json()["status"] == "sending" and r.json()["decided_by"] == "Ada"
    assert transfer_row(h, payout.id) is not None
    with h.sessions() as s:
        [approval] = s.scalars(select(AuditEntry).where(AuditEntry.action == "payout.approve")).all()
        assert (approval.actor, approval.subject) == ("Ada", f"payout:{payout.id}")
        [adjust] = s.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.adjust")).all()
        assert adjust.actor == "Grace"


def test_an_override_by_hand_and_a_cli_adjustment_name_their_person(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    partner = add_partner(h, "Overridden", 6_000, stripe=True)
    with h.sessions() as s:
        entry_id = s.scalars(select(LedgerEntry.id).where(LedgerEntry.partner_id == partner)).one()
    with TestClient(create_app(h)) as client:
        r = client.post(
            f"/api/v1/admin/ledger/{entry_id}", headers=AUTH, json={"amount_minor": 7_000, "reason": "deal resized"}
        )
        assert r.status_code == 422  # no person named
        r = client.post(
            f"/api/v1/admin/ledger/{entry_id}",
            headers=AUTH,
            json={"amount_minor": 7_000, "reason": "deal resized", "by": "Linus"},
        )
        assert r.status_code == 200 and r.json()["by"] == "Linus"
    done = run_cli(
        "ledger",
        "adjust",
        str(partner),
        "--amount-minor",
        "-500",
        "--currency",
        "USD",
        "--by",
        "Margaret",
        "--reason",
        "fee",
    )
    assert done.returncode == 0 and "by Margaret" in done.stdout, done.stderr
    program_tick.tick(h, RUN_AT)
    payout = payout_of(h, partner)
    assert payout.status == "review" and payout.amount_minor == 6_500
    assert "manual ledger change" in (payout.reason or "")
    for person in ("Linus", "Margaret"):
        refused = run_cli("payouts", "approve", str(payout.id), "--by", person)
        assert refused.returncode == 3 and "four eyes" in refused.stderr
    approved = run_cli("payouts", "approve", str(payout.id), "--by", "Barbara", "--reason", "both checked")
    assert approved.returncode == 0 and "sending" in approved.stdout, approved.stderr
    assert payout_of(h, partner).decided_by == "Barbara"


def test_account_change_stamp_is_set_when_an_operator_links_an_account(hub: Hub) -> None:  # noqa: F811 (the imported fixture)
    h = hub
    partner = add_partner(h, "Linked", 6_000, stripe=False)
    with TestClient(create_app(h)) as client:
        r = client.put(
            f"/api/v1/admin/partners/{partner}/stripe-account", headers=AUTH, json={"stripe_account_id": "acct_linked"}
        )
        assert r.status_code == 200, r.text
    with h.sessions() as s:
        changed = s.get(Partner, partner).payout_account_changed_at
    assert changed is not None and utcnow() - changed < timedelta(minutes=5)
