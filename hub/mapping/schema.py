"""The JSON Schema of mapping files, generated from the models, for editors to autocomplete.

Committed as ``mappings/mapping.schema.json`` and named at the top of every mapping file with
``# yaml-language-server: $schema=../mapping.schema.json``; a test keeps it current
(``partnerhub mappings schema --output mappings/mapping.schema.json`` regenerates it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.mapping.models import MappingFile, TransformStep, transform_names
from hub.mapping.sources import known_connectors
from hub.mapping.targets import TARGETS

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "mappings" / "mapping.schema.json"
SCHEMA_ID = "https://partnerhub.invalid/schemas/mapping-v1.json"


def mapping_schema() -> dict[str, Any]:
    schema = MappingFile.model_json_schema(by_alias=True)
    defs = schema["$defs"]

    # a transform step is a bare name or a one-key mapping
    step = defs["TransformStep"]
    bare = [name for name in transform_names() if _bare_allowed(name)]
    defs["TransformStep"] = {
        "title": "TransformStep",
        "description": step.get("description", ""),
        "anyOf": [
            {"type": "string", "enum": bare},
            {
                **{k: v for k, v in step.items() if k not in ("title", "description")},
                "minProperties": 1,
                "maxProperties": 1,
            },
        ],
    }
    # a field rule may be a bare source path
    rule = defs["FieldRule"]
    defs["FieldRule"] = {
        "title": "FieldRule",
        "description": rule.get("description", ""),
        "anyOf": [
            {"type": "string", "description": "Short for {source: this.path}."},
            {k: v for k, v in rule.items() if k not in ("title", "description")},
        ],
    }
    schema["properties"]["target"]["enum"] = list(TARGETS)
    defs["Source"]["properties"]["connector"]["enum"] = known_connectors()
    field_names = sorted({name for target in TARGETS.values() for name in target.fields})
    schema["properties"]["fields"]["propertyNames"] = {"enum": field_names}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "partnerhub mapping file (version 1)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _bare_allowed(name: str) -> bool:
    """A transform may be written bare when it validates without parameters."""
    try:
        TransformStep.model_validate(name)
    except ValidationError:
        return False
    return True


def schema_text() -> str:
    return json.dumps(mapping_schema(), indent=2, sort_keys=False) + "\n"
