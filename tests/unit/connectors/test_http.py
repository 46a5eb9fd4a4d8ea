"""The shared HTTP pipeline (``connectors.http``): one status table, Retry-After, the auth
renewal, transport failures, the rate budget, and the provider hooks on top, against
``httpx.MockTransport`` (no server)."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.errors import (
    AuthenticationFailed,
    FatalError,
    HubError,
    OutcomeUnknown,
    RetriableError,
    classify_status,
    parse_retry_after,
)
from connectors.http import Call, HttpApi
from connectors.ratelimit import Budget, LocalRateLimiter, RateBudgetExhausted

Handler = Callable[[httpx.Request], httpx.Response]


class DemoApi(HttpApi):
    """A provider with only the hooks the test names."""

    provider = "demo"

    def __init__(self, handler: Handler, *, renewable: bool = False, limiter: LocalRateLimiter | None = None):
        self.requests: list[httpx.Request] = []
        self.token = 1
        self.renewable = renewable
        self.limiter = limiter

        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        self._client = httpx.Client(base_url="https://api.demo.test", transport=httpx.MockTransport(record))

    def http(self) -> httpx.Client:
        return self._client

    def auth_headers(self) -> Mapping[str, str]:
        return {"authorization": f"Bearer t{self.token}"}

    def renew_auth(self) -> bool:
        if not self.renewable:
            return False
        self.token += 1
        return True


def answer(status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, json=body if body is not None else {}, headers=headers)


def raising(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return handler


# -- the one status table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (408, RetriableError), (425, RetriableError), (429, RetriableError), (500, RetriableError),
        (502, RetriableError), (503, RetriableError), (401, AuthenticationFailed), (403, AuthenticationFailed),
        (400, FatalError), (404, FatalError), (409, FatalError), (422, FatalError),
    ],
)  # fmt: skip
def test_every_error_status_is_classified_by_what_should_happen_next(status: int, expected: type[HubError]) -> None:
    api = DemoApi(answer(status, {"message": "nope"}))
    with pytest.raises(expected) as caught:
        api.execute(Call("GET", "/things/1"))
    assert type(caught.value) is expected
    assert str(caught.value).startswith(f"demo answered {status}")
    assert classify_status(status, provider="demo").__class__ is expected


@pytest.mark.parametrize("status", [200, 201, 202, 204, 304])
def test_success_and_redirect_statuses_are_returned(status: int) -> None:
    api = DemoApi(lambda request: httpx.Response(status))
    assert api.execute(Call("GET", "/things")).status_code == status


def test_an_allowed_status_is_returned_to_the_caller_not_raised() -> None:
    api = DemoApi(answer(404))
    assert api.execute(Call("GET", "/things/9", allow=frozenset({404}))).status_code == 404


def test_auth_failure_is_not_retriable() -> None:
    assert not isinstance(classify_status(401, provider="demo"), RetriableError)
    assert isinstance(classify_status(401, provider="demo"), FatalError)


def test_the_error_message_hook_fills_the_detail() -> None:
    class Detailed(DemoApi):
        def error_message(self, response: httpx.Response) -> str:
            return str(response.json()["error"]["message"])

    api = Detailed(answer(400, {"error": {"message": "amount must be positive"}}))
    with pytest.raises(FatalError, match="demo answered 400: amount must be positive"):
        api.execute(Call("POST", "/charges", json={"amount": -1}))


# -- Retry-After ---------------------------------------------------------------------------------


def test_retry_after_in_seconds_is_carried_by_the_error() -> None:
    api = DemoApi(answer(429, headers={"Retry-After": "7"}))
    with pytest.raises(RetriableError) as caught:
        api.execute(Call("GET", "/things"))
    assert caught.value.retry_after == 7.0


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    stamp = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(stamp, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    api = DemoApi(answer(503, headers={"retry-after": stamp}))
    with pytest.raises(RetriableError) as caught:
        api.execute(Call("GET", "/things"))
    assert caught.value.retry_after is not None


@pytest.mark.parametrize("value", [None, "", "soon", "-5"])
def test_a_missing_or_unreadable_retry_after(value: str | None) -> None:
    parsed = parse_retry_after(value)
    assert parsed is None or parsed == 0.0


def test_a_429_hook_replaces_the_table() -> None:
    class Paused(DemoApi):
        def rate_limited(self, response: httpx.Response, call: Call) -> HubError | None:
            return RetriableError("window spent", retry_after=10.0)

    with pytest.raises(RetriableError, match="window spent") as caught:
        Paused(answer(429)).execute(Call("GET", "/x"))
    assert caught.value.retry_after == 10.0


def test_a_special_answer_comes_before_the_table() -> None:
    class Special(DemoApi):
        def special_answer(self, response: httpx.Response, call: Call) -> HubError | None:
            return RetriableError("quota", retry_after=3600) if response.status_code == 403 else None

    with pytest.raises(RetriableError, match="quota"):
        Special(answer(403)).execute(Call("GET", "/x"))
    with pytest.raises(AuthenticationFailed):
        Special(answer(401)).execute(Call("GET", "/x"))


# -- the retry policy ----------------------------------------------------------------------------


def test_a_401_renews_the_session_once_and_sends_again() -> None:
    api = DemoApi(lambda r: httpx.Response(200 if r.headers["authorization"] == "Bearer t2" else 401), renewable=True)
    assert api.execute(Call("GET", "/me")).status_code == 200
    assert [r.headers["authorization"] for r in api.requests] == ["Bearer t1", "Bearer t2"]


def test_a_second_401_is_an_authentication_failure() -> None:
    api = DemoApi(answer(401), renewable=True)
    with pytest.raises(AuthenticationFailed):
        api.execute(Call("GET", "/me"))
    assert len(api.requests) == 2


def test_without_renewal_a_401_is_not_sent_again() -> None:
    api = DemoApi(answer(401))
    with pytest.raises(AuthenticationFailed):
        api.execute(Call("GET", "/me"))
    assert len(api.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retriable_answers_are_not_retried_in_process(status: int) -> None:
    """The hub's durable state machine retries; the pipeline sends once and says when."""
    api = DemoApi(answer(status))
    with pytest.raises(RetriableError):
        api.execute(Call("POST", "/things", json={}))
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError, httpx.WriteTimeout]
)
@pytest.mark.parametrize("repeatable", [True, False])
def test_a_request_that_cannot_have_been_acted_on_is_retriable(
    exc: type[httpx.TransportError], repeatable: bool
) -> None:
    api = DemoApi(raising(exc))
    with pytest.raises(RetriableError, match=exc.__name__):
        api.execute(Call("POST", "/mail", json={}, repeatable=repeatable))


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError])
def test_a_lost_answer_is_retriable_only_for_a_repeatable_call(exc: type[httpx.TransportError]) -> None:
    with pytest.raises(RetriableError):
        DemoApi(raising(exc)).execute(Call("GET", "/things"))
    api = DemoApi(raising(exc))
    with pytest.raises(OutcomeUnknown) as caught:
        api.execute(Call("POST", "/mail", json={}, repeatable=False, ref="notification 7"))
    assert not isinstance(caught.value, RetriableError)
    assert "notification 7" in str(caught.value) and len(api.requests) == 1


