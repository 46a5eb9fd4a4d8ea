"""What every console page shares: the queue badges in the navigation, the admin-only gate, a
domain call in one unit of work with its refusal shown as the error page, and reading the
filters of a page's query string (bad values answer 400, never a 500)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import Path, Query
from sqlalchemy.orm import Session

from hub.pipeline.unit_of_work import unit_of_work
from hub.program import review_queues
from hub.program.errors import DomainError, InvalidInput, InvalidState, NotFound
from hub.web.visit import PageError, Visit

T = TypeVar("T")
#: the ``?page=`` of a paginated page (``page`` is the render function's name)
PageParam = Annotated[str | None, Query(alias="page")]
#: a row's id in a console path: a number a database column holds (a larger one is a 4xx, never
#: the database driver's overflow)
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

#: a refusal of the program domain -> (status, title) of the error page
REFUSALS: tuple[tuple[type[DomainError], int, str], ...] = (
    (NotFound, 404, "Not found"),
    (InvalidState, 409, "That cannot be done now"),
    (InvalidInput, 400, "That value cannot be used"),
    (DomainError, 409, "Refused"),
)


def refused(exc: DomainError) -> PageError:
    for cls, status, title in REFUSALS:
        if isinstance(exc, cls):
            return PageError(status, title, str(exc))
    return PageError(409, "Refused", str(exc))  # pragma: no cover - DomainError is listed


def decide(visit: Visit, work: Callable[[Session], T]) -> T:
    """``work`` in one unit of work (committed, then what it owes is enqueued); a domain refusal
    becomes the error page and nothing is changed."""
    try:
        with unit_of_work(visit.hub) as session:
            return work(session)
    except DomainError as exc:
        raise refused(exc) from None


def require_admin(visit: Visit) -> str:
    """The acting admin's audit name; a viewer is refused (403) before anything is read."""
    person = visit.person
    if person is None or not person.is_admin:
        raise PageError(403, "Admins only", "Your role is viewer: you can look, not change anything.")
    return person.label


def badges(session: Session) -> dict[str, int]:
    return review_queues.counts(session)


def page_number(value: str | None) -> int:
    try:
        number = int(value or "1")
    except ValueError:
        raise PageError(400, "Bad page number") from None
    if not 1 <= number <= 100_000:
        raise PageError(400, "Bad page number")
    return number


def moment(value: str | None, name: str) -> datetime | None:
    """An ISO date or time from a filter (UTC when no zone is given); empty: None."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PageError(400, f"{name}: not a date or time", "Use a form like 2026-05-20 or 2026-05-20T14:00.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def text(value: str | None, name: str, *, limit: int = 200) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise PageError(400, f"{name} is too long")
    return value


def reason_of(form: dict[str, str]) -> str:
    reason = (form.get("reason") or "").strip()
    if not reason:
        raise PageError(
            400, "A reason is required", "Say why: it goes to the audit log (and to the partner when they are told)."
        )
    if len(reason) > 2000:
        raise PageError(400, "The reason is too long")
    return reason


def choice(value: str | None, allowed: tuple[str, ...] | list[str], name: str) -> str:
    value = value or ""
    if value and value not in allowed:
        raise PageError(400, f"{name}: not one of {', '.join(allowed)}")
    return value
