"""The payout run: one payout above the auto-approval limit waits for an admin (then goes out),
one transfer times out (unknown: settled by a lookup), one is lost and settled by a person as
failed, one partner without a Stripe account is paid by hand from the CSV export. Which payouts
wait for a person: unlisted currencies, amounts above ``auto_approve_up_to``, a partner's first
payout, everything past the run's ``auto_approve_run_cap``; the shipped program file reviews all.

Transfers go through the outbox contract ``create_transfer`` to a small fake Stripe connector
registered in this test's hub only (the Stripe connector is another helper's work); the outbox
rows are carried out by the real outbox job (``run_outbox_item``), the decisions are made
through the real CLI (``partnerhub payouts ...``) and admin API app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.errors import FatalError, OutcomeUnknown
from hub.pipeline.models import OutboxItem, WorkState
from hub.pipeline.store import utcnow
from hub.program import payouts
from hub.program import tick as program_tick
from hub.program.commissions import settle_deal
from hub.program.models import (
    AuditEntry,
    Deal,
    LedgerEntry,
    Notification,
    Partner,
    Payout,
)
from hub.runtime.context import Hub
from hub.runtime.jobs import run_outbox_item
from tests.support.program_hub import cli, open_program_hub

RUN_AT = datetime(2026, 12, 15, 8, 0, tzinfo=UTC)
PROGRAM = """\
version: 1
commissions:
  - name: standard
    percent: "10"
    holding_days: 0
payouts:
  day_of_month: 15
  minimum: {USD: "50"}
  auto_approve_up_to: {USD: "1000"}
  auto_approve_run_cap: {USD: "5000"}
"""


class FakeStripe:
    """The Stripe connector's outbox side, as the contract says: ``create_transfer(payload,
    idempotency_key=)`` -> ``{transfer_id, amount_minor, currency, existing}``;
    ``find_transfers(payout_id)``. ``answer_lost``: payout ids whose transfer is made but whose
    answer never arrives; ``request_lost``: ids whose request never reaches Stripe."""

    name = "stripe"
    actions = frozenset({"create_transfer"})

    def __init__(self) -> None:
        self.transfers: dict[str, dict[str, Any]] = {}  # idempotency key -> transfer
        self.answer_lost: set[int] = set()
        self.request_lost: set[int] = set()
        self.refused: set[int] = set()
        self.calls: list[tuple[dict[str, Any], str]] = []

    def create_transfer(self, payload: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        assert set(payload) == {"payout_id", "destination", "amount_minor", "currency", "description"}, payload
        assert isinstance(payload["amount_minor"], int) and payload["amount_minor"] > 0
        assert payload["currency"] == payload["currency"].lower() and len(payload["currency"]) == 3
        assert payload["destination"].startswith("acct_")
        assert idempotency_key == f"payout-{payload['payout_id']}"
        self.calls.append((payload, idempotency_key))
        if payload["payout_id"] in self.refused:
            raise FatalError("Stripe: insufficient available balance (400 balance_insufficient)")
        if payload["payout_id"] in self.request_lost:
            raise OutcomeUnknown("timed out before Stripe answered")
        existing = idempotency_key in self.transfers
        transfer = self.transfers.setdefault(
            idempotency_key,
            {
                "transfer_id": f"tr_{len(self.transfers) + 1:04d}",
                "payout_id": payload["payout_id"],
                "amount_minor": payload["amount_minor"],
                "currency": payload["currency"],
            },
        )
        if payload["payout_id"] in self.answer_lost:
            raise OutcomeUnknown("read timeout after the request was sent")
        return {
            "transfer_id": transfer["transfer_id"],
            "amount_minor": transfer["amount_minor"],
            "currency": transfer["currency"],
            "existing": existing,
        }

    def outbox_actions(self) -> dict[str, Any]:
        return {"create_transfer": self.create_transfer}

    def find_transfers(self, payout_id: int) -> list[dict[str, Any]]:
        return [t for t in self.transfers.values() if t["payout_id"] == payout_id]

    def close(self) -> None:
        pass


@pytest.fixture
def program_text() -> str | None:
    """The test's program file (parametrize to change it); None: the shipped one."""
    return PROGRAM


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, program_text: str | None):  # type: ignore[no-untyped-def]
    h = open_program_hub(
        database_url,
        redis_url,
        tmp_path,
        monkeypatch,
        program=program_text,
        admin_token="admin-token-made-up-32-characters-or-more",
    )
    h.connectors["stripe"] = FakeStripe()
    yield h
    h.close()


