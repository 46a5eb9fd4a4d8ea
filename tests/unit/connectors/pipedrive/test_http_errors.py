"""What the Pipedrive connector makes of each HTTP answer, without a server: respx answers the v1
lead reads the way Pipedrive does, and every failure comes back as the error class that says
what happens next, with Pipedrive's own ``error`` and never the API token; a lead gone (404/410)
is simply not there; a 429 pauses the burst budget so the next call never leaves."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.errors import AuthenticationFailed, FatalError, RetriableError
from connectors.pipedrive import PipedriveConnector, PipedriveSettings

V1 = "https://acme.pipedrive.example/v1"
V2 = "https://acme.pipedrive.example/api/v2"
TOKEN = "pipedrive-unit-token-0000-made-up"  # made up for tests
LEAD = "adf21080-0e10-11eb-879b-05d71fb426ec"
LEAD_URL = f"{V1}/leads/{LEAD}"


def pipedrive_error(message: str, **extra: object) -> dict[str, object]:
    """An error body as Pipedrive's API documents it."""
    return {
        "success": False,
        "error": message,
        "error_info": "Please check developers.pipedrive.com",
        **extra,
    }


@pytest.fixture
def pipedrive() -> Iterator[PipedriveConnector]:
    connector = PipedriveConnector(
        PipedriveSettings(api_token=SecretStr(TOKEN), api_v1_url=V1, api_v2_url=V2, rate_max_wait_s=0.5)
    )
    try:
        yield connector
    finally:
        connector.close()


def test_a_lead_is_read_with_the_api_token(respx_mock: respx.MockRouter, pipedrive: PipedriveConnector) -> None:
    route = respx_mock.get(LEAD_URL).respond(
        200,
        json={
            "success": True,
            "data": {
                "id": LEAD,
                "title": "Acme lead",
                "is_archived": False,
                "update_time": "2026-11-01T10:00:00.000Z",
            },
        },
    )
    [record] = pipedrive.read_many("lead", [LEAD])
    assert record.id == LEAD and record.properties["title"] == "Acme lead" and not record.archived
    assert route.calls.last.request.headers["x-api-token"] == TOKEN


@pytest.mark.parametrize("status", [404, 410])
def test_a_lead_gone_is_not_an_error(respx_mock: respx.MockRouter, pipedrive: PipedriveConnector, status: int) -> None:
    respx_mock.get(LEAD_URL).respond(status, json=pipedrive_error("Lead not found"))
    assert pipedrive.read_many("lead", [LEAD]) == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retriable(respx_mock: respx.MockRouter, pipedrive: PipedriveConnector, status: int) -> None:
    respx_mock.get(LEAD_URL).respond(status, json=pipedrive_error("Internal server error"))
    with pytest.raises(RetriableError) as caught:
        pipedrive.read_many("lead", [LEAD])
    assert f"pipedrive answered {status}: Internal server error" in str(caught.value)


def test_a_429_is_retriable_after_the_reset_and_pauses_the_burst_budget(
    respx_mock: respx.MockRouter, pipedrive: PipedriveConnector
) -> None:
    route = respx_mock.get(LEAD_URL).respond(
        429, headers={"x-ratelimit-reset": "2"}, json=pipedrive_error("Request over limit")
    )
    with pytest.raises(RetriableError) as first:
        pipedrive.read_many("lead", [LEAD])
    assert first.value.retry_after == 2 and "Request over limit" in str(first.value)
    with pytest.raises(RetriableError):
        pipedrive.read_many("lead", [LEAD])
    assert route.call_count == 1  # the paused burst budget refused the second call before it was sent


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_an_authentication_failure_without_the_token(
    respx_mock: respx.MockRouter, pipedrive: PipedriveConnector, status: int
) -> None:
    respx_mock.get(LEAD_URL).respond(status, json=pipedrive_error("unauthorized access"))
    with pytest.raises(AuthenticationFailed) as caught:
        pipedrive.read_many("lead", [LEAD])
    assert "unauthorized access" in str(caught.value) and TOKEN not in str(caught.value)


def test_a_bad_request_is_fatal_with_pipedrives_message(
    respx_mock: respx.MockRouter, pipedrive: PipedriveConnector
) -> None:
    respx_mock.get(LEAD_URL).respond(400, json=pipedrive_error("Invalid lead id"))
    with pytest.raises(FatalError) as caught:
        pipedrive.read_many("lead", [LEAD])
    assert not isinstance(caught.value, (RetriableError, AuthenticationFailed))
    assert "pipedrive answered 400: Invalid lead id" in str(caught.value)


def test_a_200_whose_body_is_not_json_is_fatal(respx_mock: respx.MockRouter, pipedrive: PipedriveConnector) -> None:
    respx_mock.get(LEAD_URL).respond(200, text="<html>maintenance</html>")
    with pytest.raises(FatalError, match="not JSON"):
        pipedrive.read_many("lead", [LEAD])


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError])
def test_no_answer_at_all_is_retriable(
    respx_mock: respx.MockRouter, pipedrive: PipedriveConnector, failure: type[Exception]
) -> None:
    respx_mock.get(LEAD_URL).mock(side_effect=failure)
    with pytest.raises(RetriableError) as caught:
        pipedrive.read_many("lead", [LEAD])
    assert "pipedrive" in str(caught.value) and TOKEN not in str(caught.value)
