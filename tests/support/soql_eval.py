"""A small SOQL evaluator for the fake Salesforce: the subset the hub sends (``SELECT … FROM …
[WHERE …] [ORDER BY …] [LIMIT n]`` with ``= != < > <= >= IN NOT IN LIKE``, ``AND``/``OR``,
parentheses, string/number/boolean/null/date/dateTime literals).

Strings follow Salesforce's escape rules (backslash before ``' " \\ n r t b f``, and ``\\%``
``\\_`` inside LIKE); anything else is a ``MALFORMED_QUERY``, as Salesforce answers. Text compares
case-insensitively, as SOQL does; Ids compare as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


class MalformedQuery(ValueError):
    pass


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
""",
    re.VERBOSE,
)
_UNESCAPE = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    "%": "\\%",
    "_": "\\_",
}
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "ORDER",
    "BY",
    "LIMIT",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "TRUE",
    "FALSE",
    "NULL",
}


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _UNESCAPE:
                raise MalformedQuery(f"invalid escape sequence near {body[i : i + 2]!r}")
            out.append(_UNESCAPE[body[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise MalformedQuery(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group()
        if kind == "ws":
            continue
        if kind == "string":
            tokens.append(("string", _unescape(value[1:-1])))
        elif kind == "datetime":
            tokens.append(("datetime", parse_datetime(value)))
        elif kind == "date":
            tokens.append(("date", date.fromisoformat(value)))
        elif kind == "number":
            tokens.append(("number", float(value)))
        elif kind == "name" and value.upper() in _KEYWORDS:
            tokens.append(("kw", value.upper()))
        else:
            tokens.append((kind, value))
    return tokens


def parse_datetime(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Callable[[Mapping[str, Any]], bool] | None = None
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]):
        self.tokens = tokens
        self.i = 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, value: Any = None) -> Any:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise MalformedQuery(f"expected {value or kind}, found {tok[1] if tok else 'end of query'!r}")
        self.i += 1
        return tok[1]

    def accept(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == kind and (value is None or tok[1] == value):
            self.i += 1
            return True
        return False

    def query(self) -> Query:
        self.take("kw", "SELECT")
        fields = [self.take("name")]
        while self.accept("punct", ","):
            fields.append(self.take("name"))
        self.take("kw", "FROM")
        q = Query(fields=fields, sobject=self.take("name"))
        if self.accept("kw", "WHERE"):
            q.where = self.disjunction()
        if self.accept("kw", "ORDER"):
            self.take("kw", "BY")
            while True:
                name = self.take("name")
                self.names.add(name)
                desc = self.accept("kw", "DESC")
                if not desc:
                    self.accept("kw", "ASC")
                q.order_by.append((name, desc))
                if not self.accept("punct", ","):
                    break
        if self.accept("kw", "LIMIT"):
            q.limit = int(self.take("number"))
        if self.peek() is not None:
            raise MalformedQuery(f"unexpected token {self.peek()[1]!r}")  # type: ignore[index]
        return q

    def disjunction(self) -> Callable[[Mapping[str, Any]], bool]:
        parts = [self.conjunction()]
        while self.accept("kw", "OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: any(p(r) for p in ps))

    def conjunction(self) -> Callable[[Mapping[str, Any]], bool]:
        parts = [self.atom()]
        while self.accept("kw", "AND"):
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: all(p(r) for p in ps))

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise MalformedQuery("a value is missing")
        self.i += 1
        if tok[0] in ("string", "datetime", "date", "number"):
            return tok[1]
        if tok == ("kw", "TRUE"):
            return True
        if tok == ("kw", "FALSE"):
            return False
        if tok == ("kw", "NULL"):
            return None
        raise MalformedQuery(f"unexpected token {tok[1]!r}")

    def atom(self) -> Callable[[Mapping[str, Any]], bool]:
        if self.accept("punct", "("):
            inner = self.disjunction()
            self.take("punct", ")")
            return inner
        name = self.take("name")
        self.names.add(name)
        negate = self.accept("kw", "NOT")
        if self.accept("kw", "IN"):
            self.take("punct", "(")
            values = [self.value()]
            while self.accept("punct", ","):
                values.append(self.value())
            self.take("punct", ")")
            return lambda r: (any(_eq(name, r.get(name), v) for v in values)) != negate
        if negate:
            raise MalformedQuery("NOT must be followed by IN here")
        if self.accept("kw", "LIKE"):
            pattern = _like(self.take("string"))
            return lambda r: r.get(name) is not None and bool(pattern.fullmatch(str(r.get(name))))
        op = self.take("op")
        literal = self.value()
        return lambda r: _compare(name, r.get(name), op, literal)


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if pattern[i] == "%" else "." if pattern[i] == "_" else re.escape(pattern[i]))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _norm(name: str, value: Any, like: Any) -> tuple[Any, Any]:
    if isinstance(like, datetime):
        return (parse_datetime(str(value)) if value else None), like
    if isinstance(like, date):
        return (date.fromisoformat(str(value)[:10]) if value else None), like
    if isinstance(like, float):
        return (float(value) if value is not None else None), like
    if isinstance(like, str) and isinstance(value, str) and not name.endswith("Id"):
        return value.casefold(), like.casefold()
    return value, like


def _eq(name: str, value: Any, literal: Any) -> bool:
    a, b = _norm(name, value, literal)
    return a == b


def _compare(name: str, value: Any, op: str, literal: Any) -> bool:
    if op in ("=",):
        return _eq(name, value, literal)
    if op in ("!=", "<>"):
        return not _eq(name, value, literal)
    a, b = _norm(name, value, literal)
    if a is None or b is None:
        return False
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def parse(text: str) -> tuple[Query, set[str]]:
    """(the query, every field name it uses in WHERE and ORDER BY)."""
    parser = _Parser(tokenize(text))
    q = parser.query()
    return q, parser.names


def sort_key(order_by: list[tuple[str, bool]]) -> Callable[[Mapping[str, Any]], Any]:
    def key(record: Mapping[str, Any]) -> tuple[Any, ...]:
        parts = []
        for name, _desc in order_by:
            value = record.get(name)
            parts.append((value is not None, str(value) if value is not None else ""))
        return tuple(parts)

    return key
