"""Mapping files: how each provider object corresponds to a hub record, in each direction.

Admins edit ``mappings/<connector>/<object>.yaml`` (reference: ``docs/mappings.md``). This package
checks them (every problem as ``file:line:col: message``), compiles each into a ``Plan`` of plain
functions, and applies it to records::

    ms = load_mappings(Path("mappings"))
    plan = ms.for_source("hubspot", "deal")
    change = plan.inbound(record)      # Canonical | None (filtered out)
    payload = plan.outbound(deal)      # {"properties": {...}} for HubSpot

May import ``connectors`` only (inbox events for a shadow run are handed in).
"""

from hub.mapping.errors import MappingFileError, MappingRuntimeError, UnknownMappedValue
from hub.mapping.events import event_record, is_partial, source_record_from_event
from hub.mapping.mappingset import (
    MappingSet,
    MappingStore,
    compile_file,
    load_mappings,
    mapping_files,
)
from hub.mapping.plan import Canonical, FieldInfo, Plan
from hub.mapping.yamlfile import (
    Located,
    load_yaml_model,
    parse_yaml_model,
    read_yaml_model,
)

__all__ = [
    "Canonical",
    "FieldInfo",
    "Located",
    "MappingFileError",
    "MappingRuntimeError",
    "MappingSet",
    "MappingStore",
    "Plan",
    "UnknownMappedValue",
    "compile_file",
    "event_record",
    "is_partial",
    "load_mappings",
    "load_yaml_model",
    "mapping_files",
    "parse_yaml_model",
    "read_yaml_model",
    "source_record_from_event",
]