def add_partner(
    h: Hub, name: str, earned_usd_minor: int, *, stripe: bool, paid_before: bool = True, currency: str = "USD"
) -> int:
    """A partner whose won deal earned 10 % of the amount given (in ``currency``), approved
    before the run. ``paid_before``: the partner was paid once already (a payout of the previous
    period), so this run's payout is not its first."""
    with h.sessions() as s, s.begin():
        now = datetime(2026, 11, 20, tzinfo=UTC)
        p = Partner(
            name=name,
            email=f"{name.lower()}@partners.example",
            status="active",
            created_at=now,
            stripe_account_id=f"acct_{name.lower()}" if stripe else None,
            payouts_enabled=stripe,
        )
        s.add(p)
        s.flush()
        deal = Deal(
            source="hubspot",
            external_id=f"deal-{name}",
            properties={},
            property_versions={},
            version_ms=0,
            deleted=False,
            status="closed_won",
            amount_minor=earned_usd_minor * 10,
            currency=currency,
            partner_id=p.id,
            created_at=now,
            updated_at=now,
        )
        s.add(deal)
        s.flush()
        settle_deal(s, h.program, deal, p, now=now)
        if paid_before:
            s.add(
                Payout(
                    partner_id=p.id,
                    currency=currency,
                    amount_minor=10_000,
                    period="2026-11",
                    status="paid",
                    method="stripe" if stripe else "manual",
                    created_at=now,
                    updated_at=now,
                    paid_at=now,
                )
            )
        return p.id


def payout_of(h: Hub, partner_id: int) -> Payout:
    """The partner's payout of the run under test (``RUN_AT``'s period)."""
    with h.sessions() as s:
        return s.scalars(select(Payout).where(Payout.partner_id == partner_id, Payout.period == "2026-12")).one()


def transfer_row(h: Hub, payout_id: int) -> OutboxItem | None:
    with h.sessions() as s:
        return s.scalars(select(OutboxItem).where(OutboxItem.natural_key == f"transfer:payout:{payout_id}")).first()


def emails(h: Hub, partner_id: int) -> list[str]:
    with h.sessions() as s:
        return [
            n.kind
            for n in s.scalars(
                select(Notification).where(Notification.partner_id == partner_id).order_by(Notification.id)
            )
        ]


def entry_states(h: Hub, partner_id: int) -> list[str]:
    with h.sessions() as s:
        return [e.status for e in s.scalars(select(LedgerEntry).where(LedgerEntry.partner_id == partner_id))]


