"""Applying plans: inbound changes, outbound payloads, filters, value maps, runtime errors, reload."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import SkippableRecord
from hub.mapping import (
    Canonical,
    MappingFileError,
    MappingRuntimeError,
    MappingStore,
    UnknownMappedValue,
    compile_file,
    load_mappings,
    source_record_from_event,
)
from tests.support.servers import REPO

MAPPINGS = REPO / "mappings"


def hubspot_deal(**properties: Any) -> dict[str, Any]:
    base = {
        "dealname": "  Acme expansion ",
        "dealstage": "contractsent",
        "pipeline": "default",
        "amount": "1500.505",
        "deal_currency_code": "",
        "closedate": "2024-06-30T00:00:00.000Z",
        "createdate": "2024-05-01T10:00:00.000Z",
        "hs_lastmodifieddate": "2024-05-02T10:00:00.123Z",
        "hubspot_owner_id": "77",
        "partnerhub_partner_id": "P-1",
        "partnerhub_tracking_id": "T-1",
        "partnerhub_source": "partner",
    }
    base.update(properties)
    return {
        "id": "123",
        "properties": base,
        "associations": {"contacts": {"results": [{"id": "9", "type": "deal_to_contact"}, {"id": "10"}]}},
        "archived": False,
        "createdAt": "2024-05-01T10:00:00.000Z",
        "updatedAt": "2024-05-02T10:00:00.123Z",
    }


@pytest.fixture(scope="module")
def deals() -> Any:
    plan = load_mappings(MAPPINGS).for_source("hubspot", "deal")
    assert plan is not None
    return plan


def test_hubspot_deal_inbound(deals: Any) -> None:
    change = deals.inbound(hubspot_deal())
    assert change == Canonical(
        target="deal",
        key="123",
        fields={
            "currency": "USD",
            "external_id": "123",
            "name": "Acme expansion",
            "stage": "contractsent",
            "status": "proposal_sent",
            "pipeline": "default",
            "amount": 150050,
            "close_date": datetime(2024, 6, 30, tzinfo=UTC),
            "created_at": datetime(2024, 5, 1, 10, tzinfo=UTC),
            "modified_at": datetime(2024, 5, 2, 10, 0, 0, 123000, tzinfo=UTC),
            "owner_id": "77",
            "partner_id": "P-1",
            "tracking_id": "T-1",
            "source": "partner",
            "contact_ids": ["9", "10"],
            "company_ids": None,
            "deleted": False,
        },
        version_ms=1714644000123,
    )


def test_hubspot_deal_outbound_is_the_api_payload(deals: Any) -> None:
    record = {
        "external_id": "123",
        "name": "Acme",
        "stage": "closedwon",
        "status": "closed_won",  # inbound only: not written
        "amount": 150050,
        "currency": "EUR",
        "close_date": datetime(2024, 6, 30, tzinfo=UTC),
        "partner_id": "P-1",
        "modified_at": datetime(2024, 1, 1, tzinfo=UTC),  # inbound only: not written
    }
    assert deals.outbound(record) == {
        "id": "123",
        "properties": {
            "dealname": "Acme",
            "dealstage": "closedwon",
            "deal_currency_code": "EUR",
            "amount": "1500.50",
            "closedate": "2024-06-30T00:00:00.000Z",
            "partnerhub_partner_id": "P-1",
        },
    }


def test_outbound_money_uses_the_record_currency(deals: Any) -> None:
    assert deals.outbound({"amount": 1500, "currency": "JPY"})["properties"]["amount"] == "1500"
    assert deals.outbound({"amount": 1500, "currency": "KWD"})["properties"]["amount"] == "1.500"


def test_currency_decides_the_minor_units(deals: Any) -> None:
    change = deals.inbound(hubspot_deal(amount="1500", deal_currency_code="jpy"))
    assert change.fields["currency"] == "JPY"
    assert change.fields["amount"] == 1500


def test_filter_drops_other_pipelines(deals: Any) -> None:
    assert deals.inbound(hubspot_deal(pipeline="enterprise")) is None
    record = hubspot_deal()
    del record["properties"]["pipeline"]
    assert deals.inbound(record) is None  # a full record without the field does not pass
    assert deals.inbound(record, partial=True) is not None  # a partial one cannot be judged on it


def test_present_filters(write_mapping: Callable[[str], Path]) -> None:
    text = """
        version: 1
        source: {connector: sendgrid, object: event}
        target: notification_event
        key: provider_event_id
        filters:
          - {source: notification_id, present: false}
          - {source: asm_group_id, in: [1, 2]}
        fields:
          provider_event_id: sg_event_id
        """
    plan = compile_file(write_mapping(text, "sendgrid/events.yaml"))
    assert plan.inbound({"sg_event_id": "a", "asm_group_id": 1}) is not None  # absent counts as empty
    assert plan.inbound({"sg_event_id": "a", "asm_group_id": "2", "notification_id": ""}) is not None
    assert plan.inbound({"sg_event_id": "a", "asm_group_id": 1, "notification_id": "N"}) is None
    assert plan.inbound({"sg_event_id": "a", "asm_group_id": 3}) is None
    assert plan.inbound({"sg_event_id": "a"}) is None


def test_partial_record_carries_only_its_fields(deals: Any) -> None:
    event = {
        "objectId": 123,
        "propertyName": "dealstage",
        "propertyValue": "closedwon",
        "eventType": "deal.propertyChange",
        "occurredAt": 1714644000123,
    }
    record = source_record_from_event("hubspot", event)
    assert record == {"id": "123", "properties": {"dealstage": "closedwon"}}
    change = deals.inbound(record, partial=True)
    assert change.fields == {"external_id": "123", "stage": "closedwon", "status": "closed_won"}
    assert change.version_ms is None


def test_deletion_event_record() -> None:
    event = {"objectId": 5, "eventType": "deal.deletion", "occurredAt": 1}
    assert source_record_from_event("hubspot", event) == {"id": "5", "properties": {}, "archived": True}
    sendgrid_event = {"email": "a@b.co", "event": "open"}
    assert source_record_from_event("sendgrid", sendgrid_event) == sendgrid_event


def test_unknown_stage_raises_an_alertable_error(deals: Any) -> None:
    with pytest.raises(UnknownMappedValue) as caught:
        deals.inbound(hubspot_deal(dealstage="partner_review"))
    error = caught.value
    assert isinstance(error, MappingRuntimeError)
    assert isinstance(error, SkippableRecord)
    assert error.file == MAPPINGS / "hubspot" / "deals.yaml"
    assert error.field == "status"
    assert error.value == "partner_review"
    assert "deals.yaml" in str(error) and "'status'" in str(error) and "'partner_review'" in str(error)
    assert error.alert_key.endswith("deals.yaml:status:partner_review")


def test_bad_value_is_a_runtime_error_naming_file_field_value(deals: Any) -> None:
    with pytest.raises(MappingRuntimeError) as caught:
        deals.inbound(hubspot_deal(amount="twelve"))
    error = caught.value
    assert not isinstance(error, UnknownMappedValue)
    assert (error.field, error.value) == ("amount", "twelve")
    assert str(error) == (
        f"{MAPPINGS / 'hubspot' / 'deals.yaml'}: field 'amount': 'twelve' is not a decimal amount (value 'twelve')"
    )


def test_required_and_key(deals: Any) -> None:
    record = hubspot_deal()
    del record["id"]
    with pytest.raises(MappingRuntimeError, match="'external_id': a required value is missing"):
        deals.inbound(record)


def test_value_map_default_and_const(write_mapping: Callable[[str], Path]) -> None:
    path = write_mapping(
        """
        version: 1
        source: {connector: hubspot, object: deal}
        target: deal
        key: external_id
        fields:
          external_id: id
          source: {const: hubspot}
          status:
            source: properties.dealstage
            value_map:
              values: {closedwon: closed_won}
              default: submitted
        """
    )
    plan = compile_file(path)
    assert plan.inbound({"id": 1, "properties": {"dealstage": "brand_new"}}).fields == {
        "external_id": "1",
        "source": "hubspot",
        "status": "submitted",
    }


def test_value_map_written_back_with_reverse(write_mapping: Callable[[str], Path]) -> None:
    path = write_mapping(
        """
        version: 1
        source: {connector: hubspot, object: deal}
        target: deal
        key: external_id
        fields:
          external_id: id
          status:
            source: properties.dealstage
            direction: both
            owner: hub
            value_map:
              values: {appointmentscheduled: contacted, qualifiedtobuy: contacted, closedwon: closed_won}
              reverse: {contacted: qualifiedtobuy, closed_won: closedwon}
        """
    )
    plan = compile_file(path)
    assert plan.outbound({"status": "contacted"}) == {"properties": {"dealstage": "qualifiedtobuy"}}
    with pytest.raises(UnknownMappedValue) as caught:
        plan.outbound({"status": "demo_scheduled"})
    assert caught.value.field == "status"


def test_sendgrid_event(write_mapping: Callable[[str], Path]) -> None:
    plan = load_mappings(MAPPINGS).for_source("sendgrid", "event")
    event = {
        "email": "Partner@Example.com",
        "timestamp": 1700000000,
        "event": "bounce",
        "type": "bounce",
        "reason": "550 5.1.1 no such user",
        "status": "5.1.1",
        "sg_event_id": "ZXZ",
        "sg_message_id": "m.1",
        "notification_id": "N-7",
        "asm_group_id": 3,
    }
    change = plan.inbound(event)
    assert change.key == "ZXZ"
    assert change.fields["email"] == "partner@example.com"
    assert change.fields["occurred_at"] == datetime.fromtimestamp(1700000000, UTC)
    assert change.version_ms == 1700000000000
    # no notification_id: still mapped; the hub matches it by the sg_message_id prefix instead
    assert plan.inbound({**event, "notification_id": None}).fields["notification_id"] is None
    assert plan.inbound({**event, "event": "account_status_change"}) is None


def test_inbound_email_is_keyed_by_content() -> None:
    plan = load_mappings(MAPPINGS).for_source("sendgrid", "inbound_parse")
    post = {
        "from": "Jane Doe <Jane@Partner.io>",
        "to": "referrals@hub.example, Ops <ops@hub.example>",
        "subject": "New lead",
        "text": "Hi",
        "SPF": "pass",
        "dkim": "{@partner.io : pass}",
        "headers": "X: y",
    }
    change = plan.inbound(post)
    assert change.fields["sender"] == "jane@partner.io"
    assert change.fields["sender_domain"] == "partner.io"
    assert change.fields["recipients"] == ["referrals@hub.example", "ops@hub.example"]
    assert len(change.key) == 32
    assert plan.inbound(dict(post)).key == change.key
    assert plan.inbound({**post, "text": "Hello"}).key != change.key


def test_store_reloads_only_clean_sets(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    (folder / "hubspot").mkdir(parents=True)
    deals_file = folder / "hubspot" / "deals.yaml"
    deals_file.write_text((MAPPINGS / "hubspot" / "deals.yaml").read_text())
    store = MappingStore(folder)
    first = store.current
    assert store.changed() is False

    in_flight = first.for_source("hubspot", "deal")
    text = deals_file.read_text().replace("contractsent: proposal_sent", "contractsent: demo_scheduled")
    _write_later(deals_file, text)
    assert store.changed() is True
    assert store.reload() == []
    assert store.current is not first
    record = hubspot_deal()
    assert store.current.for_source("hubspot", "deal").inbound(record).fields["status"] == "demo_scheduled"
    assert in_flight.inbound(record).fields["status"] == "proposal_sent"  # the old plan still works

    _write_later(deals_file, text.replace("version: 1", "version: 7"))
    kept = store.current
    assert store.reload_if_changed() == [f"{deals_file}:4:10: version: Input should be 1, got 7"]
    assert store.current is kept
    assert store.changed() is False  # reported once, not on every poll


def test_broken_file_stops_start_up(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    (folder / "hubspot").mkdir(parents=True)
    (folder / "hubspot" / "deals.yaml").write_text("version: 1\n")
    with pytest.raises(MappingFileError):
        MappingStore(folder)


def test_top_level_files_are_not_mapping_files(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    (folder / "hubspot").mkdir(parents=True)
    (folder / "program.yaml").write_text("not: a mapping\n")
    (folder / "hubspot" / "deals.yaml").write_text((MAPPINGS / "hubspot" / "deals.yaml").read_text())
    assert load_mappings(folder).files == [folder / "hubspot" / "deals.yaml"]


def _write_later(path: Path, text: str) -> None:
    """Write so the modification time surely moves on (coarse file system clocks)."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))
    time.sleep(0)
