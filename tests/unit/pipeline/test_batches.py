"""How a batch of CRM record writes is made and how its answer is shared out among the rows
(``hub.pipeline.batches.write``), against a provider boundary that records its calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from connectors.capabilities import WritesInBatches
from connectors.errors import FatalError, OutcomeUnknown, RetriableError
from connectors.values import WriteResult
from hub.pipeline.batches import Group, group_of, write

DEALS = Group("crm", "deal", "id")


class BatchWriter:
    """Upserts by ``id``; refuses a whole call holding a record with ``bad`` (like HubSpot's 400),
    or every call with ``fail`` set."""

    name: ClassVar[str] = "crm"
    write_batch_size: ClassVar[int] = 100

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail = fail

    def upsert_many(self, obj: str, records: Sequence[Mapping[str, Any]], *, key: str) -> list[WriteResult]:
        self.calls.append([dict(r) for r in records])
        if self.fail is not None:
            raise self.fail
        if any("bad" in r.get("properties", {}) for r in records):
            raise FatalError("hubspot: 400 Property values were not valid")
        return [
            WriteResult(key=str(r[key]), id=str(r[key]), created=False, written=dict(r["properties"])) for r in records
        ]


def rows(*records: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(n + 1, {"object": "deal", "key": "id", "record": r}) for n, r in enumerate(records)]


def test_the_writer_is_a_batch_writer_and_only_record_writes_have_a_group() -> None:
    assert isinstance(BatchWriter(), WritesInBatches)
    assert group_of("crm", "write_record", {"object": "deal", "key": "id", "record": {}}) == DEALS
    assert group_of("crm", "update_deal", {"object": "deal", "key": "id", "record": {}}) is None
    assert group_of("crm", "write_record", {"object": "deal", "record": {}}) is None  # no key: not batched


def test_rows_of_one_record_are_merged_newest_last_and_share_the_result() -> None:
    writer = BatchWriter()
    out = write(
        writer,
        DEALS,
        rows(
            {"id": "7", "properties": {"partner": "1", "state": "pending"}},
            {"id": "8", "properties": {"partner": "2"}},
            {"id": "7", "properties": {"state": "approved"}},
        ),
    )
    assert writer.calls == [
        [{"id": "7", "properties": {"partner": "1", "state": "approved"}}, {"id": "8", "properties": {"partner": "2"}}]
    ]
    assert (
        out[1]
        == out[3]
        == {"id": "7", "written": {"deal": {"7": {"partner": "1", "state": "approved"}}}, "created": {}}
    )
    assert out[2]["written"] == {"deal": {"8": {"partner": "2"}}}


def test_a_refused_batch_is_split_until_the_refused_record_is_alone() -> None:
    writer = BatchWriter()
    records = [{"id": str(n), "properties": {"partner": "1"}} for n in range(8)]
    records[5] = {"id": "5", "properties": {"bad": "x"}}
    out = write(writer, DEALS, rows(*records))
    assert [len(c) for c in writer.calls] == [8, 4, 4, 2, 1, 1, 2]  # 0-3 ok; 4-7 -> 4-5 -> 4 ok, 5 alone; 6-7 ok
    assert isinstance(out[6], FatalError)
    assert all(isinstance(out[n], dict) for n in range(1, 9) if n != 6)


def test_a_retriable_failure_fails_every_row_and_a_lost_answer_is_retriable_for_keyed_records() -> None:
    busy = write(BatchWriter(RetriableError("429", retry_after=3)), DEALS, rows({"id": "1", "properties": {}}))
    assert isinstance(busy[1], RetriableError)
    lost = write(BatchWriter(OutcomeUnknown("answer lost")), DEALS, rows({"id": "1", "properties": {}}))
    assert isinstance(lost[1], RetriableError) and "written again by id" in str(lost[1])
    created = write(BatchWriter(OutcomeUnknown("answer lost")), DEALS, rows({"properties": {}}))
    assert isinstance(created[1], OutcomeUnknown)  # a create without a key is never resent blindly


def test_a_connector_without_batch_writes_fails_each_row_as_configuration() -> None:
    out = write(object(), DEALS, rows({"id": "1", "properties": {}}))
    assert type(out[1]).__name__ == "ConfigurationError"
