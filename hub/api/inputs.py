"""What the API accepts from outside, checked before a handler runs: JSON bodies read by the one
parser of bodies from outside (``connectors.jsonbody``: no ``NaN``/``Infinity``, bounded nesting,
integers that fit 64 bits), row ids in paths that a 64-bit key can be, and moments in queries
that carry a timezone and lie in a range every date computation can handle.

Every router of the API is built with ``route_class=JsonRoute``; a path id is typed ``RowId``,
an integer in a body ``RowId`` or ``Int64``, a date query parameter ``Moment``. A body that is not such JSON answers 400 from
``hub.api.errors``; a bad id or moment is FastAPI's 422.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from annotated_types import Interval
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from connectors import jsonbody
from connectors.bounds import INT64_MAX, INT64_MIN
from connectors.errors import InvalidJson

#: a row's id (in a path or a body): what a 64-bit key can be
RowId = Annotated[int, Interval(ge=1, le=INT64_MAX)]
#: any other integer a body gives (an amount in minor units): what a 64-bit column holds; also
#: when sent as a string, which the JSON parser's own check does not see
Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]

#: the moments a query may name (the KPIs step whole months and quarters around it)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("not a moment the hub can work with") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"give a moment from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}")
    return value


#: a date-time query parameter: ISO 8601 with a timezone (``2025-01-31T00:00:00Z``), in UTC
Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]


class JsonBodyRequest(Request):
    """A request whose JSON body is read by ``connectors.jsonbody`` (64-bit integers only)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = jsonbody.loads(await self.body(), int64_only=True)
        return self._json


class JsonRoute(APIRoute):
    """An API route reading its body through ``JsonBodyRequest``. FastAPI turns any error while
    reading a body into a bare 400; a refused body is raised as itself instead, so the error
    table answers with what was wrong."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(JsonBodyRequest(request.scope, request.receive))
            except HTTPException as exc:
                if isinstance(exc.__cause__, InvalidJson):
                    raise exc.__cause__ from None
                raise

        return route_handler
