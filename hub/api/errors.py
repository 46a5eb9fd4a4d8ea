"""The one table from the program's refusals (``hub.program.errors``) to HTTP status codes.

Routers raise nothing HTTP-specific for a domain refusal: they let the domain error propagate and
the handler installed here answers ``{"detail": message}`` (``ErrorOut``) with the status of the
nearest class in ``STATUS``. A body that is not JSON the hub accepts (``connectors.jsonbody``, read
for every route by ``hub.api.inputs``) is a 400 the same way. Every 422 has the shape of FastAPI's
request-validation answers (``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``), whoever
raised it, so it matches the schema OpenAPI documents for it; ``documented_responses`` lists the
other answers for OpenAPI.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.errors import HubError, InvalidJson
from hub.program.access import AccessError
from hub.program.errors import (
    ConditionUnmet,
    DomainError,
    FourEyes,
    HeldForReview,
    IdempotencyConflict,
    Ineligible,
    InvalidInput,
    InvalidState,
    NotFound,
)

#: error class -> HTTP status; a subclass takes the status of its nearest listed ancestor
STATUS: dict[type[HubError], int] = {
    InvalidJson: 400,
    NotFound: 404,
    InvalidState: 409,
    FourEyes: 409,  # the approver made a manual ledger change in the payout
    HeldForReview: 409,  # the payout holds a commission held for review
    IdempotencyConflict: 409,
    ConditionUnmet: 403,  # the partner does not meet the benefit's condition (named in the answer)
    InvalidInput: 422,
    Ineligible: 422,  # an application the eligibility conditions refuse (the reason in the answer)
    AccessError: 422,  # a request about users or operators that cannot be done
    DomainError: 400,
}


class ErrorOut(BaseModel):
    """Every refusal of the API except 422 (request validation)."""

    detail: str = Field(description="What was wrong, for a person to read.")


#: the answers any API route may give besides its own success and 422
ANSWERS = {
    400: "The request cannot be carried out as it is.",
    401: "Missing or invalid API key or admin token.",
    403: "The partner does not meet the condition the program file sets for this (the answer names it).",
    404: "No such resource (or not yours).",
    409: "The resource is not in a state that allows this, or the Idempotency-Key was used for another request.",
    413: "The body is larger than PARTNERHUB_API_BODY_LIMIT.",
    429: "Too many failed authentications from this address or for this key; see Retry-After.",
    503: "Not configured yet (the admin API without PARTNERHUB_ADMIN_TOKEN).",
}


def documented_responses() -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut, "description": text} for status, text in ANSWERS.items()}


def replayed(model: type[BaseModel], what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a create endpoint that takes an Idempotency-Key: the same request sent again."""
    return {
        200: {
            "model": model,
            "description": f"The same request sent again with its Idempotency-Key: the {what} as first answered.",
        }
    }


def validation_detail(message: str, loc: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    """A one-problem 422 answer in FastAPI's request-validation shape."""
    return [{"loc": list(loc), "msg": message, "type": "value_error"}]


def status_for(exc: HubError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def domain_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    status = status_for(exc)
    if status == 422:
        return JSONResponse({"detail": validation_detail(str(exc))}, status_code=422)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def http_error_response(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except that a 422 with a message becomes the validation shape."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return JSONResponse({"detail": validation_detail(exc.detail)}, status_code=422, headers=exc.headers)
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    """Answer every domain error (and refused body) raised under ``app`` from the table."""
    app.add_exception_handler(DomainError, domain_error_response)
    app.add_exception_handler(InvalidJson, domain_error_response)
    app.add_exception_handler(StarletteHTTPException, http_error_response)
