"""The default mapping files and the committed JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import jsonschema
import pytest
import yaml

from hub.mapping import load_mappings, mapping_files
from hub.mapping.schema import SCHEMA_PATH, mapping_schema, schema_text
from hub.mapping.sources import DECLARATIONS, connector_objects
from tests.support.servers import REPO

MAPPINGS = REPO / "mappings"
DEFAULT_FILES = mapping_files(MAPPINGS)
EXPECTED = {
    ("hubspot", "deal"): "deal",
    ("hubspot", "contact"): "contact",
    ("hubspot", "company"): "company",
    ("salesforce", "deal"): "deal",
    ("salesforce", "contact"): "contact",
    ("salesforce", "company"): "company",
    ("pipedrive", "deal"): "deal",
    ("pipedrive", "contact"): "contact",
    ("pipedrive", "company"): "company",
    ("pipedrive", "lead"): "deal",
    ("sendgrid", "event"): "notification_event",
    ("sendgrid", "inbound_parse"): "inbound_email",
    ("stripe", "customer"): "payment_customer",
}


def test_every_default_file_checks_clean() -> None:
    mapping_set = load_mappings(MAPPINGS)  # raises MappingFileError with every problem otherwise
    assert {(p.connector, p.object): p.target for p in mapping_set.plans} == EXPECTED
    assert sorted(mapping_set.files) == DEFAULT_FILES


@pytest.mark.parametrize("path", DEFAULT_FILES, ids=[p.name for p in DEFAULT_FILES])
def test_default_file_names_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../mapping.schema.json"
    assert (path.parent / "../mapping.schema.json").resolve() == SCHEMA_PATH


@pytest.mark.parametrize("path", DEFAULT_FILES, ids=[p.name for p in DEFAULT_FILES])
def test_default_file_is_valid_against_the_json_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(mapping_schema()).validate(data)


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "regenerate: partnerhub mappings schema > mappings/mapping.schema.json"
    )


def test_schema_rejects_what_the_loader_rejects() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    good = {
        "version": 1,
        "source": {"connector": "hubspot", "object": "deal"},
        "target": "deal",
        "key": "external_id",
        "fields": {
            "external_id": "id",
            "name": {"source": "properties.dealname", "transform": ["strip", {"lookup": {"table": {"a": "b"}}}]},
        },
    }
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {**good, "fileds": {}},
        {**good, "version": 2},
        {**good, "target": "dael"},
        {**good, "fields": {"name": {"source": "x", "transform": ["lowercase"]}}},
        {**good, "fields": {"name": {"source": "x", "transform": [{"lower": {}, "upper": {}}]}}},
        {**good, "fields": {"name": {"source": "x", "direction": "sideways"}}},
    ):
        assert list(validator.iter_errors(bad)), bad


def test_sendgrid_objects_are_the_connector_declaration() -> None:
    from connectors import REGISTRY
    from connectors.sendgrid import OBJECTS

    assert REGISTRY["sendgrid"].objects is OBJECTS  # the connector exposes the declaration
    assert DECLARATIONS["sendgrid"] == "connectors.sendgrid"
    assert connector_objects("sendgrid") is OBJECTS
    assert {
        "email",
        "timestamp",
        "event",
        "sg_event_id",
        "sg_message_id",
        "reason",
        "status",
        "response",
        "type",
        "url",
        "asm_group_id",
        "category",
        "notification_id",
    } <= set(OBJECTS["event"].fields)
    assert {
        "from",
        "to",
        "subject",
        "text",
        "html",
        "headers",
        "envelope",
        "SPF",
        "dkim",
        "sender_ip",
        "attachments",
    } <= set(OBJECTS["inbound_parse"].fields)
    assert connector_objects("nope") is None


def test_registered_connectors_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors import REGISTRY
    from connectors.values import ObjectSpec

    class FakeSendGrid:
        name: ClassVar[str] = "sendgrid"
        objects: ClassVar[dict[str, ObjectSpec]] = {"event": ObjectSpec("event", {"email": "string"})}

    monkeypatch.setitem(REGISTRY, "sendgrid", FakeSendGrid)
    assert connector_objects("sendgrid") is FakeSendGrid.objects


def test_reference_page_names_every_record_field_and_transform() -> None:
    from hub.mapping.models import transform_names
    from hub.mapping.targets import TARGETS

    text = (REPO / "docs" / "mappings.md").read_text(encoding="utf-8")
    for target in TARGETS.values():
        assert f"`{target.name}`" in text, target.name
        for name in target.fields:
            assert f"`{name}`" in text, f"{target.name}.{name}"
        for value in next((f.values for f in target.fields.values() if f.values), ()):
            assert f"`{value}`" in text, value
    for name in transform_names():
        assert f"### `{name}`" in text, name