def test_payout_run_review_timeout_lookup_person_and_manual(hub: Hub) -> None:
    h, stripe = hub, hub.connectors["stripe"]
    small = add_partner(h, "Small", 60_000, stripe=True)  # USD 600: goes out, answer lost
    big = add_partner(h, "Big", 150_000, stripe=True)  # USD 1,500: above auto_approve_up_to
    lost = add_partner(h, "Lost", 70_000, stripe=True)  # USD 700: request lost
    manual = add_partner(h, "Manual", 80_000, stripe=False)  # USD 800: no Stripe account
    tiny = add_partner(h, "Tiny", 4_000, stripe=True)  # USD 40: under the minimum

    before = program_tick.tick(h, datetime(2026, 12, 14, tzinfo=UTC))
    assert before["payout_run"] is None  # not the 15th yet
    summary = program_tick.tick(h, RUN_AT)
    assert len(summary["payout_run"]["payouts"]) == 4
    assert program_tick.tick(h, RUN_AT)["payout_run"] is None  # once per period
    assert entry_states(h, tiny) == ["approved"]  # carried over
    p_small, p_big, p_lost, p_manual = (payout_of(h, x) for x in (small, big, lost, manual))
    stripe.answer_lost.add(p_small.id)
    stripe.request_lost.add(p_lost.id)

    assert (p_small.status, p_big.status, p_lost.status) == ("sending", "review", "sending")
    assert (p_manual.status, p_manual.method) == ("approved", "manual")
    assert "no payouts-enabled Stripe account" in p_manual.reason
    assert transfer_row(h, p_big.id) is None  # people decide money first
    assert entry_states(h, big) == ["in_payout"]

    # the transfers go out through the outbox; two outcomes are unknown
    for payout in (p_small, p_lost):
        assert run_outbox_item(h, transfer_row(h, payout.id).id) == WorkState.UNKNOWN
    assert transfer_row(h, p_small.id).payload == {
        "payout_id": p_small.id,
        "destination": "acct_small",
        "amount_minor": 60_000,
        "currency": "usd",
        "description": f"Partner payout #{p_small.id} (2026-12)",
    }
    counts = program_tick.tick(h, RUN_AT)["transfers"]
    assert counts == {"unknown": 2, "settled": 1, "failed": 0}  # Small found by the lookup
    assert payout_of(h, small).status == "paid" and payout_of(h, small).transfer_id == "tr_0001"
    assert entry_states(h, small) == ["paid"]
    assert payout_of(h, lost).status == "unknown"  # nothing found: waits for a person
    assert len([c for c in stripe.calls if c[0]["payout_id"] == p_lost.id]) == 1  # never resent

    # an admin: the review queue, approval, the unknown one settled as failed
    queue = json.loads(cli("payouts", "list", "--status", "review", "--json").stdout)
    assert [(q["id"], q["amount_minor"]) for q in queue] == [(p_big.id, 150_000)]
    assert (
        "sending"
        in cli("payouts", "approve", str(p_big.id), "--by", "Ada Lovelace", "--reason", "checked the deal").stdout
    )
    assert run_outbox_item(h, transfer_row(h, p_big.id).id) == WorkState.DONE
    assert payout_of(h, big).status == "paid" and entry_states(h, big) == ["paid"]
    cli("payouts", "settle", str(p_lost.id), "--failed", "--reason", "no transfer in the Stripe dashboard")
    assert payout_of(h, lost).status == "failed"
    assert entry_states(h, lost) == ["approved"]  # back in the balance for the next run
    assert transfer_row(h, p_lost.id).state == WorkState.DONE  # a replay can never send it again

    # manual payment: CSV, then marked paid by hand
    rows = list(csv.DictReader(io.StringIO(cli("payouts", "export", "--csv").stdout)))
    assert [(r["payout_id"], r["partner_email"], r["amount"], r["currency"]) for r in rows] == [
        (str(p_manual.id), "manual@partners.example", "800.00", "USD")
    ]
    cli("payouts", "mark-paid", str(p_manual.id), "--reference", "SEPA-2026-12-001")
    assert payout_of(h, manual).status == "paid" and entry_states(h, manual) == ["paid"]

    # partners were told of each step, once
    assert emails(h, small) == ["payout_scheduled", "payout_paid"]
    assert emails(h, big) == ["payout_scheduled", "payout_paid"]
    assert emails(h, lost) == ["payout_scheduled", "payout_failed"]
    assert emails(h, manual) == ["payout_scheduled", "payout_paid"]
    with h.sessions() as s:
        audit = [
            (a.action, a.subject)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action != "program.load").order_by(AuditEntry.id))
        ]
    assert payout_of(h, big).decided_by == "Ada Lovelace"
    assert audit == [
        ("payout.approve", f"payout:{p_big.id}"),
        ("payout.settle", f"payout:{p_lost.id}"),
        ("payout.settle", f"payout:{p_manual.id}"),
    ]


def test_transfer_reversal_becomes_a_negative_adjustment_and_an_alert(hub: Hub) -> None:
    from hub.program.facts import record_transfer_reversal

    h = hub
    partner = add_partner(h, "Rev", 60_000, stripe=True)
    program_tick.tick(h, RUN_AT)
    payout = payout_of(h, partner)
    assert run_outbox_item(h, transfer_row(h, payout.id).id) == WorkState.DONE
    for _ in range(2):  # the same Stripe event delivered twice
        with h.sessions() as s, s.begin():
            record_transfer_reversal(
                s,
                h,
                payout_id=payout.id,
                transfer_id="tr_0001",
                amount_reversed_minor=2_500,
                currency="usd",
                event_id="evt_1",
            )
    with h.sessions() as s:
        adj = [
            (e.kind, e.amount_minor, e.currency, e.status)
            for e in s.scalars(
                select(LedgerEntry).where(LedgerEntry.partner_id == partner, LedgerEntry.kind == "adjustment")
            )
        ]
    assert adj == [("adjustment", -2_500, "USD", "approved")]
    assert any(a.key == "transfer_reversed:tr_0001" for a in _alerts(h))


def _alerts(h: Hub) -> list[Any]:
    from hub.pipeline.models import Alert

    with h.sessions() as s:
        return list(s.scalars(select(Alert)))


