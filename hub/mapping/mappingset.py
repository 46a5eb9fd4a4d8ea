"""Loading the mappings folder: every file checked in one pass, one plan per provider object, and
a store that reloads on change (or SIGHUP) only when the new files are clean.

Layout: ``mappings/<connector>/<object>.yaml`` (``.yml`` too). Files directly in ``mappings/``
(such as the program file) are not mapping files and are not read here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hub.mapping.checks import check_mapping, salvage
from hub.mapping.compiler import compile_mapping
from hub.mapping.errors import MappingFileError
from hub.mapping.models import MappingFile
from hub.mapping.plan import Plan
from hub.mapping.yamlfile import (
    YamlDocument,
    parse_yaml,
    sort_errors,
    validate_document,
)

Fingerprint = tuple[tuple[str, int, int], ...]


def mapping_files(folder: Path) -> list[Path]:
    """The mapping files of a folder: ``<folder>/<connector>/<name>.yaml|.yml``, sorted."""
    found = [p for pattern in ("*/*.yaml", "*/*.yml") for p in folder.glob(pattern) if p.is_file()]
    return sorted(found)


def expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(mapping_files(path) if path.is_dir() else [path])
    return files


def fingerprint(paths: Iterable[Path]) -> Fingerprint:
    """Names, modification times and sizes: changes when a file is edited, added or removed."""
    stamps = []
    for path in expand(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def read_mapping(path: Path, text: str | None = None) -> tuple[YamlDocument, Plan | None, list[str]]:
    """Check one file in one pass (shape, then names): ``(document, plan, [])`` when clean,
    else ``(document, None, errors)``, each error as ``file:line:col: message``."""
    document = parse_yaml(path, text)
    mapping, errors = validate_document(document, MappingFile)
    if mapping is not None:
        issues = check_mapping(mapping)
    elif document.root is not None and not document.problems:
        salvaged, broken = salvage(document.data)
        issues = check_mapping(salvaged, broken) if salvaged is not None else []
    else:
        issues = []
    lines = [document.error(i.loc, _prefixed(i.loc, i.message), key=i.at_key) for i in issues]
    if errors or lines:
        return document, None, sort_errors(errors + lines)
    assert mapping is not None
    return document, compile_mapping(mapping, path), []


def compile_file(path: Path) -> Plan:
    """The plan of one file, or ``MappingFileError`` with every located problem."""
    _, plan, errors = read_mapping(path)
    if plan is None:
        raise MappingFileError(errors)
    return plan


def _prefixed(loc: tuple[str | int, ...], message: str) -> str:
    where = ".".join(str(part) for part in loc)
    return f"{where}: {message}" if where else message


@dataclass(frozen=True)
class MappingSet:
    """The plans in force, one per (connector, object)."""

    plans: tuple[Plan, ...]
    roots: tuple[Path, ...] = ()
    stamp: Fingerprint = ()

    @property
    def files(self) -> list[Path]:
        return [plan.path for plan in self.plans]

    def for_source(self, connector: str, obj: str) -> Plan | None:
        for plan in self.plans:
            if plan.connector == connector and plan.object == obj:
                return plan
        return None

    def for_target(self, connector: str, target: str) -> Plan | None:
        """The plan writing ``target`` records to ``connector`` (first match)."""
        for plan in self.plans:
            if plan.connector == connector and plan.target == target:
                return plan
        return None


def load_mappings(*paths: Path) -> MappingSet:
    """Load folders (``mappings/``) and/or single files, checking everything in one pass.

    Raises ``MappingFileError`` listing every problem of every file as ``file:line:col: message``.
    """
    roots = tuple(Path(p) for p in paths)
    stamp = fingerprint(roots)  # taken first: an edit during loading shows up as a change later
    plans: list[Plan] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in expand(roots):
        document, plan, file_errors = read_mapping(path)
        errors.extend(file_errors)
        if plan is None:
            continue
        source = (plan.connector, plan.object)
        if source in seen:
            errors.append(
                document.error(
                    ("source",), f"source: {plan.connector} {plan.object} is already mapped by {seen[source]}"
                )
            )
            continue
        seen[source] = path
        plans.append(plan)
    if errors:
        raise MappingFileError(errors)
    return MappingSet(tuple(plans), roots, stamp)


class MappingStore:
    """The mapping set in force, swapped whole on a clean reload.

    A worker reads ``store.current`` once per event and keeps that plan for the event, so a reload
    never changes the rules under an event in flight. ``reload()`` loads the files again and swaps
    only when they are all clean; otherwise the old set stays in force and the errors come back.
    """

    def __init__(self, *paths: Path) -> None:
        self._paths = tuple(Path(p) for p in paths)
        self._lock = threading.Lock()
        self._current = load_mappings(*self._paths)  # a broken file stops start-up here
        self._seen = self._current.stamp

    @property
    def current(self) -> MappingSet:
        return self._current

    def changed(self) -> bool:
        """Cheap: compares file names, modification times and sizes with the last load attempt
        (so a broken edit is reported once, not on every poll)."""
        return fingerprint(self._paths) != self._seen

    def reload(self) -> list[str]:
        """Load again; ``[]`` when swapped in, else the errors (the old set stays in force)."""
        with self._lock:
            self._seen = fingerprint(self._paths)
            try:
                fresh = load_mappings(*self._paths)
            except MappingFileError as exc:
                return exc.errors
            self._current = fresh
            return []

    def reload_if_changed(self) -> list[str] | None:
        """``None`` when nothing changed, else what ``reload()`` returned."""
        return self.reload() if self.changed() else None
