"""SOQL text built safely: every value placed in a query is escaped here, never spliced raw.

Salesforce's SOQL reference ("Quoted String Escape Sequences"): inside single quotes, ``\\``
escapes ``' " \\ n r t b f``; in a ``LIKE`` pattern ``\\%`` and ``\\_`` stand for themselves.
Field and object names cannot be quoted, so they are checked against the API-name shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\b": "\\b", "\f": "\\f"}  # fmt: skip
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def quote(value: str) -> str:
    """``'value'`` with every special character escaped."""
    return "'" + "".join(_ESCAPES.get(c, c) for c in str(value)) + "'"


def like_contains(value: str) -> str:
    """A ``LIKE`` pattern matching text that contains ``value`` literally."""
    escaped = "".join(_ESCAPES.get(c, c) for c in str(value))
    escaped = escaped.replace("%", "\\%").replace("_", "\\_")
    return "'%" + escaped + "%'"


def quote_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(quote(v) for v in values) + ")"


def name(value: str) -> str:
    """A field or object API name, refused unless it has the shape of one."""
    if not _NAME.match(value):
        raise ValueError(f"not a Salesforce API name: {value!r}")
    return value


def datetime_literal(moment: datetime) -> str:
    """A SOQL dateTime literal (unquoted, UTC, milliseconds)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def select(
    fields: Iterable[str],
    sobject: str,
    where: str | None = None,
    *,
    order_by: str | None = None,
    limit: int | None = None,
) -> str:
    text = f"SELECT {', '.join(name(f) for f in fields)} FROM {name(sobject)}"
    if where:
        text += f" WHERE {where}"
    if order_by:
        text += f" ORDER BY {order_by}"
    if limit is not None:
        text += f" LIMIT {int(limit)}"
    return text