def test_admin_overrides_are_audited(hub: Hub) -> None:
    from fastapi.testclient import TestClient

    from hub.api.app import create_app

    h = hub
    partner = add_partner(h, "Ovr", 10_000, stripe=False)
    with h.sessions() as s:
        entry_id = s.scalars(select(LedgerEntry.id).where(LedgerEntry.partner_id == partner)).one()
    auth = {"Authorization": "Bearer admin-token-made-up-32-characters-or-more"}
    with TestClient(create_app(h)) as client:
        r = client.post(
            f"/api/v1/admin/ledger/{entry_id}",
            headers=auth,
            json={"amount_minor": 12_345, "reason": "negotiated bonus", "by": "Grace Hopper"},
        )
        assert r.status_code == 200 and r.json()["amount_minor"] == 12_345
        r = client.post(
            f"/api/v1/admin/ledger/{entry_id}",
            headers=auth,
            json={"status": "paid", "reason": "x", "by": "Grace Hopper"},
        )
        assert r.status_code == 422  # not a state a person sets by hand
        r = client.post(f"/api/v1/admin/partners/{partner}/tier", headers=auth, json={"tier": "gold", "reason": "QBR"})
        assert r.json() == {"partner_id": partner, "tier": "gold", "changed": True}
        r = client.post(
            "/api/v1/admin/ledger",
            headers=auth,
            json={
                "partner_id": partner,
                "amount_minor": -500,
                "currency": "usd",
                "reason": "fee",
                "by": "Grace Hopper",
            },
        )
        assert r.status_code == 201 and r.json()["currency"] == "USD"
        assert (
            client.post(
                "/api/v1/admin/payouts/999/approve", headers=auth, json={"reason": "x", "by": "Grace"}
            ).status_code
            == 404
        )
    with h.sessions() as s:
        audit = [
            (a.actor, a.action, (a.before or {}).get("amount_minor"), (a.after or {}).get("amount_minor"))
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action != "program.load").order_by(AuditEntry.id))
        ]
        assert audit[0] == ("Grace Hopper", "ledger.override", 10_000, 12_345)
        assert [a[1] for a in audit] == ["ledger.override", "partner.tier", "ledger.adjust"]
        assert s.get(Partner, partner).tier == "gold"
        assert utcnow()  # the audit rows carry their time


