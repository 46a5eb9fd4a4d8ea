"""Broken files: every problem as file:LINE:COL: message, all of them in one pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.errors import ConfigurationError
from hub.mapping import MappingFileError, compile_file, load_mappings
from hub.mapping.errors import MappingFileError as RootError

GOOD = """
# a comment line first, so the root mapping starts on line 2
version: 1
source:
  connector: hubspot
  object: deal
target: deal
key: external_id
fields:
  external_id: id
  name:
    source: properties.dealname
    direction: both
    owner: provider
  status:
    source: properties.dealstage
    value_map:
      values:
        closedwon: closed_won
        closedlost: closed_lost
"""


def _errors(path: Path) -> list[str]:
    with pytest.raises(MappingFileError) as caught:
        compile_file(path)
    return caught.value.errors


# (case, text with one problem, line, column, expected message after "file:line:col: ")
BROKEN: list[tuple[str, str, int, int, str]] = [
    (
        "bad YAML (a key indented wrongly)",
        GOOD.replace("  object: deal", " object: deal"),
        5,
        2,
        "invalid YAML: while parsing a block mapping expected <block end>, but found '<block mapping start>'",
    ),
    (
        "unknown key with did-you-mean",
        GOOD.replace("fields:", "fileds: {}\nfields:"),
        8,
        1,
        "fileds: unknown key 'fileds' (did you mean 'fields'?)",
    ),
    (
        "unknown key inside a field rule",
        GOOD.replace("    direction: both", "    directoin: both"),
        12,
        5,
        "fields.name.directoin: unknown key 'directoin' (did you mean 'direction'?)",
    ),
    (
        "wrong type",
        GOOD.replace("    owner: provider", "    owner: provider\n    required: maybe"),
        14,
        15,
        "fields.name.required: Input should be a valid boolean, unable to interpret input, got 'maybe'",
    ),
    (
        "wrong literal",
        GOOD.replace("direction: both", "direction: sideways"),
        12,
        16,
        "fields.name.direction: Input should be 'inbound', 'outbound' or 'both', got 'sideways'",
    ),
    (
        "unsupported version",
        GOOD.replace("version: 1", "version: 2"),
        2,
        10,
        "version: Input should be 1, got 2",
    ),
    (
        "unknown transform with did-you-mean",
        GOOD.replace("    owner: provider", "    owner: provider\n    transform: [strip, lowercase]"),
        14,
        24,
        "fields.name.transform.1: unknown transform 'lowercase' (did you mean 'lower'?)",
    ),
    (
        "unknown transform parameter",
        GOOD.replace(
            "  external_id: id",
            "  external_id: id\n  amount:\n    source: properties.amount\n"
            "    transform:\n      - money: {currency_code: USD}",
        ),
        13,
        17,
        "fields.amount.transform.0.money.currency_code: unknown key 'currency_code' (did you mean 'currency'?)",
    ),
    (
        "bad value map: not a referral status",
        GOOD.replace("closedwon: closed_won", "closedwon: won"),
        18,
        20,
        (
            "fields.status.value_map.values.closedwon: 'won' is not a status value; allowed: submitted, "
            "contacted, demo_scheduled, proposal_sent, closed_won, closed_lost"
        ),
    ),
    (
        "bad value map: near miss",
        GOOD.replace("closedlost: closed_lost", "closedlost: closedlost"),
        19,
        21,
        (
            "fields.status.value_map.values.closedlost: 'closedlost' is not a status value (did you mean "
            "'closed_lost'?); allowed: submitted, contacted, demo_scheduled, proposal_sent, closed_won, "
            "closed_lost"
        ),
    ),
    (
        "missing required top-level key",
        GOOD.replace("target: deal\n", ""),
        2,
        1,
        "missing required key 'target'",
    ),
    (
        "missing required key in a nested mapping",
        GOOD.replace("  object: deal\n", ""),
        4,
        3,
        "source: missing required key 'object'",
    ),
    (
        "missing source in a field rule",
        GOOD.replace("    source: properties.dealname\n", ""),
        11,
        5,
        "fields.name: missing required key 'source' (a provider field path) or 'const'",
    ),
    (
        "missing key for a keyed record",
        GOOD.replace("key: external_id\n", ""),
        2,
        1,
        "missing required key 'key': the deal field(s) that identify a record (e.g. external_id)",
    ),
    (
        "unknown provider field with did-you-mean",
        GOOD.replace("source: properties.dealname", "source: properties.dealnme"),
        11,
        13,
        "fields.name.source: hubspot deal has no field 'properties.dealnme' (did you mean 'properties.dealname'?)",
    ),
    (
        "unknown record field",
        GOOD.replace("  name:", "  title:"),
        10,
        3,
        "fields.title: deal has no field 'title'",
    ),
    (
        "unknown connector",
        GOOD.replace("connector: hubspot", "connector: hubspt"),
        4,
        14,
        "source.connector: unknown connector 'hubspt' (did you mean 'hubspot'?); known: hubspot, lms, pipedrive, salesforce, sendgrid, "
        "stripe",
    ),
    (
        "unknown object",
        GOOD.replace("object: deal", "object: deals"),
        5,
        11,
        "source.object: hubspot has no object 'deals' (did you mean 'deal'?); it declares: deal, contact, company",
    ),
    (
        "both ways without an owner",
        GOOD.replace("    owner: provider\n", ""),
        11,
        5,
        "fields.name: direction both needs an `owner` (provider or hub): whose value wins when both sides changed",
    ),
    (
        "duplicate key",
        GOOD.replace("  external_id: id", "  external_id: id\n  external_id: id"),
        10,
        3,
        "duplicate key 'external_id' (first given at line 9)",
    ),
    (
        "a datetime field fed a raw value",
        GOOD.replace("  external_id: id", "  external_id: id\n  modified_at: properties.hs_lastmodifieddate"),
        10,
        16,
        "fields.modified_at: modified_at is a datetime field: add a `datetime` transform to convert the provider's value",
    ),
    (
        "money without a currency",
        GOOD.replace(
            "  external_id: id",
            "  external_id: id\n  amount:\n    source: properties.amount\n    transform:\n      - money: {}",
        ),
        13,
        16,
        "fields.amount.transform.0.money: money needs `currency_field` (a record field) or `currency` (a code)",
    ),
    (
        "money with an unknown currency code",
        GOOD.replace(
            "  external_id: id",
            "  external_id: id\n  amount:\n    source: properties.amount\n    transform:\n      - money: {currency: usd}",
        ),
        13,
        27,
        "fields.amount.transform.0.money.currency: 'usd' is not an ISO 4217 currency code (did you mean 'USD'?)",
    ),
    (
        "a one-way transform on a field written back",
        GOOD.replace("    owner: provider", "    owner: provider\n    transform: [email_domain]"),
        14,
        17,
        (
            "fields.name.transform.0: `email_domain` cannot be written back to the provider; make this "
            "field `direction: inbound`"
        ),
    ),
    (
        "a value map written back that is not one-to-one",
        GOOD.replace("closedlost: closed_lost", "closedlost: closed_won").replace(
            "    source: properties.dealstage\n",
            "    source: properties.dealstage\n    direction: both\n    owner: provider\n",
        ),
        20,
        9,
        (
            "fields.status.value_map.values: several provider values map to the same hub value, so the "
            "map cannot be written back: add `reverse:` (hub value -> provider value) or make the field "
            "inbound"
        ),
    ),
    (
        "filter with two tests",
        GOOD.replace(
            "fields:", "filters:\n  - source: properties.pipeline\n    equals: default\n    present: true\nfields:"
        ),
        9,
        5,
        "filters.0: a filter takes exactly one of `equals`, `in`, `present`",
    ),
    (
        "filter on an unknown provider field",
        GOOD.replace("fields:", "filters:\n  - source: properties.pipline\n    in: [default]\nfields:"),
        9,
        13,
        "filters.0.source: hubspot deal has no field 'properties.pipline' (did you mean 'properties.pipeline'?)",
    ),
]


@pytest.mark.parametrize(("case", "text", "line", "column", "message"), BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_file_reports_file_line_column(
    write_mapping: Callable[[str], Path], case: str, text: str, line: int, column: int, message: str
) -> None:
    path = write_mapping(text)
    errors = _errors(path)
    assert errors == [f"{path}:{line}:{column}: {message}"], case


def test_the_good_file_is_good(write_mapping: Callable[[str], Path]) -> None:
    plan = compile_file(write_mapping(GOOD))
    assert plan.target == "deal"
    assert plan.key_fields == ("external_id",)


def test_all_problems_of_a_file_in_one_pass(write_mapping: Callable[[str], Path]) -> None:
    text = (
        GOOD.replace("fields:", "fileds: {}\nfields:")  # shape: unknown key (line 8)
        .replace("closedwon: closed_won", "closedwon: won")  # names: bad value map (line 19)
        .replace("source: properties.dealname", "source: properties.dealnme")  # names (line 12)
        .replace("direction: both", "direction: sideways")  # shape: bad literal (line 13)
    )
    path = write_mapping(text)
    errors = _errors(path)
    lines = [int(e.split(":")[1]) for e in errors]
    assert lines == [8, 13, 19], errors
    # the field rule with the bad literal is left out of the name checks, so its bad path is not
    # reported twice; the other names still are
    assert any("'won' is not a status value" in e for e in errors)


def test_errors_across_files_in_one_pass(write_mapping: Callable[[str, str], Path]) -> None:
    first = write_mapping(GOOD.replace("version: 1", "version: 2"), "hubspot/deals.yaml")
    second = write_mapping(GOOD.replace("target: deal", "target: dael"), "hubspot/other.yaml")
    with pytest.raises(MappingFileError) as caught:
        load_mappings(first.parent.parent)
    assert caught.value.errors == [
        f"{first}:2:10: version: Input should be 1, got 2",
        (
            f"{second}:6:9: target: unknown record 'dael' (did you mean 'deal'?); known: deal, contact, "
            "company, notification_event, payment_customer, inbound_email"
        ),
    ]


def test_two_files_for_one_source(write_mapping: Callable[[str, str], Path]) -> None:
    first = write_mapping(GOOD, "hubspot/a.yaml")
    second = write_mapping(GOOD, "hubspot/b.yaml")
    with pytest.raises(MappingFileError) as caught:
        load_mappings(first.parent.parent)
    assert caught.value.errors == [f"{second}:4:3: source: hubspot deal is already mapped by {first}"]


def test_empty_file(write_mapping: Callable[[str], Path]) -> None:
    path = write_mapping("# nothing here\n")
    assert _errors(path) == [f"{path}:1:1: the file is empty"]


def test_file_error_is_a_configuration_error() -> None:
    assert issubclass(RootError, ConfigurationError)
    error = MappingFileError(["a.yaml:1:1: x", "b.yaml:2:3: y"])
    assert str(error) == "a.yaml:1:1: x\nb.yaml:2:3: y"
