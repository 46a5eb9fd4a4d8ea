"""Dotted field paths (``properties.dealname``, ``associations.contacts.results.*.id``): checking
them against a connector's declared fields, and compiled readers and writers for the hot path."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, Final


class _Absent:
    """The path is not in the record at all (unlike a present ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Final = _Absent()
WILDCARD = "*"

Reader = Callable[[Any], Any]
Writer = Callable[[dict[str, Any], Any], None]

#: declared field types that may be walked into with further dots or ``*``
CONTAINER_TYPES = frozenset({"object", "list"})


def is_declared(path: str, fields: Mapping[str, str]) -> bool:
    """A path is declared when the connector lists it, or it goes inside a declared object or list
    (``associations.contacts.results.*.id`` inside ``associations.contacts: list``)."""
    if WILDCARD not in path.split(".") and path in fields:
        return True
    for declared, kind in fields.items():
        if kind in CONTAINER_TYPES and path.startswith(declared + "."):
            return True
    return False


def has_wildcard(path: str) -> bool:
    return WILDCARD in path.split(".")


def suggest(path: str, fields: Mapping[str, str]) -> str:
    close = difflib.get_close_matches(path, list(fields), n=1, cutoff=0.6)
    if not close:
        # `dealname` for `properties.dealname`
        tails = {name.rsplit(".", 1)[-1]: name for name in fields}
        tail = difflib.get_close_matches(path.rsplit(".", 1)[-1], list(tails), n=1, cutoff=0.75)
        close = [tails[tail[0]]] if tail else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def reader(path: str) -> Reader:
    """A function returning the value at ``path`` in a record, or ``ABSENT``. A ``*`` step maps
    the rest of the path over a list and returns the list of values found."""
    parts = path.split(".")
    if WILDCARD in parts:
        at = parts.index(WILDCARD)
        head = reader(".".join(parts[:at])) if at else (lambda record: record)
        rest = ".".join(parts[at + 1 :])
        tail: Reader = reader(rest) if rest else (lambda item: item)

        def read_each(record: Any) -> Any:
            items = head(record)
            if not isinstance(items, list):
                return ABSENT
            found = [tail(item) for item in items]
            return [value for value in found if value is not ABSENT and value is not None]

        return read_each
    if len(parts) == 1:
        (one,) = parts

        def read_1(record: Any) -> Any:
            try:
                return record[one]
            except (KeyError, TypeError, IndexError):
                return ABSENT

        return read_1
    if len(parts) == 2:
        first, second = parts

        def read_2(record: Any) -> Any:
            try:
                return record[first][second]
            except (KeyError, TypeError, IndexError):
                return ABSENT

        return read_2

    def read_n(record: Any) -> Any:
        value = record
        try:
            for part in parts:
                value = value[part]
        except (KeyError, TypeError, IndexError):
            return ABSENT
        return value

    return read_n


def writer(path: str) -> Writer:
    """A function setting ``path`` in a nested payload dict, creating the parents it needs."""
    *parents, last = path.split(".")
    if not parents:

        def write_1(payload: dict[str, Any], value: Any) -> None:
            payload[last] = value

        return write_1

    def write_n(payload: dict[str, Any], value: Any) -> None:
        node = payload
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return write_n
