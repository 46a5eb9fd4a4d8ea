"""How a failed attempt is classified (``hub.pipeline.work.describe``): what trying again can
fix is retried, a bug dead-letters with its traceback."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.errors import FatalError, RetriableError
from hub.pipeline.work import describe


def _db_error(cls: type, message: str) -> BaseException:
    return cls("INSERT INTO deals ...", None, sqlite3.IntegrityError(message))


def test_a_unique_clash_with_a_concurrent_insert_is_retried() -> None:
    # found by the fault harness: two workers each took an event of one new Salesforce
    # opportunity, both inserted its deal, and the loser was dead-lettered on its first attempt
    failure = describe(_db_error(IntegrityError, "UNIQUE constraint failed: deals.source, deals.external_id"))
    assert failure.retriable and failure.kind == "conflict"
    assert "UNIQUE constraint failed" in failure.message


def test_what_trying_again_can_fix_is_retried_and_a_bug_is_not() -> None:
    assert describe(_db_error(OperationalError, "database is locked")).retriable
    assert describe(RetriableError("429")).retriable
    assert not describe(FatalError("400 from the provider")).retriable
    bug = describe(KeyError("dealstage"))
    assert (bug.kind, bug.retriable) == ("bug", False) and "KeyError" in bug.traceback
