"""The outbox rides the same durable state machine: one row per effect, carried out once,
retried on a retriable failure, found again by the reconciler after a flushed Redis."""

from __future__ import annotations

from typing import Any, ClassVar

import redis as redis_lib
from sqlalchemy import select

from connectors.errors import RetriableError
from hub.pipeline.models import OutboxItem
from hub.pipeline.outbox import owe
from hub.pipeline.store import upgrade
from hub.runtime.context import Hub
from hub.runtime.jobs import run_outbox_item
from hub.runtime.scheduler import reconcile_once
from hub.runtime.settings import load_settings


class RecordingConnector:
    """A provider boundary that records calls and fails when told to."""

    name: ClassVar[str] = "recorder"
    actions: ClassVar[frozenset[str]] = frozenset({"send_email"})

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], str]] = []
        self.failures: list[Exception] = []

    def send_email(self, payload: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        if self.failures:
            raise self.failures.pop(0)
        self.calls.append((payload, idempotency_key))
        return {"message_id": f"m-{len(self.calls)}"}

    def outbox_actions(self) -> dict[str, Any]:
        return {"send_email": self.send_email}

    def close(self) -> None:
        pass


def open_hub(sqlite_url: str, redis_url: str, monkeypatch) -> tuple[Hub, RecordingConnector]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PARTNERHUB_WORKER__BACKOFF_BASE_S", "0.01")
    monkeypatch.setenv("PARTNERHUB_WORKER__BACKOFF_MAX_S", "0.02")
    upgrade(sqlite_url)
    hub = Hub.open(load_settings())
    recorder = RecordingConnector()
    hub.connectors["recorder"] = recorder  # type: ignore[assignment]
    return hub, recorder


def test_effect_owed_once_and_carried_out_once(sqlite_url, redis_url, monkeypatch):
    hub, recorder = open_hub(sqlite_url, redis_url, monkeypatch)
    try:
        with hub.sessions() as s, s.begin():
            first = owe(
                s,
                natural_key="email:confirm:R1",
                connector="recorder",
                action="send_email",
                payload={"to": "p@example.com"},
            )
            again = owe(
                s,
                natural_key="email:confirm:R1",
                connector="recorder",
                action="send_email",
                payload={"to": "p@example.com"},
            )
        assert first is not None and again is None
        assert run_outbox_item(hub, first) == "done"
        assert run_outbox_item(hub, first) is None  # a second job for the same row does nothing
        assert recorder.calls == [({"to": "p@example.com"}, "email:confirm:R1")]
        with hub.sessions() as s:
            item = s.get(OutboxItem, first)
            assert item.state == "done" and item.result == {"message_id": "m-1"}
    finally:
        hub.close()


def test_retriable_failure_then_reconciler_after_flush(sqlite_url, redis_url, monkeypatch):
    hub, recorder = open_hub(sqlite_url, redis_url, monkeypatch)
    try:
        recorder.failures.append(RetriableError("provider said 503"))
        with hub.sessions() as s, s.begin():
            item_id = owe(s, natural_key="email:x:1", connector="recorder", action="send_email", payload={})
        assert run_outbox_item(hub, item_id) == "retrying"
        redis_lib.Redis.from_url(redis_url).flushall()
        import time

        time.sleep(0.05)
        assert reconcile_once(hub)["outbox"] == 1
        assert redis_lib.Redis.from_url(redis_url).llen("rq:queue:partnerhub-outbox") == 1
        assert run_outbox_item(hub, item_id) == "done"
        assert len(recorder.calls) == 1
        with hub.sessions() as s:
            assert s.scalars(select(OutboxItem.attempts)).one() == 2
    finally:
        hub.close()


def test_unknown_action_is_a_dead_letter(sqlite_url, redis_url, monkeypatch):
    hub, _ = open_hub(sqlite_url, redis_url, monkeypatch)
    try:
        with hub.sessions() as s, s.begin():
            item_id = owe(s, natural_key="x:1", connector="recorder", action="create_transfer", payload={})
        assert run_outbox_item(hub, item_id) == "dead"
        with hub.sessions() as s:
            item = s.get(OutboxItem, item_id)
            assert item.last_error_kind == "configuration" and "no outbox action 'create_transfer'" in item.last_error
    finally:
        hub.close()
