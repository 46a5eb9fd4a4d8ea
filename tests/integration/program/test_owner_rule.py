"""The owner rule, applied: when the hub and a rep both changed a synced deal field since the
sync base, the field's ``owner`` wins, the loser's value goes to the field history, and a hub win
is written back to the CRM through the outbox (batched, echo-suppressed). For each CRM and each
direction, through the deal handler the engine calls and the CRM's fake."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from hub.pipeline import echo
from hub.pipeline.batches import WRITE_RECORD
from hub.pipeline.models import OutboxItem
from hub.pipeline.store import upgrade, utcnow
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import payouts
from hub.program.attribution import override
from hub.program.handlers import inbox_handlers
from hub.program.models import Deal, FieldHistory, LedgerEntry, Partner, Referral, SyncBase
from hub.runtime.context import Hub, set_current
from hub.runtime.jobs import dispatch_outbox_items
from hub.runtime.settings import load_settings
from tests.support.hubspot_hub import hubspot_env
from tests.support.pipedrive_hub import pipedrive_env
from tests.support.salesforce_hub import salesforce_env
from tests.support.servers import REPO

TRACKING = "R-OWNR0001"


@dataclass
class CrmSide:
    """How one CRM's fake holds a deal's partner id, and how its API returns the deal."""

    mapping: str  # the deals mapping file
    add: Callable[[str], str]  # partner id -> the new deal's id
    edit: Callable[[str, str], None]  # a rep sets the partner id
    value: Callable[[str], Any]  # the partner id the CRM holds
    record: Callable[[str, str, datetime], dict[str, Any]]  # the deal as the API reads it (partial)
    echo_field: Callable[[], str]  # the partner id field as change events name it
    read: Callable[[str, str], Any]  # (deal id, hub field) -> the CRM's value of the field


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hubspot_side(fake: Any) -> CrmSide:
    def add(partner: str) -> str:
        return str(
            fake.add(
                "deals",
                {
                    "dealname": "Acme",
                    "pipeline": "default",
                    "partnerhub_partner_id": partner,
                    "partnerhub_tracking_id": TRACKING,
                },
            )
        )

    return CrmSide(
        mapping="hubspot/deals.yaml",
        add=add,
        edit=lambda deal, value: fake.objects["deals"][deal].update(partnerhub_partner_id=value),
        value=lambda deal: fake.objects["deals"][deal].get("partnerhub_partner_id"),
        record=lambda deal, partner, at: {
            "id": deal,
            "properties": {
                "partnerhub_partner_id": partner,
                "partnerhub_tracking_id": TRACKING,
                "hs_lastmodifieddate": _iso(at),
            },
        },
        echo_field=lambda: "partnerhub_partner_id",
        read=lambda deal, name: fake.objects["deals"][deal].get(f"partnerhub_{name}"),
    )


def salesforce_side(fake: Any) -> CrmSide:
    field = "Partnerhub_Partner_Id__c"

    def add(partner: str) -> str:
        return str(
            fake.add(
                "Opportunity",
                {
                    "Name": "Acme",
                    "StageName": "Prospecting",
                    "CloseDate": "2030-01-01",
                    field: partner,
                    "Partnerhub_Tracking_Id__c": TRACKING,
                },
            )
        )

    return CrmSide(
        mapping="salesforce/opportunities.yaml",
        add=add,
        edit=lambda deal, value: fake.update("Opportunity", deal, **{field: value}),
        value=lambda deal: fake.records["Opportunity"][deal].get(field),
        record=lambda deal, partner, at: {
            "Id": deal,
            field: partner,
            "Partnerhub_Tracking_Id__c": TRACKING,
            "SystemModstamp": _iso(at),
        },
        echo_field=lambda: field,
        read=lambda deal, name: fake.records["Opportunity"][deal].get(
            "Partnerhub_" + "_".join(part.title() for part in name.split("_")) + "__c"
        ),
    )


def pipedrive_side(stack: Any) -> CrmSide:
    fake = stack.fake

    def key() -> str:
        return str(fake.field_key("deal", "partnerhub_partner_id"))

    def add(partner: str) -> str:
        return str(
            fake.add(
                "deal",
                {"title": "Acme"},
                custom={"partnerhub_partner_id": partner, "partnerhub_tracking_id": TRACKING},
            )
        )

    return CrmSide(
        mapping="pipedrive/deals.yaml",
        add=add,
        edit=lambda deal, value: fake.records["deal"][int(deal)]["custom_fields"].update({key(): value}),
        value=lambda deal: fake.records["deal"][int(deal)]["custom_fields"].get(key()),
        record=lambda deal, partner, at: {
            "id": int(deal),
            "custom_fields": {"partnerhub_partner_id": partner, "partnerhub_tracking_id": TRACKING},
            "update_time": _iso(at),
        },
        echo_field=lambda: f"custom_fields.{key()}",
        read=lambda deal, name: fake.records["deal"][int(deal)]["custom_fields"].get(
            fake.field_key("deal", f"partnerhub_{name}")
        ),
    )


def mappings_with_owner(tmp_path: Path, mapping: str, owner: str, *, partner_data: bool = True) -> Path:
    """A copy of the shipped mappings whose deal ``partner_id`` is owned by ``owner``; with
    ``partner_data`` false, without the outbound partner data fields (partner name, attribution,
    commission), for tests that follow the partner id alone."""
    folder = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", folder)
    path = folder / mapping
    text = path.read_text()
    edited = re.sub(r"(  partner_id:\n(?:    .*\n)*?    owner: )hub", rf"\g<1>{owner}", text, count=1)
    assert (edited != text) == (owner != "hub")
    if partner_data:
        path.write_text(edited)
        return folder
    edited, dropped = re.subn(
        r"^  (?:partner_name|attribution|commission_amount|commission_currency|commission_state):\n(?:    .*\n)*",
        "",
        edited,
        flags=re.M,
    )
    assert dropped == 5
    path.write_text(edited)
    return folder


def open_hub(url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Hub:
    for name in [k for k in os.environ if k.startswith("PARTNERHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PARTNERHUB_WORKER__WRITE_LINGER_S", "0")  # one write: dispatched at once
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    upgrade(url)
    hub = Hub.open(load_settings())
    set_current(hub)
    return hub


def process(hub: Hub, crm: str, record: dict[str, Any]) -> str:
    """One deal change through the deal handler, as the engine hands it over."""
    plan = hub.mappings.current.for_target(crm, "deal")
    assert plan is not None
    change = plan.inbound(record, partial=True)
    assert change is not None
    handler = inbox_handlers(hub).targets["deal"]
    event: Any = SimpleNamespace(connector=crm, event_type="deal.propertyChange", id=None)
    with unit_of_work(hub) as s:
        return handler(s, event, change, change.version_ms or 0)


def write_rows(hub: Hub) -> list[OutboxItem]:
    with hub.sessions() as s:
        return list(s.scalars(select(OutboxItem).where(OutboxItem.action == WRITE_RECORD).order_by(OutboxItem.id)))


def history(hub: Hub) -> list[tuple[str, Any, str, Any]]:
    with hub.sessions() as s:
        return [
            (h.field, h.lost, h.lost_side, h.won) for h in s.scalars(select(FieldHistory).order_by(FieldHistory.id))
        ]


@pytest.fixture(params=["hubspot", "salesforce", "pipedrive"])
def crm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def crm_side(crm: str, request: pytest.FixtureRequest) -> tuple[CrmSide, Callable[[Path], dict[str, str]]]:
    if crm == "hubspot":
        fake = request.getfixturevalue("fake_hubspot")
        return hubspot_side(fake), lambda m: {**hubspot_env(fake), "PARTNERHUB_MAPPINGS_DIR": str(m)}
    if crm == "salesforce":
        fake = request.getfixturevalue("fake_salesforce")
        return salesforce_side(fake), lambda m: salesforce_env(fake, m)
    stack = request.getfixturevalue("pipedrive")
    return pipedrive_side(stack), lambda m: pipedrive_env(stack, m)


def test_partner_data_reaches_the_crm_deal_through_the_mapping_file(crm, sqlite_url, redis_url, tmp_path, monkeypatch,
                                                                     request):  # fmt: skip
    side, make_env = crm_side(crm, request)
    hub = open_hub(sqlite_url, redis_url, monkeypatch, make_env(mappings_with_owner(tmp_path, side.mapping, "hub")))
    try:
        hub.connectors[crm].ensure_setup()  # type: ignore[attr-defined]
        now = utcnow()
        with hub.sessions() as s, s.begin():
            partner = Partner(name="Northwind Partners", email="nw@partners.example", status="active",
                              created_at=now)  # fmt: skip
            s.add(partner)
            s.flush()
            partner_id = str(partner.id)
            s.add(Referral(tracking_id=TRACKING, partner_id=partner.id, company_name="Acme", status="submitted",
                           history=[], created_at=now, updated_at=now))  # fmt: skip
        deal_id = side.add("")  # a rep made the deal from the referral: tracking id, no partner
        t0 = datetime.now(UTC) - timedelta(minutes=5)

        outcome = process(hub, crm, side.record(deal_id, "", t0))
        assert "attributed:tracking_id" in outcome and "wrote:" in outcome
        assert sorted(write_rows(hub)[0].payload["sync"]["fields"]) == ["attribution", "partner_id", "partner_name"]
        # a commission accrues on the deal: its amount and state follow
        with hub.sessions() as s, s.begin():
            deal = s.scalars(select(Deal)).one()
            s.add(LedgerEntry(natural_key="commission:test:1", partner_id=int(partner_id), deal_id=deal.id,
                              kind="commission", amount_minor=125050, currency="EUR", status="pending",
                              created_at=now, updated_at=now))  # fmt: skip
        process(hub, crm, side.record(deal_id, "", t0 + timedelta(minutes=1)))
        rows = write_rows(hub)
        assert len(rows) == 2
        assert rows[1].payload["sync"]["fields"] == {
            "commission_amount": 125050,
            "commission_currency": "EUR",
            "commission_state": "pending",
        }
        dispatch_outbox_items([r.id for r in rows])
        assert {r.state for r in write_rows(hub)} == {"done"}
        assert str(side.read(deal_id, "partner_id")) == partner_id
        assert side.read(deal_id, "partner_name") == "Northwind Partners"
        assert side.read(deal_id, "attribution") == "tracking_id"
        assert str(side.read(deal_id, "commission_amount")) == "1250.50"  # exact, in the commission's currency
        assert side.read(deal_id, "commission_currency") == "EUR"
        assert side.read(deal_id, "commission_state") == "pending"

        # processed again with nothing new: nothing more is written
        process(hub, crm, side.record(deal_id, partner_id, t0 + timedelta(minutes=2)))
        assert len(write_rows(hub)) == 2

        # the commission is approved after its holding period (the program's tick): no CRM event,
        # and the CRM shows the new state all the same
        with unit_of_work(hub) as s:
            assert payouts.approve_due(s, now + timedelta(days=365), hub) == 1
        rows = write_rows(hub)
        assert len(rows) == 3 and rows[2].payload["sync"]["fields"] == {"commission_state": "approved"}
        dispatch_outbox_items([rows[2].id])
        assert side.read(deal_id, "commission_state") == "approved"
    finally:
        set_current(None)
        hub.close()


@pytest.mark.parametrize("owner", ["hub", "provider"])
def test_both_sides_changed_partner_id_the_owner_wins(
    crm, owner, sqlite_url, redis_url, tmp_path, monkeypatch, request
):
    if crm == "hubspot":
        fake = request.getfixturevalue("fake_hubspot")
        side, make_env = hubspot_side(fake), lambda m: {**hubspot_env(fake), "PARTNERHUB_MAPPINGS_DIR": str(m)}
    elif crm == "salesforce":
        fake = request.getfixturevalue("fake_salesforce")
        side, make_env = salesforce_side(fake), lambda m: salesforce_env(fake, m)
    else:
        stack = request.getfixturevalue("pipedrive")
        side, make_env = pipedrive_side(stack), lambda m: pipedrive_env(stack, m)
    mappings = mappings_with_owner(tmp_path, side.mapping, owner, partner_data=False)
    hub = open_hub(sqlite_url, redis_url, monkeypatch, make_env(mappings))
    try:
        hub.connectors[crm].ensure_setup()  # type: ignore[attr-defined]  # the partnerhub custom fields
        now = utcnow()
        with hub.sessions() as s, s.begin():
            p1 = Partner(name="First Partner", email="p1@partners.example", status="active", created_at=now)
            p2 = Partner(name="Second Partner", email="p2@partners.example", status="active", created_at=now)
            s.add_all([p1, p2])
            s.flush()
            p1_id, p2_id = str(p1.id), str(p2.id)
            referral = Referral(tracking_id=TRACKING, partner_id=p1.id, company_name="Acme", status="submitted",
                                history=[], crm=crm, created_at=now, updated_at=now)  # fmt: skip
            s.add(referral)
        deal_id = side.add(p1_id)
        with hub.sessions() as s, s.begin():
            s.scalars(select(Referral)).one().crm_deal_id = deal_id
        t0 = datetime.now(UTC) - timedelta(minutes=5)

        # the deal as the hub first sees it: both sides agree, nothing to write
        process(hub, crm, side.record(deal_id, p1_id, t0))
        assert write_rows(hub) == []
        with hub.sessions() as s:
            bases = {b.field: (b.value, b.hub_value) for b in s.scalars(select(SyncBase))}
        assert bases == {"partner_id": (p1_id, p1_id), "tracking_id": (TRACKING, TRACKING)}

        # the hub moves the deal to the second partner (an admin's override) while a rep types
        # another value into the CRM's partner id field
        with unit_of_work(hub) as s:
            deal = s.scalars(select(Deal)).one()
            override(s, deal, partner_id=int(p2_id), referral_id=deal.referral_id, actor="admin@ops.example",
                     reason="test")  # fmt: skip
        side.edit(deal_id, "999")
        outcome = process(hub, crm, side.record(deal_id, "999", t0 + timedelta(minutes=1)))

        if owner == "hub":
            assert "wrote:partner_id" in outcome
            assert history(hub) == [("partner_id", "999", "provider", p2_id)]
            rows = write_rows(hub)
            assert len(rows) == 1 and rows[0].connector == crm
            dispatch_outbox_items([rows[0].id])
            assert write_rows(hub)[0].state == "done"
            assert str(side.value(deal_id)) == p2_id  # the rep's edit overwritten by the owner
            with hub.sessions() as s:
                assert echo.is_echo(s, crm, "deal", deal_id, {side.echo_field(): p2_id})  # its webhook is dropped
                base = s.scalars(select(SyncBase).where(SyncBase.field == "partner_id")).one()
                assert (base.value, base.hub_value) == (p2_id, p2_id)
            settled = p2_id
        else:
            assert "kept:partner_id" in outcome
            assert history(hub) == [("partner_id", p2_id, "hub", "999")]
            assert write_rows(hub) == []
            assert str(side.value(deal_id)) == "999"  # the CRM's value stands
            with hub.sessions() as s:
                assert s.scalars(select(Deal.partner_id)).one() == int(p2_id)  # attribution itself is sticky
            settled = "999"

        # the CRM's value read again later (a poll): the sides agree, nothing more happens
        process(hub, crm, side.record(deal_id, settled, t0 + timedelta(minutes=2)))
        assert len(write_rows(hub)) == (1 if owner == "hub" else 0)
        assert len(history(hub)) == 1
    finally:
        set_current(None)
        hub.close()
