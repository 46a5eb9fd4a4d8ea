"""The one JSON parser for bodies from outside: provider webhooks and the hub's API.

``json.loads`` accepts what no other JSON reader does and fails in ways a caller does not
expect: ``NaN``/``Infinity`` (not JSON; PostgreSQL's JSON columns refuse them, so one such
event would fail the whole group commit of the webhook path), ``1e400`` (an infinite float),
nesting deep enough to raise ``RecursionError``, integers past Python's 4,300-digit limit
(``ValueError``). ``loads`` turns each of these into one error, ``InvalidJson`` (a
``MalformedPayload``: 400, nothing stored), and bounds the nesting, so nothing downstream
(storage, mapping, logging) meets a value it cannot handle.
"""

from __future__ import annotations

import json
import math
from typing import Any

from connectors.bounds import INT64_MAX, INT64_MIN
from connectors.errors import InvalidJson

#: deepest nesting of arrays and objects accepted (provider events nest a dozen levels at most)
MAX_DEPTH = 64
#: longest integer literal accepted at all (Python refuses to convert past 4,300 digits)
MAX_INT_DIGITS = 400


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"body is not JSON: {name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson(f"body is not JSON: the number {text[:40]} is too large")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise InvalidJson(f"body holds an integer of {len(text)} digits")
    return int(text)


def _int64(text: str) -> int:
    value = _bounded_int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidJson("body holds an integer outside the 64-bit range")
    return value


def loads(data: bytes | str, *, int64_only: bool = False, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in ``data`` (UTF-8), or ``InvalidJson``. ``int64_only``: integers must
    fit a signed 64-bit column (the API's ids and amounts); webhook payloads keep any integer
    of up to ``MAX_INT_DIGITS`` digits, and their connectors range-check what they store."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_int64 if int64_only else _bounded_int,
        )
    except InvalidJson:
        raise
    except UnicodeDecodeError:
        raise InvalidJson("body is not UTF-8 JSON") from None
    except RecursionError:
        raise InvalidJson(f"body nests deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, and the int-str conversion limit
        message = str(exc) if isinstance(exc, json.JSONDecodeError) else "a number cannot be read"
        raise InvalidJson(f"body is not JSON: {message}") from None
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """``InvalidJson`` if arrays/objects in ``value`` nest deeper than ``max_depth``."""
    if not isinstance(value, (dict, list)):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise InvalidJson(f"body nests deeper than {max_depth} levels")
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
