"""``partnerhub program diff --since 90d FILE`` and ``POST /api/v1/admin/program/diff`` (issue 12,
item 5): the period's commissions recomputed as if an edited program file had been in force,
with each partner's tier at the time (the tier history), per partner and currency, writing
nothing; on SQLite and PostgreSQL, through the real CLI and the real app."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from hub.pipeline.store import Base, upgrade, utcnow
from hub.program import tiers
from hub.program.commissions import settle_deal
from hub.program.models import AuditEntry, Deal, LedgerEntry, Partner, PartnerTierChange, Referral
from hub.runtime.context import Hub
from tests.support.program_hub import cli, open_program_hub

TOKEN = "admin-token-made-up-for-the-program-diff-tests"
IN_FORCE = """\
version: 1
commissions:
  - name: gold
    tier: gold
    percent: "20"
  - name: standard
    percent: "10"
"""
EDITED = """\
version: 1
commissions:
  - name: referral bonus
    event: referral_qualified
    flat: {amount: "50", currency: USD}
  - name: gold
    tier: gold
    percent: "25"
  - name: standard
    percent: "12"
"""


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    h = open_program_hub(database_url, redis_url, tmp_path, monkeypatch, program=IN_FORCE, admin_token=TOKEN)
    yield h
    h.close()


def won(h: Hub, partner_id: int, amount_minor: int, at: datetime, name: str) -> None:
    """A deal won at ``at``, its commission settled then under the file in force."""
    with h.sessions() as s, s.begin():
        deal = Deal(
            source="hubspot",
            external_id=name,
            name=name,
            properties={},
            property_versions={},
            version_ms=0,
            deleted=False,
            status="closed_won",
            amount_minor=amount_minor,
            currency="USD",
            partner_id=partner_id,
            created_at=at,
            updated_at=at,
        )
        s.add(deal)
        s.flush()
        settle_deal(s, h.program, deal, s.get(Partner, partner_id), now=at)


def history(h: Hub) -> tuple[int, int, int]:
    """(partner A, partner G, when G became gold) with ledger history over the last 200 days."""
    now = utcnow()
    became_gold = now - timedelta(days=30)
    with h.sessions() as s, s.begin():
        a = Partner(name="Acorn", email="acorn@partners.example", status="active", created_at=now - timedelta(days=300))
        g = Partner(
            name="Goldie", email="goldie@partners.example", status="active", tier="silver", created_at=a.created_at
        )
        s.add_all([a, g])
        s.flush()
        s.add(
            Referral(
                tracking_id="R-DIFF0001",
                partner_id=a.id,
                company_name="Acme",
                status="submitted",
                history=[],
                crm="hubspot",
                crm_deal_id="777",
                created_at=now - timedelta(days=20),
                updated_at=now - timedelta(days=20),
            )
        )
        ids = a.id, g.id
    won(h, ids[0], 1_000_000, now - timedelta(days=200), "old-acorn")  # before the period: not counted
    won(h, ids[0], 1_000_000, now - timedelta(days=40), "acorn")  # 10 % now
    won(h, ids[1], 1_000_000, became_gold - timedelta(days=10), "goldie-silver")  # silver then: 10 %
    with h.sessions() as s, s.begin():
        tiers.set_tier(s, s.get(Partner, ids[1]), "gold", actor="admin", reason="QBR", at=became_gold)
    won(h, ids[1], 1_000_000, became_gold + timedelta(days=5), "goldie-gold")  # gold: 20 %
    return ids[0], ids[1], 0


def row_counts(h: Hub) -> dict[str, int]:
    """Rows per table, without what a running hub writes on its own whatever a request does: the
    scheduler's program runs (the app under TestClient starts it) and the audit of a program-file
    load (``program.load``)."""
    engine = create_engine(h.settings.sqlalchemy_url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            counts = {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables
                if t.name != "program_runs"
            }
            counts["audit_log"] = conn.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action != "program.load")
            ).scalar_one()
            return counts
    finally:
        engine.dispose()


def test_diff_recomputes_the_period_with_the_tier_at_the_time_and_writes_nothing(hub: Hub, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hub.api.app import create_app

    h = hub
    a, g, _ = history(h)
    with h.sessions() as s:
        rules_in_force = [
            (e.partner_id, e.amount_minor, e.rule_snapshot["rule_name"])
            for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.id))
        ]
    assert rules_in_force == [
        (a, 100_000, "standard"),
        (a, 100_000, "standard"),
        (g, 100_000, "standard"),
        (g, 200_000, "gold"),
    ]
    edited = tmp_path / "program.edited.yaml"
    edited.write_text(EDITED)
    before = row_counts(h)

    data = json.loads(cli("program", "diff", "--since", "90d", str(edited), "--json").stdout)
    rows = {(p["partner_id"], p["currency"]): p for p in data["partners"]}
    assert {k: (r["current_minor"], r["hypothetical_minor"], r["difference_minor"]) for k, r in rows.items()} == {
        (a, "USD"): (100_000, 120_000 + 5_000, 25_000),  # 12 % instead of 10 %, plus the new referral bonus
        (g, "USD"): (300_000, 120_000 + 250_000, 70_000),  # silver then: 12 %; gold after: 25 % (not 25 % twice)
    }
    by_source = {s["source"]: s for s in data["sources"]}
    assert (
        by_source["referral:1"]["current_minor"] == 0
        and by_source["referral:1"]["hypothetical_rule"] == "referral bonus"
    )
    assert [by_source[k]["tier"] for k in ("deal:3", "deal:4")] == ["silver", "gold"]
    assert "deal:1" not in by_source  # earned before the period

    table = cli("program", "diff", "--since", "90d", str(edited)).stdout
    assert "Goldie" in table and "+$700.00" in table and "+$250.00" in table
    assert "2 partner/currency total(s) would change" in table

    # the file in force changes nothing
    same = tmp_path / "same.yaml"
    same.write_text(IN_FORCE)
    unchanged = json.loads(cli("program", "diff", "--since", "90d", str(same), "--json").stdout)
    assert [p["difference_minor"] for p in unchanged["partners"]] == [0, 0] and unchanged["sources"] == []

    # the admin API answers the same, and refuses a broken file with its line and column
    with TestClient(create_app(h)) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = client.post("/api/v1/admin/program/diff", headers=auth, json={"program": EDITED, "since": "90d"})
        assert r.status_code == 200, r.text
        assert r.json()["partners"] == data["partners"]
        bad = client.post(
            "/api/v1/admin/program/diff", headers=auth, json={"program": EDITED.replace('"12"', '"twelve"')}
        )
        assert bad.status_code == 422 and re.search(r"program\.yaml:10:\d+: ", bad.json()["detail"][0]["msg"])
        huge = client.post(
            "/api/v1/admin/program/diff", headers=auth, json={"program": EDITED, "since": "9" * 15 + "d"}
        )
        assert huge.status_code == 422
    broken = tmp_path / "broken.yaml"
    broken.write_text(EDITED.replace("percent", "pecent"))
    assert "broken.yaml:" in cli("program", "diff", str(broken), code=1).stderr

    assert row_counts(h) == before  # a hypothetical writes nothing


def test_the_tier_history_answers_for_any_time(hub: Hub) -> None:
    h = hub
    now = utcnow()
    with h.sessions() as s, s.begin():
        p = Partner(name="T", email="t@partners.example", status="active", tier="bronze", created_at=now)
        s.add(p)
        s.flush()
        assert tiers.tier_at(s, p, now) == "bronze"  # never changed: its tier now
        tiers.set_tier(s, p, "silver", actor="program", reason="Q1", at=now + timedelta(days=10))
        tiers.set_tier(s, p, "gold", actor="program", reason="Q2", at=now + timedelta(days=20))
        assert not tiers.set_tier(s, p, "gold", actor="program", reason="Q2 again")  # no change, no row
        at = [tiers.tier_at(s, p, now + timedelta(days=d)) for d in (0, 10, 15, 20, 400)]
        assert at == ["bronze", "silver", "silver", "gold", "gold"]
        assert s.scalar(select(func.count()).select_from(PartnerTierChange)) == 2


def test_the_migration_backfills_the_tier_history_from_current_tiers(sqlite_url: str) -> None:
    upgrade(sqlite_url, "0004pg")
    engine = create_engine(sqlite_url, hide_parameters=True)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO partners (name, email, tier, status, created_at, payouts_enabled, email_status) VALUES "
                "('A', 'a@x.example', 'gold', 'active', '2026-01-02 00:00:00.000000', 0, 'ok'), "
                "('B', 'b@x.example', NULL, 'active', '2026-01-02 00:00:00.000000', 0, 'ok')"
            )
        )
    upgrade(sqlite_url, "0005mn")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT partner_id, tier_before, tier, actor FROM partner_tier_changes")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, None, "gold", "migration")]
