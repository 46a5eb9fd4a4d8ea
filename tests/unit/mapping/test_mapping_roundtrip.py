"""Property: for fields the provider owns whose transforms are exact inverses, inbound then
outbound gives back the provider's value (in the provider's usual form)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.mapping import Plan, compile_file, load_mappings
from hub.mapping.money import CURRENCY_EXPONENTS, from_minor_units, to_minor_units
from hub.mapping.paths import ABSENT, reader
from hub.mapping.transforms import TRANSFORMS, format_datetime
from tests.support.servers import REPO

MAPPINGS = REPO / "mappings"

# the provider's usual forms
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
).filter(lambda s: s.strip() == s and s != "")
ids = st.integers(min_value=1, max_value=10**15).map(str)
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)
currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minor_units = st.integers(min_value=-(10**15), max_value=10**15)


def _exact(plan: Plan, name: str, rules: dict[str, Any]) -> bool:
    """Provider-owned, written both ways, and every step an exact inverse."""
    info = plan.fields[name]
    return (
        info.direction == "both"
        and info.owner == "provider"
        and all(TRANSFORMS[step].reverse == "exact" for step in rules[name])
    )


def _steps(path: Path) -> dict[str, list[str]]:
    from hub.mapping.models import MappingFile
    from hub.mapping.yamlfile import load_yaml_model

    model = load_yaml_model(path, MappingFile)
    return {name: [step.name for step in rule.transform] for name, rule in model.fields.items()}


HUBSPOT = load_mappings(MAPPINGS)
DEFAULT_PLANS = [plan for plan in HUBSPOT.plans if plan.connector == "hubspot"]


#: provider fields whose values the file's filters and value maps constrain
FIXED = {
    "properties.pipeline": st.just("default"),
    "properties.dealstage": st.sampled_from(
        [
            "appointmentscheduled",
            "qualifiedtobuy",
            "presentationscheduled",
            "decisionmakerboughtin",
            "contractsent",
            "closedwon",
            "closedlost",
        ]
    ),
}


@st.composite
def provider_value(draw: st.DrawFn, steps: list[str], currency: str) -> Any:
    last = steps[-1] if steps else None
    if last is None or last == "string":
        return draw(texts)
    if last == "datetime":
        return format_datetime(draw(moments))
    if last == "int":
        return str(draw(st.integers(min_value=-(10**12), max_value=10**12)))
    if last == "money":
        return from_minor_units(draw(minor_units), currency)
    raise AssertionError(f"no strategy for {steps}")


@pytest.mark.parametrize("plan", DEFAULT_PLANS, ids=[p.object for p in DEFAULT_PLANS])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_default_hubspot_files_round_trip(plan: Plan, data: st.DataObject) -> None:
    rules = _steps(plan.path)
    exact = [name for name in plan.fields if _exact(plan, name, rules)]
    assert exact, "each default HubSpot file has provider-owned fields written both ways"
    currency = data.draw(currencies)
    record: dict[str, Any] = {"id": data.draw(ids), "properties": {"pipeline": "default"}}
    if "currency" in plan.fields:
        record["properties"]["deal_currency_code"] = currency
    for name in exact:
        (path,) = plan.fields[name].sources
        if path == "id":
            continue
        fixed = FIXED.get(path)
        value = data.draw(fixed if fixed is not None else provider_value(rules[name], currency), label=name)
        record["properties"][path.split(".", 1)[1]] = value
    change = plan.inbound(record)
    assert change is not None
    payload = plan.outbound(change.fields)
    for name in exact:
        (path,) = plan.fields[name].sources
        assert reader(path)(payload) == reader(path)(record), name
        assert reader(path)(payload) is not ABSENT


SYNTHETIC = """
version: 1
source: {connector: hubspot, object: deal}
target: deal
key: external_id
fields:
  external_id: {source: id, direction: both, owner: provider}
  name: {source: properties.dealname, direction: both, owner: provider, transform: [string]}
  stage:
    source: properties.dealstage
    direction: both
    owner: provider
    transform:
      - lookup: {table: {s1: first, s2: second, s3: third}}
  status:
    source: properties.partnerhub_source
    direction: both
    owner: provider
    value_map:
      values: {a: submitted, b: contacted, c: closed_won}
  currency: {source: properties.deal_currency_code, direction: both, owner: provider}
  amount:
    source: properties.amount
    direction: both
    owner: provider
    transform: [{money: {currency_field: currency}}]
  close_date:
    source: properties.closedate
    direction: both
    owner: provider
    transform: [{datetime: {format: epoch_ms, text: true}}]
  created_at:
    source: properties.createdate
    direction: both
    owner: provider
    transform: [{datetime: {format: epoch_s}}]
  modified_at: {source: properties.hs_lastmodifieddate, direction: both, owner: provider, transform: [datetime]}
  deleted: {source: archived, direction: both, owner: provider, transform: [bool]}
  contact_ids:
    source: properties.partnerhub_tracking_id
    direction: both
    owner: provider
    transform: [{split: {separator: ";"}}]
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    path = tmp_path_factory.mktemp("m") / "deals.yaml"
    path.write_text(SYNTHETIC)
    return compile_file(path)


items = st.lists(st.text(alphabet="abcdefghij0123456789-_", min_size=1, max_size=8), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(
    external_id=ids,
    name=texts,
    stage=st.sampled_from(["s1", "s2", "s3"]),
    source=st.sampled_from(["a", "b", "c"]),
    currency=currencies,
    minor=minor_units,
    close=moments,
    created=moments.map(lambda d: d.replace(microsecond=0)),
    modified=moments,
    deleted=st.booleans(),
    contacts=items,
)
def test_exact_transforms_round_trip(
    synthetic: Plan,
    external_id: str,
    name: str,
    stage: str,
    source: str,
    currency: str,
    minor: int,
    close: datetime,
    created: datetime,
    modified: datetime,
    deleted: bool,
    contacts: list[str],
) -> None:
    record = {
        "id": external_id,
        "archived": deleted,
        "properties": {
            "dealname": name,
            "dealstage": stage,
            "partnerhub_source": source,
            "deal_currency_code": currency,
            "amount": from_minor_units(minor, currency),
            "closedate": str((close - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)),
            "createdate": int(created.timestamp()),
            "hs_lastmodifieddate": format_datetime(modified),
            "partnerhub_tracking_id": ";".join(contacts),
        },
    }
    change = synthetic.inbound(record)
    assert change is not None
    assert synthetic.outbound(change.fields) == record


@settings(max_examples=500, deadline=None)
@given(minor=minor_units, currency=currencies)
def test_money_minor_units_round_trip(minor: int, currency: str) -> None:
    assert to_minor_units(from_minor_units(minor, currency), currency) == minor
