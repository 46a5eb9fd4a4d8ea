"""The one table from the program's refusals (``hub.program.errors``) to HTTP status codes.

Routers raise nothing HTTP-specific for a domain refusal: they let the domain error propagate and
the handler installed here answers ``{"detail": message}`` with the status of the nearest class in
``STATUS``. A body that is not JSON the hub accepts (``connectors.jsonbody``, read for every route
by ``hub.api.inputs``) is a 400 the same way. Request validation keeps FastAPI's own 422 answers.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from connectors.errors import HubError, InvalidJson
from hub.program.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidInput,
    InvalidState,
    NotFound,
)

#: error class -> HTTP status; a subclass takes the status of its nearest listed ancestor
STATUS: dict[type[HubError], int] = {
    InvalidJson: 400,
    NotFound: 404,
    InvalidState: 409,
    IdempotencyConflict: 409,
    InvalidInput: 422,
    DomainError: 400,
}


def status_for(exc: HubError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def domain_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))


def install(app: FastAPI) -> None:
    """Answer every domain error (and refused body) raised under ``app`` from the table."""
    app.add_exception_handler(DomainError, domain_error_response)
    app.add_exception_handler(InvalidJson, domain_error_response)
