"""The mapping errors, classified by what should happen next.

* ``MappingFileError`` — a file is broken: start-up stops, ``check`` exits 1. Carries every
  problem as ``path/to/file.yaml:LINE:COL: message``.
* ``MappingRuntimeError`` — one record cannot be mapped: the event is dead-lettered with the file,
  the field and the value in its reason; the worker carries on.
* ``UnknownMappedValue`` — a value map met a value it does not know (typically a pipeline stage
  someone just added in the CRM): the event waits as a dead letter and an alert names the value
  and the file; fix the map, then replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from connectors.errors import ConfigurationError, SkippableRecord

_VALUE_CHARS = 200


class MappingFileError(ConfigurationError):
    """One or more mapping (or program) files are invalid. ``errors`` holds one line per problem."""

    kind = "mapping_file"

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors: list[str] = list(errors)
        super().__init__("\n".join(self.errors))


def show_value(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


class MappingRuntimeError(SkippableRecord):
    """A record the mapping cannot handle; names the file, the field and the value."""

    kind = "mapping"

    def __init__(self, file: Path | str, field: str, value: object, problem: str) -> None:
        self.file = Path(file)
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{self.file}: field {field!r}: {problem} (value {show_value(value)})")


class UnknownMappedValue(MappingRuntimeError):
    """A value map (or ``lookup`` table) has no entry for this value and no default."""

    kind = "mapping_unknown_value"

    def __init__(self, file: Path | str, field: str, value: object) -> None:
        super().__init__(
            file,
            field,
            value,
            "not in the value map; add it to the file (or give the map a default), then replay the event",
        )

    @property
    def alert_key(self) -> str:
        """One open alert per file, field and unknown value."""
        return f"mapping-unknown-value:{self.file}:{self.field}:{self.value}"