# -- the rate budget -----------------------------------------------------------------------------


def test_budgets_are_drawn_before_sending_and_a_spent_one_sends_nothing() -> None:
    clock = [0.0]
    limiter = LocalRateLimiter(
        [Budget("demo:burst", 2, 10.0), Budget("demo:tokens", 10, 60.0)],
        max_wait_s=0,
        clock=lambda: clock[0],
        sleep=lambda s: None,
    )
    api = DemoApi(answer(200), limiter=limiter)
    call = Call("GET", "/things", budgets=(("demo:burst", 1), ("demo:tokens", 4)))
    api.execute(call)
    api.execute(call)
    with pytest.raises(RateBudgetExhausted) as caught:
        api.execute(call)
    assert isinstance(caught.value, RetriableError) and caught.value.retry_after is not None
    assert len(api.requests) == 2


# -- provider hooks on the pipeline --------------------------------------------------------------


def test_stripe_sends_the_idempotency_key_and_a_lost_money_movement_is_unknown() -> None:
    from connectors.stripe.client import StripeApi
    from connectors.stripe.settings import StripeSettings

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            raise httpx.WriteTimeout("slow", request=request)
        return httpx.Response(500, json={"error": {"type": "api_error", "message": "oops"}})

    api = StripeApi(StripeSettings(api_key=SecretStr("sk_test_x")), transport=httpx.MockTransport(handler))
    with pytest.raises(OutcomeUnknown):
        api.post("/v1/transfers", {"amount": 5}, idempotency_key="payout-7", moves_money=True)
    assert seen[0].headers["Idempotency-Key"] == "payout-7"
    assert seen[0].headers["Stripe-Version"] and seen[0].headers["Authorization"] == "Bearer sk_test_x"
    with pytest.raises(RetriableError, match="stripe answered 500: api_error: oops"):
        api.get("/v1/accounts/acct_1")