def test_partner_statement_shows_ledger_balances_and_payouts(hub: Hub) -> None:
    from fastapi.testclient import TestClient

    from hub.api.app import create_app
    from hub.program.partners import add_partner as new_partner

    h = hub
    partner = add_partner(h, "Stmt", 60_000, stripe=True, paid_before=False)  # its first payout: reviewed
    with h.sessions() as s, s.begin():
        key = new_partner(s, name="Other", email="other@partners.example").api_key
        row = s.get(Partner, partner)
        from hub.program.partners import rotate_key

        mine = rotate_key(s, row)
    program_tick.tick(h, RUN_AT)
    assert payout_of(h, partner).status == "review"
    with h.sessions() as s, s.begin():
        payouts.approve(s, h, payout_of(h, partner).id, actor="admin", reason="first payout checked")
    assert run_outbox_item(h, transfer_row(h, payout_of(h, partner).id).id) == WorkState.DONE
    with TestClient(create_app(h)) as client:
        body = client.get("/api/v1/statement", headers={"Authorization": f"Bearer {mine}"}).json()
        other = client.get("/api/v1/statement", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["balances"] == {"USD": {"pending": 0, "approved": 0, "paid": 60_000}}
    assert [(e["kind"], e["amount"], e["currency"], e["status"], e["rule"]) for e in body["entries"]] == [
        ("commission", "600.00", "USD", "paid", "standard")
    ]
    assert [(p["amount"], p["status"], p["period"]) for p in body["payouts"]] == [("600.00", "paid", "2026-12")]
    assert other["entries"] == [] and other["payouts"] == [] and other["balances"] == {}


def test_a_refused_transfer_fails_the_payout_only_when_stripe_holds_none(hub: Hub) -> None:
    h, stripe = hub, hub.connectors["stripe"]
    refused = add_partner(h, "Refused", 60_000, stripe=True)
    odd = add_partner(h, "Odd", 70_000, stripe=True)
    program_tick.tick(h, RUN_AT)
    p_refused, p_odd = payout_of(h, refused), payout_of(h, odd)
    stripe.refused.update({p_refused.id, p_odd.id})
    # Stripe holds a transfer for "Odd" already (another amount): never failed automatically
    stripe.transfers["elsewhere"] = {
        "transfer_id": "tr_odd",
        "payout_id": p_odd.id,
        "amount_minor": 1,
        "currency": "usd",
    }
    for payout in (p_refused, p_odd):
        assert run_outbox_item(h, transfer_row(h, payout.id).id) == WorkState.DEAD
    counts = program_tick.tick(h, RUN_AT)["transfers"]
    assert counts == {"unknown": 1, "settled": 0, "failed": 1}
    assert payout_of(h, refused).status == "failed" and entry_states(h, refused) == ["approved"]
    assert "insufficient" in payout_of(h, refused).reason
    assert emails(h, refused) == ["payout_scheduled", "payout_failed"]
    assert payout_of(h, odd).status == "unknown" and entry_states(h, odd) == ["in_payout"]
    assert transfer_row(h, p_refused.id).state == WorkState.DONE  # `replay --dead` cannot resend it


# -- which payouts wait for a person -------------------------------------------------------------------


def run_and_statuses(h: Hub, *partners: int) -> list[tuple[str, str | None]]:
    program_tick.tick(h, RUN_AT)
    return [(payout_of(h, p).status, payout_of(h, p).reason) for p in partners]


def test_a_payout_at_the_limit_is_auto_approved_and_one_cent_above_is_reviewed(hub: Hub) -> None:
    h = hub
    at = add_partner(h, "At", 100_000, stripe=True)  # USD 1,000.00: exactly auto_approve_up_to
    above = add_partner(h, "Above", 100_001, stripe=True)  # USD 1,000.01
    (s_at, r_at), (s_above, r_above) = run_and_statuses(h, at, above)
    assert (s_at, r_at) == ("sending", None)
    assert transfer_row(h, payout_of(h, at).id) is not None
    assert s_above == "review" and "auto_approve_up_to" in (r_above or "")
    assert transfer_row(h, payout_of(h, above).id) is None


def test_a_currency_not_listed_is_always_reviewed(hub: Hub) -> None:
    h = hub
    eur = add_partner(h, "Euro", 1_000, stripe=True, currency="EUR")  # EUR 10: tiny, but EUR is not listed
    [(status, reason)] = run_and_statuses(h, eur)
    assert status == "review" and "EUR is not listed" in (reason or "")
    assert transfer_row(h, payout_of(h, eur).id) is None
    with h.sessions() as s:
        assert (
            s.scalars(select(OutboxItem).where(OutboxItem.connector == "stripe")).all() == []
        )  # nothing owed to Stripe


def test_a_partners_first_payout_waits_for_a_person(hub: Hub) -> None:
    h = hub
    new = add_partner(h, "New", 6_000, stripe=True, paid_before=False)  # USD 60, well under the limit
    known = add_partner(h, "Known", 6_000, stripe=True)
    (s_new, r_new), (s_known, _) = run_and_statuses(h, new, known)
    assert s_new == "review" and "first payout" in (r_new or "")
    assert transfer_row(h, payout_of(h, new).id) is None
    assert s_known == "sending"


@pytest.mark.parametrize("program_text", [PROGRAM.replace('{USD: "5000"}', '{USD: "1500"}')])
def test_past_the_run_cap_the_rest_waits_for_review(hub: Hub) -> None:
    h = hub
    first, second, third = (
        add_partner(h, n, a, stripe=True) for n, a in (("C1", 60_000), ("C2", 70_000), ("C3", 80_000))
    )
    statuses = run_and_statuses(h, first, second, third)
    assert [s for s, _ in statuses] == ["sending", "sending", "review"]  # 600 + 700 = 1,300; + 800 > 1,500
    assert "auto_approve_run_cap" in (statuses[2][1] or "")


@pytest.mark.parametrize("program_text", [PROGRAM.replace('  auto_approve_run_cap: {USD: "5000"}\n', "")])
def test_a_currency_without_a_run_cap_gets_no_auto_approval(hub: Hub) -> None:
    h = hub
    small = add_partner(h, "NoCap", 6_000, stripe=True)
    [(status, reason)] = run_and_statuses(h, small)
    assert status == "review" and "auto_approve_run_cap" in (reason or "")


@pytest.mark.parametrize("program_text", [None])
def test_the_shipped_program_file_reviews_a_payout_in_any_currency(hub: Hub) -> None:
    h = hub
    partners = [
        add_partner(h, f"Shipped{code}", amount, stripe=True, currency=code)
        for code, amount in (("USD", 100), ("EUR", 5_000), ("GBP", 100_000), ("JPY", 500))
    ]
    with h.sessions() as s, s.begin():  # past their holding period
        for entry in s.scalars(select(LedgerEntry)):
            entry.status = "approved"
    statuses = run_and_statuses(h, *partners)
    assert [s for s, _ in statuses] == ["review"] * 4
    with h.sessions() as s:
        assert s.scalars(select(OutboxItem).where(OutboxItem.connector == "stripe")).all() == []
