"""Range checks for the numbers and keys providers send, before anything is stored.

The inbox stores an event's version in a 64-bit column and its key, type and object id in
bounded text columns; a value that does not fit fails the statement, and on the webhook path
that statement is shared by every request of a group commit. So every connector's parsing
brings its values through here (``Change`` does it for the fields it stores), and a value out
of range is a ``MalformedPayload`` (400) for that request alone. Signature timestamps go through
``signature_age`` before any arithmetic, so a 400-digit header is a 401, not an overflow.
"""

from __future__ import annotations

import math
import re
from typing import Any

from connectors.errors import MalformedPayload, SignatureInvalid

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: the inbox's ``event_key`` column
MAX_EVENT_KEY = 255
#: one ``local@domain.tld`` e-mail address as SendGrid takes it (anything else is a 400 there): the
#: pattern every place an address enters the hub checks, so no address is stored that cannot be mailed
MAIL_ADDRESS_PATTERN = r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+$"
MAX_MAIL_ADDRESS = 320
_MAIL_ADDRESS = re.compile(MAIL_ADDRESS_PATTERN)
#: digits an epoch timestamp header may have (milliseconds until the year 33658: 15)
_MAX_STAMP_DIGITS = 16


def is_mail_address(value: str) -> bool:
    """Whether ``value`` is one address SendGrid would send to (``MAIL_ADDRESS_PATTERN``)."""
    return len(value) <= MAX_MAIL_ADDRESS and _MAIL_ADDRESS.fullmatch(value) is not None


def int64(value: int, what: str) -> int:
    """``value`` if a signed 64-bit column can hold it, else ``MalformedPayload``."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise MalformedPayload(f"{what} is out of range")
    return value


def ms_from_seconds(value: Any, what: str) -> int | None:
    """Epoch milliseconds of an epoch-seconds number (``None`` if it is not a number); out of
    the 64-bit range, or not finite, is ``MalformedPayload``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedPayload(f"{what} is not a finite number")
    if abs(value) > INT64_MAX // 1000:
        raise MalformedPayload(f"{what} is out of range")
    return int(value * 1000)


def stored_text(value: str, what: str, *, max_length: int | None = None) -> str:
    """``value`` if a text column can hold it: no NUL character, encodable as UTF-8 (no lone
    surrogates) and, with ``max_length``, not longer."""
    if max_length is not None and len(value) > max_length:
        raise MalformedPayload(f"{what} is longer than {max_length} characters")
    if "\x00" in value:
        raise MalformedPayload(f"{what} holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedPayload(f"{what} is not valid Unicode text") from None
    return value


def signature_age(header: str, now_s: float, *, per_second: int, name: str) -> float:
    """Seconds since the epoch timestamp in a signature header (``per_second`` 1000 for
    milliseconds): digits only, and few enough to be a time at all; else ``SignatureInvalid``."""
    text = header.strip()
    if not text.isdigit() or not text.isascii() or len(text) > _MAX_STAMP_DIGITS:
        unit = "epoch milliseconds" if per_second == 1000 else "Unix seconds"
        raise SignatureInvalid(f"{name} is not {unit}")
    return now_s - int(text) / per_second