def test_sendgrid_never_resends_a_mail_whose_answer_was_lost() -> None:
    from connectors.sendgrid import (
        SendGridConnector,
        SendGridSettings,
        SendOutcomeUnknown,
    )

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ReadTimeout("no answer", request=request)

    sg = SendGridConnector(
        SendGridSettings(api_key=SecretStr("SG.key"), from_email="p@example.com"),
        transport=httpx.MockTransport(handler),
    )
    payload = {
        "notification_id": 5,
        "kind": "welcome",
        "to": {"email": "a@example.com"},
        "subject": "Hi",
        "text": "t",
        "html": "<p>t</p>",
    }
    with pytest.raises(SendOutcomeUnknown, match="ReadTimeout after the request was sent: notification 5"):
        sg.send_email(payload, idempotency_key="k")
    assert len(sent) == 1


def test_sendgrid_redacts_its_key_from_error_messages() -> None:
    from connectors.sendgrid import SendGridConnector, SendGridSettings

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"errors": [{"message": "bad key SG.secret-key", "field": None}]})

    sg = SendGridConnector(
        SendGridSettings(api_key=SecretStr("SG.secret-key"), from_email="p@example.com"),
        transport=httpx.MockTransport(handler),
    )
    payload = {
        "notification_id": 5,
        "kind": "welcome",
        "to": {"email": "a@example.com"},
        "subject": "Hi",
        "text": "t",
        "html": "<p>t</p>",
    }
    with pytest.raises(FatalError) as caught:
        sg.send_email(payload, idempotency_key="k")
    assert "SG.secret-key" not in str(caught.value) and "[redacted]" in str(caught.value)


def test_hubspot_429_of_the_shared_window_pauses_the_budget_for_everyone() -> None:
    from connectors.hubspot.client import API_BUDGET, HubSpotApi
    from connectors.hubspot.settings import HubSpotSettings

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"policyName": "TEN_SECONDLY_ROLLING", "message": "slow down"},
            headers={"x-hubspot-ratelimit-interval-milliseconds": "10000"},
        )

    api = HubSpotApi(HubSpotSettings(access_token=SecretStr("pat-x")), transport=httpx.MockTransport(handler))
    paused: list[tuple[str, float]] = []
    api.limiter.pause = lambda key, seconds: paused.append((key, seconds))  # type: ignore[method-assign]
    with pytest.raises(RetriableError, match="TEN_SECONDLY_ROLLING: slow down") as caught:
        api.send("GET", "/crm/v3/objects/deals/1")
    assert paused == [(API_BUDGET, 10.0)] and caught.value.retry_after == 10.0


def test_salesforce_daily_limit_is_retriable_in_an_hour() -> None:
    from connectors.salesforce.client import SalesforceApi

    class Session:
        access_token = "00D!token"
        instance_url = "https://acme.my.salesforce.com"

    api = SalesforceApi.__new__(SalesforceApi)  # only the hooks under test
    spent: list[bool] = []
    api.usage = type("Usage", (), {"spent": lambda self: spent.append(True)})()  # type: ignore[assignment]
    response = httpx.Response(403, json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests"}])
    error = api.special_answer(response, Call("GET", "/services/data/v59.0/query"))
    assert isinstance(error, RetriableError) and error.retry_after == 3600 and spent == [True]
    assert api.error_message(response) == "REQUEST_LIMIT_EXCEEDED: TotalRequests"
