"""The API's one table: each domain error answers its status with the message for the person."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from connectors.errors import HubError, InvalidJson
from hub.api import errors
from hub.api.app import create_app
from hub.program.errors import (
    ConditionUnmet,
    DomainError,
    IdempotencyConflict,
    Ineligible,
    InvalidInput,
    InvalidState,
    NotFound,
)

CASES = [
    (NotFound("no payout #999"), 404),
    (InvalidState("payout #3 is paid; nothing to settle"), 409),
    (IdempotencyConflict("this Idempotency-Key was used with a different referral"), 409),
    (InvalidInput("'acct-x' is not a Stripe account id (acct_…)"), 422),
    (ConditionUnmet("deal registration requires: a valid sales-basics certification is required"), 403),
    (Ineligible("not eligible: a website is required"), 422),
]


class Body(BaseModel):
    n: int


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    errors.install(app)

    def work() -> None:
        raise exc

    @app.post("/thing")
    async def thing(body: Body) -> None:
        await run_in_threadpool(work)  # as the routers do: the domain runs in a worker thread

    return app


@pytest.mark.parametrize(("exc", "status"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_each_domain_error_answers_its_status_and_message(exc: DomainError, status: int) -> None:
    assert isinstance(exc, HubError)  # one error tree
    assert errors.status_for(exc) == status
    answer = TestClient(app_raising(exc)).post("/thing", json={"n": 1})
    assert answer.status_code == status
    if status == 422:  # the shape OpenAPI documents for 422, as FastAPI's own validation answers
        assert answer.json() == {"detail": [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]}
    else:
        assert answer.json() == {"detail": str(exc)}


def _descendants(cls: type[DomainError]) -> set[type[DomainError]]:
    return {cls}.union(*(_descendants(sub) for sub in cls.__subclasses__()))


def test_every_domain_error_class_is_in_the_table() -> None:
    # the domain's refusals, and a body that is not JSON the hub accepts (connectors.jsonbody)
    assert set(errors.STATUS) == {*_descendants(DomainError), InvalidJson}
    assert errors.STATUS[InvalidJson] == 400


def test_a_subclass_takes_its_nearest_ancestors_status() -> None:
    class PayoutGone(NotFound):
        pass

    assert errors.status_for(PayoutGone("gone")) == 404


def test_validation_keeps_fastapis_422_and_other_errors_are_not_domain_errors() -> None:
    client = TestClient(app_raising(NotFound("x")))
    assert client.post("/thing", json={"n": "not a number"}).status_code == 422
    plain = TestClient(app_raising(ValueError("a bug, not a refusal")), raise_server_exceptions=False)
    assert plain.post("/thing", json={"n": 1}).status_code == 500  # no longer turned into a 409


def test_the_hub_app_installs_the_table() -> None:
    app = create_app(hub=object())  # type: ignore[arg-type] - the lifespan is not run here
    assert app.api.exception_handlers[DomainError] is errors.domain_error_response
