"""The one parser of bodies from outside, and the range checks on what the inbox stores."""

from __future__ import annotations

import pytest

from connectors import jsonbody
from connectors.bounds import INT64_MAX, ms_from_seconds, signature_age, stored_text
from connectors.errors import InvalidJson, MalformedPayload, SignatureInvalid
from connectors.values import Change


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"a": NaN}', "NaN"),
        (b"[1, Infinity]", "Infinity"),
        (b"-Infinity", "Infinity"),
        (b'{"a": 1e400}', "too large"),
        (b"[" * 1000 + b"]" * 1000, "nests deeper"),
        (b"[" * 65 + b"]" * 65, "nests deeper"),
        (b"1" * 5000, "digits"),
        (b"1" * 401, "digits"),
        (b'{"a": 1', "not JSON"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_what_is_not_json_the_hub_accepts_is_one_error(body: bytes, says: str) -> None:
    with pytest.raises(InvalidJson, match=says) as caught:
        jsonbody.loads(body)
    assert isinstance(caught.value, MalformedPayload) and caught.value.status == 400


def test_ordinary_json_reads_as_json() -> None:
    nested = b"[" * 64 + b"]" * 64
    assert jsonbody.loads(b'{"a": [1, 2.5, "x", null, true], "b": {"c": -3}}') == {
        "a": [1, 2.5, "x", None, True],
        "b": {"c": -3},
    }
    assert jsonbody.loads(nested) is not None
    assert jsonbody.loads(str(2**70).encode()) == 2**70  # a webhook payload may hold a big number


def test_api_bodies_hold_only_64_bit_integers() -> None:
    assert jsonbody.loads(str(INT64_MAX).encode(), int64_only=True) == INT64_MAX
    for text in (str(INT64_MAX + 1), str(-(2**63) - 1)):
        with pytest.raises(InvalidJson, match="64-bit"):
            jsonbody.loads(text.encode(), int64_only=True)


def test_a_change_the_inbox_cannot_store_is_refused() -> None:
    ok = Change("k", "deal.change", "deal", "1", 1_700_000_000_000, {})
    assert ok.version_ms == 1_700_000_000_000
    for bad in [
        {"version_ms": 10**30},
        {"version_ms": -(2**63) - 1},
        {"event_key": "k" * 256},
        {"event_key": ""},
        {"event_key": "a\x00b"},
        {"object_id": "\ud800"},
        {"event_type": "deal.\x00"},
    ]:
        fields = {"event_key": "k", "event_type": "deal.change", "object_type": "deal", "object_id": "1"}
        fields |= {k: v for k, v in bad.items() if k != "version_ms"}
        with pytest.raises(MalformedPayload):
            Change(**fields, version_ms=bad.get("version_ms", 1), payload={})  # type: ignore[arg-type]


def test_seconds_become_milliseconds_only_in_range() -> None:
    assert ms_from_seconds(1_700_000_000, "t") == 1_700_000_000_000
    assert ms_from_seconds(1.5, "t") == 1500
    assert ms_from_seconds("1", "t") is None and ms_from_seconds(True, "t") is None
    for value in (1e300, 10**20, -(10**20)):
        with pytest.raises(MalformedPayload, match="out of range"):
            ms_from_seconds(value, "t")
    assert stored_text("fine", "x", max_length=4) == "fine"


def test_a_signature_timestamp_is_digits_of_a_time() -> None:
    assert signature_age("1700000000000", 1_700_000_010.0, per_second=1000, name="T") == 10.0
    for header in ("9" * 400, "-5", "1e9", "", "١٢٣"):
        with pytest.raises(SignatureInvalid):
            signature_age(header, 1_700_000_000.0, per_second=1, name="T")
