"""The one table from the program's refusals (``hub.program.errors``) to HTTP status codes.

Routers raise nothing HTTP-specific for a domain refusal: they let the domain error propagate and
the handler installed here answers ``{"detail": message}`` with the status of the nearest class in
``STATUS``. Request validation keeps FastAPI's own 422 answers.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from hub.program.errors import (
    DomainError,
    FourEyes,
    HeldForReview,
    IdempotencyConflict,
    InvalidInput,
    InvalidState,
    NotFound,
)

#: domain error class -> HTTP status; a subclass takes the status of its nearest listed ancestor
STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    InvalidState: 409,
    FourEyes: 409,  # the approver made a manual ledger change in the payout
    HeldForReview: 409,  # the payout holds a commission held for review
    IdempotencyConflict: 409,
    InvalidInput: 422,
    DomainError: 400,
}


def status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def domain_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))


def install(app: FastAPI) -> None:
    """Answer every domain error raised under ``app`` from the table."""
    app.add_exception_handler(DomainError, domain_error_response)
