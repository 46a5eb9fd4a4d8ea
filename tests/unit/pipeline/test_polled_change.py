"""A polled record becomes an inbox change: a deleted (archived) record becomes a deletion event keyed
on its version."""

from __future__ import annotations

from connectors.values import Record
from hub.pipeline.sync import polled_change


def test_deleted_records_become_deletion_events() -> None:
    change = polled_change(
        object(), "contact", Record("contact", "5", {}, 9, archived=True, raw={"id": "5", "archived": True})
    )
    assert (change.event_type, change.event_key, change.object_id) == ("contact.deletion", "poll:contact:5:9", "5")
