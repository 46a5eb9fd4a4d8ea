"""What the HubSpot connector makes of each HTTP answer, without a server: respx answers the
batch read the way HubSpot does, and every failure comes back as the error class that says what
happens next (retry, alert on credentials, dead-letter) with HubSpot's own message and never the
token; a TEN_SECONDLY_ROLLING 429 stops further calls before they reach the network."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.errors import AuthenticationFailed, FatalError, RetriableError
from connectors.hubspot import HubSpotConnector, HubSpotSettings

BASE = "https://api.hubapi.example"
TOKEN = "pat-unit-0000-made-up"  # made up for tests
READ = f"{BASE}/crm/v3/objects/deals/batch/read"


def hubspot_error(message: str, category: str, **extra: str) -> dict[str, str]:
    """An error body as HubSpot's API documents it."""
    return {
        "status": "error",
        "message": message,
        "correlationId": "0a1b2c3d-made-up",
        "category": category,
        **extra,
    }


@pytest.fixture
def hubspot() -> Iterator[HubSpotConnector]:
    connector = HubSpotConnector(HubSpotSettings(access_token=SecretStr(TOKEN), api_base_url=BASE, rate_max_wait_s=0.5))
    try:
        yield connector
    finally:
        connector.close()


def test_a_200_is_read_with_the_bearer_token(respx_mock: respx.MockRouter, hubspot: HubSpotConnector) -> None:
    route = respx_mock.post(READ).respond(
        200,
        json={
            "status": "COMPLETE",
            "results": [
                {
                    "id": "42",
                    "properties": {"dealname": "Acme", "hs_lastmodifieddate": "2026-11-01T00:00:00Z"},
                    "createdAt": "2026-10-01T00:00:00Z",
                    "updatedAt": "2026-11-01T00:00:00Z",
                    "archived": False,
                }
            ],
        },
    )
    [record] = hubspot.read_many("deal", ["42"])
    assert record.id == "42" and record.properties["dealname"] == "Acme"
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_and_timeouts_by_status_are_retriable(
    respx_mock: respx.MockRouter, hubspot: HubSpotConnector, status: int
) -> None:
    respx_mock.post(READ).respond(status, json=hubspot_error("internal error", "INTERNAL_ERROR"))
    with pytest.raises(RetriableError) as caught:
        hubspot.read_many("deal", ["42"])
    assert f"hubspot answered {status}" in str(caught.value)


def test_a_429_with_retry_after_is_retriable_after_that_long(
    respx_mock: respx.MockRouter, hubspot: HubSpotConnector
) -> None:
    respx_mock.post(READ).respond(
        429,
        headers={"Retry-After": "7"},
        json=hubspot_error("You have reached your daily limit.", "RATE_LIMITS", policyName="DAILY"),
    )
    with pytest.raises(RetriableError) as caught:
        hubspot.read_many("deal", ["42"])
    assert caught.value.retry_after == 7
    assert "DAILY" in str(caught.value) and "daily limit" in str(caught.value)


def test_a_ten_secondly_429_pauses_the_budget_so_the_next_call_never_leaves(
    respx_mock: respx.MockRouter, hubspot: HubSpotConnector
) -> None:
    route = respx_mock.post(READ).respond(
        429,
        headers={"x-hubspot-ratelimit-interval-milliseconds": "10000"},
        json=hubspot_error(
            "You have reached your ten_secondly_rolling limit.",
            "RATE_LIMITS",
            policyName="TEN_SECONDLY_ROLLING",
        ),
    )
    with pytest.raises(RetriableError) as first:
        hubspot.read_many("deal", ["42"])
    assert first.value.retry_after == 10.0  # the interval HubSpot names, with no Retry-After
    with pytest.raises(RetriableError) as second:
        hubspot.read_many("deal", ["43"])
    assert second.value.retry_after is not None and second.value.retry_after > 0
    assert route.call_count == 1  # the paused budget refused the second call before it was sent


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_an_authentication_failure_without_the_token(
    respx_mock: respx.MockRouter, hubspot: HubSpotConnector, status: int
) -> None:
    respx_mock.post(READ).respond(
        status, json=hubspot_error("Authentication credentials not found.", "INVALID_AUTHENTICATION")
    )
    with pytest.raises(AuthenticationFailed) as caught:
        hubspot.read_many("deal", ["42"])
    assert "Authentication credentials not found" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_refusals_are_fatal_with_hubspots_message(
    respx_mock: respx.MockRouter, hubspot: HubSpotConnector, status: int
) -> None:
    respx_mock.post(READ).respond(status, json=hubspot_error("Property values were not valid", "VALIDATION_ERROR"))
    with pytest.raises(FatalError) as caught:
        hubspot.read_many("deal", ["42"])
    assert not isinstance(caught.value, (RetriableError, AuthenticationFailed))
    assert f"hubspot answered {status}: Property values were not valid" in str(caught.value)


def test_a_body_that_is_not_json_still_gives_a_classified_error(
    respx_mock: respx.MockRouter, hubspot: HubSpotConnector
) -> None:
    respx_mock.post(READ).respond(502, text="<html>Bad Gateway</html>")
    with pytest.raises(RetriableError) as caught:
        hubspot.read_many("deal", ["42"])
    assert "Bad Gateway" in str(caught.value)


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError])
def test_no_answer_at_all_is_retriable(
    respx_mock: respx.MockRouter, hubspot: HubSpotConnector, failure: type[Exception]
) -> None:
    respx_mock.post(READ).mock(side_effect=failure)
    with pytest.raises(RetriableError) as caught:
        hubspot.read_many("deal", ["42"])
    assert "hubspot" in str(caught.value) and TOKEN not in str(caught.value)
