"""The checks a mapping file passes after its shape is valid: every name it uses exists.

Connector, object and provider field paths are checked against what the connector declares;
record fields against ``hub.mapping.targets``; transform chains for what each step takes and
gives; value maps against the record field's closed set of values; the direction and owner rules.
Each problem is located (``Issue.loc`` walks the YAML) so it is reported as ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.values import ObjectSpec
from hub.mapping.models import (
    FieldRule,
    Filter,
    MappingFile,
    MoneyParams,
    Scalar,
    Source,
)
from hub.mapping.money import CURRENCY_EXPONENTS
from hub.mapping.paths import has_wildcard, is_declared, suggest
from hub.mapping.sources import connector_objects, known_connectors
from hub.mapping.targets import TARGETS, Target, TargetField
from hub.mapping.transforms import TRANSFORMS, reverse_table
from hub.mapping.yamlfile import Loc, did_you_mean


@dataclass(frozen=True, slots=True)
class Issue:
    loc: Loc
    message: str
    at_key: bool = False


#: what a chain must end in for each record field type ("any" = a raw provider value)
_ACCEPTS: Mapping[str, frozenset[str]] = {
    "string": frozenset({"text", "any"}),
    "id": frozenset({"text", "any"}),
    "email": frozenset({"text", "any"}),
    "currency": frozenset({"text", "any"}),
    "enum": frozenset({"text", "any"}),
    "list": frozenset({"list", "any"}),
    "int": frozenset({"int"}),
    "decimal": frozenset({"decimal"}),
    "money": frozenset({"money"}),
    "bool": frozenset({"bool"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
}
_KIND_WORDS = {"text": "text", "any": "a raw provider value", "list": "a list"}


def salvage(data: Any) -> tuple[MappingFile | None, frozenset[Loc]]:
    """The parts of a file that failed validation which are valid on their own, so the names they
    use are still checked in the same pass; and the locations of the parts left out."""
    if not isinstance(data, dict):
        return None, frozenset()
    broken: set[Loc] = set()

    def valid(model: type[BaseModel], value: Any, loc: Loc) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError:
            broken.add(loc)
            return None

    parts: dict[str, Any] = {"version": 1, "fields": {}, "filters": []}
    if "source" in data:
        parts["source"] = valid(Source, data["source"], ("source",))
    if isinstance(data.get("target"), str):
        parts["target"] = data["target"]
    key = data.get("key")
    if isinstance(key, str) or (isinstance(key, list) and all(isinstance(k, str) for k in key)):
        parts["key"] = key
    elif "key" in data:
        broken.add(("key",))
    if isinstance(data.get("filters"), list):
        parts["filters"] = [valid(Filter, f, ("filters", i)) for i, f in enumerate(data["filters"])]
    if isinstance(data.get("fields"), dict):
        rules = {name: valid(FieldRule, raw, ("fields", name)) for name, raw in data["fields"].items()}
        parts["fields"] = {name: rule for name, rule in rules.items() if rule is not None}
    return MappingFile.model_construct(**parts), frozenset(broken)


def check_mapping(mapping: MappingFile, broken: frozenset[Loc] = frozenset()) -> list[Issue]:
    """Every naming problem of a file. ``broken``: parts already reported as invalid (skipped)."""
    issues: list[Issue] = []
    # a salvaged file may lack its source or target (already reported by the shape check)
    source, target_name = getattr(mapping, "source", None), getattr(mapping, "target", None)
    spec = _check_source(mapping, issues) if source is not None else None
    target = TARGETS.get(target_name) if isinstance(target_name, str) else None
    if target_name is None:
        pass
    elif target is None:
        hint = did_you_mean(mapping.target, list(TARGETS))
        issues.append(Issue(("target",), f"unknown record {mapping.target!r}{hint}; known: {', '.join(TARGETS)}"))
    elif ("key",) not in broken:
        _check_key(mapping, target, broken, issues)
    for index, flt in enumerate(mapping.filters):
        if flt is not None:
            _check_path(flt.source, spec, mapping, ("filters", index, "source"), issues)
    for name, rule in mapping.fields.items():
        _check_field(name, rule, mapping, spec, target, broken, issues)
    return issues


def _check_source(mapping: MappingFile, issues: list[Issue]) -> ObjectSpec | None:
    connector, obj = mapping.source.connector, mapping.source.object
    objects = connector_objects(connector)
    if objects is None:
        known = known_connectors()
        hint = did_you_mean(connector, known)
        issues.append(
            Issue(("source", "connector"), f"unknown connector {connector!r}{hint}; known: {', '.join(known)}")
        )
        return None
    spec = objects.get(obj)
    if spec is None:
        hint = did_you_mean(obj, list(objects))
        issues.append(
            Issue(
                ("source", "object"),
                f"{connector} has no object {obj!r}{hint}; it declares: {', '.join(objects)}",
            )
        )
    return spec


def _check_key(mapping: MappingFile, target: Target, broken: frozenset[Loc], issues: list[Issue]) -> None:
    keys = mapping.key_fields
    if not keys:
        if target.keyed:
            issues.append(
                Issue(
                    (),
                    f"missing required key 'key': the {target.name} field(s) that identify a record (e.g. external_id)",
                )
            )
        return
    single = isinstance(mapping.key, str)
    for index, name in enumerate(keys):
        loc: Loc = ("key",) if single else ("key", index)
        if name not in target.fields:
            hint = did_you_mean(name, list(target.fields))
            issues.append(Issue(loc, f"{target.name} has no field {name!r}{hint}"))
            continue
        rule = mapping.fields.get(name)
        if rule is None and ("fields", name) not in broken:
            issues.append(Issue(loc, f"key field {name!r} has no rule under `fields`"))
        elif rule is not None and rule.direction == "outbound":
            issues.append(Issue(loc, f"key field {name!r} must be read from the provider (direction inbound or both)"))


def _check_path(path: str, spec: ObjectSpec | None, mapping: MappingFile, loc: Loc, issues: list[Issue]) -> None:
    if spec is None:
        return
    if not is_declared(path, spec.fields):
        where = f"{mapping.source.connector} {spec.name}"
        issues.append(Issue(loc, f"{where} has no field {path!r}{suggest(path, spec.fields)}"))


def _check_field(
    name: str,
    rule: FieldRule,
    mapping: MappingFile,
    spec: ObjectSpec | None,
    target: Target | None,
    broken: frozenset[Loc],
    issues: list[Issue],
) -> None:
    loc: Loc = ("fields", name)
    field = target.fields.get(name) if target else None
    if target is not None and field is None:
        hint = did_you_mean(name, list(target.fields))
        issues.append(Issue(loc, f"{target.name} has no field {name!r}{hint}", at_key=True))
    writes = rule.direction in ("outbound", "both")

    # where the value comes from
    if rule.has_const and rule.source is not None:
        issues.append(Issue(loc, "give `source` or `const`, not both"))
    elif not rule.has_const and rule.source is None:
        issues.append(Issue(loc, "missing required key 'source' (a provider field path) or 'const'"))
    if rule.has_const and writes:
        issues.append(Issue((*loc, "direction"), "a `const` field is inbound only"))
    sources = rule.sources
    many = isinstance(rule.source, list)
    for index, path in enumerate(sources):
        _check_path(path, spec, mapping, (*loc, "source", index) if many else (*loc, "source"), issues)
    if writes and (len(sources) > 1 or any(has_wildcard(p) for p in sources)):
        issues.append(Issue((*loc, "source"), "a field written to the provider needs one plain path (no list, no `*`)"))

    # direction and owner
    if rule.direction == "both" and rule.owner is None:
        issues.append(
            Issue(loc, "direction both needs an `owner` (provider or hub): whose value wins when both sides changed")
        )
    if rule.owner is not None and rule.direction != "both":
        issues.append(Issue((*loc, "owner"), "`owner` applies only to direction both"))
    if rule.required and rule.direction == "outbound":
        issues.append(Issue((*loc, "required"), "`required` applies to values read from the provider"))

    is_list = many or any(has_wildcard(p) for p in sources)
    kind = _check_chain(rule, mapping, target, writes, loc, broken, issues, is_list)
    if field is None:
        return
    if rule.value_map is not None:
        _check_value_map(rule, field, writes, loc, issues)
    elif not rule.has_const and field.type in _ACCEPTS and kind not in _ACCEPTS[field.type]:
        issues.append(Issue((*loc, "transform") if rule.transform else loc, _type_message(field, kind)))
    if rule.has_const:
        _check_fits(rule.const, field, (*loc, "const"), issues)
    if rule.has_default:
        _check_fits(rule.default, field, (*loc, "default"), issues)


def _check_chain(
    rule: FieldRule,
    mapping: MappingFile,
    target: Target | None,
    writes: bool,
    loc: Loc,
    broken: frozenset[Loc],
    issues: list[Issue],
    is_list: bool,
) -> str:
    """Walk the chain; return the kind of value it ends with."""
    kind = "list" if is_list else "any"
    for index, step in enumerate(rule.transform):
        step_loc: Loc = (*loc, "transform", index)
        info = TRANSFORMS[step.name]
        if info.takes == "scalar" and kind == "list" and not info.each:
            issues.append(
                Issue(
                    step_loc,
                    f"`{step.name}` takes one value but gets a list here (put `coalesce`, `concat` or `join` first)",
                )
            )
        if info.takes == "list" and kind not in ("list", "any"):
            issues.append(Issue(step_loc, f"`{step.name}` takes a list but gets {_KIND_WORDS.get(kind, kind)}"))
        if info.produces == "same":
            kind = "list" if kind == "list" else "text"
        elif info.each and kind == "list":
            kind = "list"
        else:
            kind = info.produces
        if writes and info.reverse == "none":
            issues.append(
                Issue(
                    step_loc,
                    f"`{step.name}` cannot be written back to the provider; make this field `direction: inbound`",
                )
            )
        if step.name == "lookup" and writes and reverse_table(step.params.table) is None:  # type: ignore[attr-defined]
            issues.append(
                Issue(
                    (*step_loc, "lookup", "table"),
                    "this table is not one-to-one, so it cannot be written back; make the field inbound",
                )
            )
        if isinstance(step.params, MoneyParams) and step.params.currency_field is not None:
            _check_currency_field(step.params, mapping, target, broken, (*step_loc, "money", "currency_field"), issues)
    return kind


def _check_currency_field(
    params: MoneyParams,
    mapping: MappingFile,
    target: Target | None,
    broken: frozenset[Loc],
    loc: Loc,
    issues: list[Issue],
) -> None:
    name = params.currency_field
    assert name is not None
    if target is None:
        return
    field = target.fields.get(name)
    if field is None or field.type != "currency":
        currencies = [f.name for f in target.fields.values() if f.type == "currency"]
        hint = did_you_mean(name, currencies) or (f" (use {currencies[0]!r})" if currencies else "")
        issues.append(Issue(loc, f"{name!r} is not a currency field of {target.name}{hint}"))
        return
    rule = mapping.fields.get(name)
    if ("fields", name) in broken:
        return
    if params.currency is None and (rule is None or rule.direction == "outbound"):
        issues.append(
            Issue(loc, f"{target.name}.{name} is not read in this file: map it inbound or add a fixed `currency:`")
        )


def _type_message(field: TargetField, kind: str) -> str:
    wanted = {"list": "split"}.get(field.type, field.type)
    got = _KIND_WORDS.get(kind, f"a {kind}")
    if kind == "any":
        return f"{field.name} is a {field.type} field: add a `{wanted}` transform to convert the provider's value"
    return f"{field.name} is a {field.type} field but the transforms end with {got}"


def _check_value_map(rule: FieldRule, field: TargetField, writes: bool, loc: Loc, issues: list[Issue]) -> None:
    value_map = rule.value_map
    assert value_map is not None
    for provider_value, hub_value in value_map.values.items():
        _check_fits(hub_value, field, (*loc, "value_map", "values", provider_value), issues)
    if value_map.has_default:
        _check_fits(value_map.default, field, (*loc, "value_map", "default"), issues)
    if not writes:
        if value_map.reverse is not None:
            issues.append(Issue((*loc, "value_map", "reverse"), "`reverse` is for fields written to the provider"))
        return
    if value_map.reverse is not None:
        for hub_value in value_map.reverse:
            _check_fits(hub_value, field, (*loc, "value_map", "reverse", hub_value), issues, at_key=True)
    elif reverse_table(value_map.values) is None:
        issues.append(
            Issue(
                (*loc, "value_map", "values"),
                "several provider values map to the same hub value, so the map cannot be written back: "
                "add `reverse:` (hub value -> provider value) or make the field inbound",
            )
        )


def _check_fits(value: Scalar, field: TargetField, loc: Loc, issues: list[Issue], *, at_key: bool = False) -> None:
    if value is None:
        return
    problem = None
    if field.type == "enum":
        if not isinstance(value, str) or value not in field.values:
            hint = did_you_mean(str(value), list(field.values))
            problem = f"{value!r} is not a {field.name} value{hint}; allowed: {', '.join(field.values)}"
    elif field.type in ("int", "money"):
        if isinstance(value, bool) or not isinstance(value, int):
            problem = f"{field.name} is a {field.type} field: {value!r} is not a whole number"
    elif field.type == "bool":
        if not isinstance(value, bool):
            problem = f"{field.name} is a bool field: {value!r} is not true or false"
    elif field.type in ("string", "id", "email", "currency"):
        if not isinstance(value, str):
            problem = f"{field.name} is a {field.type} field: {value!r} is not text (quote it)"
        elif field.type == "currency" and value not in CURRENCY_EXPONENTS:
            hint = did_you_mean(value.upper(), list(CURRENCY_EXPONENTS))
            problem = f"{value!r} is not an ISO 4217 currency code{hint}"
    if problem:
        issues.append(Issue(loc, problem, at_key=at_key))
