"""Compile a checked mapping file into a ``Plan``: every path, transform, value map and filter is
turned once into a plain function, so applying the plan costs a few calls per field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hub.mapping.models import FieldRule, Filter, MappingFile, MoneyParams
from hub.mapping.paths import ABSENT, Reader, has_wildcard, reader, writer
from hub.mapping.plan import FieldInfo, FilterRule, InboundRule, OutboundRule, Plan
from hub.mapping.targets import TARGETS, TargetField
from hub.mapping.transforms import (
    TRANSFORMS,
    Fn,
    TransformError,
    chain,
    inbound,
    outbound,
    reverse_table,
    table_key,
    table_lookup,
    text_in,
)

_TEXT_TYPES = frozenset({"string", "id", "email", "currency", "enum"})


def compile_mapping(mapping: MappingFile, path: Path) -> Plan:
    """The plan of a file that passed ``check_mapping`` (its names are all known)."""
    target = TARGETS[mapping.target]
    rules = mapping.fields
    currency_fields = {
        step.params.currency_field
        for rule in rules.values()
        for step in rule.transform
        if isinstance(step.params, MoneyParams) and step.params.currency_field
    }
    # fields a money transform reads its currency from are computed first
    order = sorted(rules, key=lambda name: name not in currency_fields)
    inbound_rules = tuple(
        _inbound_rule(name, rules[name], target.fields[name])
        for name in order
        if rules[name].direction in ("inbound", "both")
    )
    outbound_rules = tuple(
        _outbound_rule(name, rule) for name, rule in rules.items() if rule.direction in ("outbound", "both")
    )
    return Plan(
        path=path,
        connector=mapping.source.connector,
        object=mapping.source.object,
        target=mapping.target,
        key_fields=mapping.key_fields,
        version_field=target.version_field if target.version_field in rules else None,
        fields={
            name: FieldInfo(name, rule.direction, rule.owner, rule.sources, rule.required)
            for name, rule in rules.items()
        },
        filters=tuple(_filter(f) for f in mapping.filters),
        inbound_rules=inbound_rules,
        outbound_rules=outbound_rules,
    )


def _inbound_rule(name: str, rule: FieldRule, field: TargetField) -> InboundRule:
    if rule.has_const:
        return InboundRule(name=name, read=None, convert=None, const=rule.const)
    functions: list[Fn] = [inbound(step) for step in rule.transform]
    if rule.value_map is not None:
        vm = rule.value_map
        look = table_lookup(vm.values, vm.default, vm.has_default)
        functions.append(lambda value, _record: look(value))
    else:
        if field.type in _TEXT_TYPES and _ends_raw(rule):
            functions.append(text_in)
        if field.type == "enum":
            functions.append(_enum_check(field))
    return InboundRule(
        name=name,
        read=_reader(rule.sources),
        convert=chain(functions),
        default=rule.default,
        has_default=rule.has_default,
        required=rule.required,
    )


def _ends_raw(rule: FieldRule) -> bool:
    """True when the chain leaves a provider value unconverted (no steps, or lookup/coalesce)."""
    if not rule.transform:
        return True
    return TRANSFORMS[rule.transform[-1].name].produces == "any"


def _enum_check(field: TargetField) -> Fn:
    allowed = frozenset(field.values)

    def check(value: Any, _record: Mapping[str, Any]) -> Any:
        if value not in allowed:
            raise TransformError(f"not a {field.name} value (allowed: {', '.join(field.values)})")
        return value

    return check


def _reader(paths: tuple[str, ...]) -> Reader:
    if len(paths) == 1:
        return reader(paths[0])
    readers = tuple(reader(p) for p in paths)

    def read_many(record: Any) -> Any:
        values = [read(record) for read in readers]
        if all(value is ABSENT for value in values):
            return ABSENT
        return [None if value is ABSENT else value for value in values]

    return read_many


def _outbound_rule(name: str, rule: FieldRule) -> OutboundRule:
    (path,) = rule.sources
    assert not has_wildcard(path)
    functions: list[Fn] = []
    if rule.value_map is not None:
        vm = rule.value_map
        table = dict(vm.reverse) if vm.reverse is not None else reverse_table(vm.values)
        assert table is not None, "checked: one-to-one or reverse given"
        look = table_lookup({table_key(k): v for k, v in table.items()}, None, False)
        functions.append(lambda value, _record: look(value))
    for step in reversed(rule.transform):
        function = outbound(step)
        if function is not None:
            functions.append(function)
    return OutboundRule(name=name, convert=chain(functions), write=writer(path))


def _filter(flt: Filter) -> FilterRule:
    test = flt.test
    keep: Callable[[Any], bool]
    if test == "equals":
        wanted = _norm(flt.equals)
        keep = lambda value: _norm(value) == wanted
    elif test == "in":
        allowed = frozenset(_norm(v) for v in flt.in_ or ())
        keep = lambda value: _norm(value) in allowed
    elif flt.present:
        keep = lambda value: value is not None and value != "" and value != []
    else:
        keep = lambda value: value is None or value == "" or value == []
    return FilterRule(read=reader(flt.source), keep=keep)


def _norm(value: Any) -> str | None:
    return None if value is None else table_key(value)
