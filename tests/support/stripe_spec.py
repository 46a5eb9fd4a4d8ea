"""Stripe's OpenAPI spec (``shared/specs/stripe/spec3.json``, API version 2023-08-16) as the
evidence the Stripe tests check against, in Python because Prism cannot load it (its schemas
are circular; see the spec's README).

* ``decode_form``: a bracket-encoded form or query (``metadata[payout_id]=7&types[0]=a``) into
  nested data, then coerced by the operation's schema (``"7"`` stays text in ``metadata``, an
  ``amount`` becomes an integer);
* ``check_request``: that data against the operation's ``requestBody`` schema (POST) or its
  query parameters' schemas (GET), with ``jsonschema``'s Draft 2020-12 validator and every
  ``$ref`` resolved through a ``referencing.Registry`` holding the whole document;
* ``spec_object``: a component object (``charge``, ``refund``…) with every required field
  filled, the given values laid over it, validated against its schema — what the fake answers
  and what the webhook tests deliver.

OpenAPI 3.0's ``nullable: true`` is rewritten to JSON Schema's ``anyOf [..., {"type": "null"}]``
on load, so ``null`` where Stripe allows it validates.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path("/work/shared/specs/stripe/spec3.json")
_URI = "urn:stripe-spec3"
_INT = re.compile(r"^-?\d+$")


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True:
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return _nullable(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def registry() -> Registry:
    return Registry().with_resource(_URI, Resource(contents=spec(), specification=DRAFT202012))


def _absolute(schema: Any) -> Any:
    """Point the schema's local ``#/…`` refs at the registered document."""
    if isinstance(schema, dict):
        return {
            k: (_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _absolute(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_absolute(v) for v in schema]
    return schema


def validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(_absolute(schema), registry=registry())
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}"
        for e in validator.iter_errors(instance)
    ]


def resolve(schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = spec()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(template, operation) of the spec path matching a concrete path (``/v1/refunds/re_1``)."""
    paths = spec()["paths"]
    for template, ops in paths.items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in ops:
            return template, ops[method.lower()]
    return None


# -- decoding -------------------------------------------------------------------------------------


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0]=x`` pairs into ``{"a": {"b": ["x"]}}`` (values still text)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        if key.endswith("[]"):
            parts.append(str(len(_get(root, parts) or {})))
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _get(root: dict[str, Any], parts: list[str]) -> Any:
    node: Any = root
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def coerce(value: Any, schema: Any) -> Any:
    """Form values are text; give integers and booleans the types the schema asks for."""
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return value
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        for option in options:
            candidate = coerce(value, option)
            if not validate(candidate, option):
                return candidate
        return value
    kind = schema.get("type")
    if kind == "integer" and isinstance(value, str) and _INT.match(value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {k: coerce(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    if kind == "array" and isinstance(value, list):
        return [coerce(v, schema.get("items") or {}) for v in value]
    return value


def decode_form(raw: str) -> dict[str, Any]:
    return decode_pairs(parse_qsl(raw, keep_blank_values=True))


def check_request(method: str, path: str, query: str, body: str) -> tuple[dict[str, Any], list[str]]:
    """(decoded parameters, problems) of one request against its operation in the spec."""
    found = operation(method, path)
    if found is None:
        return {}, [f"{method} {path}: no such operation in the spec"]
    _, op = found
    if method == "GET":
        params = decode_form(query)
        declared = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
        problems = [f"query: unknown parameter {name!r}" for name in params if name not in declared]
        data = {}
        for name, value in params.items():
            if name in declared:
                data[name] = coerce(value, declared[name]["schema"])
                problems += [f"query.{name}: {p}" for p in validate(data[name], declared[name]["schema"])]
        return data, problems
    schema = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    data = coerce(decode_form(body), schema)
    return data, validate(data, schema)


# -- objects --------------------------------------------------------------------------------------


def _minimal(schema: Any, depth: int = 0) -> Any:
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return None
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        if any(resolve(o).get("type") == "null" for o in options if isinstance(resolve(o), dict)):
            return None
        return _minimal(options[0], depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        props = schema.get("properties") or {}
        return {name: _minimal(props.get(name, {}), depth + 1) for name in schema.get("required", [])}
    return {"string": "", "integer": 0, "number": 0, "boolean": False, "array": []}.get(kind)


def spec_object(name: str, /, **values: Any) -> dict[str, Any]:
    """A ``components.schemas[name]`` object: required fields filled, ``values`` laid over (a
    dict value replaces the whole field), checked against the schema."""
    schema = {"$ref": f"#/components/schemas/{name}"}
    obj = _minimal(schema)
    obj.update(copy.deepcopy(values))
    problems = validate(obj, schema)
    if problems:
        raise AssertionError(f"{name} is not spec-shaped: {problems[:5]}")
    return obj


def list_object(url: str, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": data}
