"""The Pipedrive API client: one httpx client per API version (v2 for deals, persons,
organizations, activities and fields; v1 for leads and webhooks), the API token, every call under
the company's token budget, failures classified.

Facts this module relies on (``shared/PROVIDERS.md`` §3 and §7, the specs' ``x-token-cost``):

* API token in the ``x-api-token`` header; base ``https://{company}.pipedrive.com/api/v2`` and
  ``.../v1``.
* Token-based rate limits: a daily budget per company (30,000 base tokens x plan multiplier x
  seats, reset at midnight) that every API call spends its operation's token cost from, and a
  burst limit per token over a rolling 2 seconds. Both are ``connectors.ratelimit`` budgets kept in
  Redis, so every worker of the company draws from the same ones; a 429 pauses the burst budget
  for everyone (and the daily one until midnight when ``x-daily-requests-left`` says it is spent).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

import httpx

from connectors.errors import (
    ConfigurationError,
    RetriableError,
    parse_retry_after,
)
from connectors.http import Call, HttpApi
from connectors.pipedrive.settings import PipedriveSettings
from connectors.ratelimit import Budget, LocalRateLimiter, RateLimiter, RedisRateLimiter

#: the rate budgets this connector declares (``connectors.ratelimit``)
TOKEN_BUDGET = "pipedrive:tokens"
BURST_BUDGET = "pipedrive:burst"
DAY_S = 86_400.0

#: token cost per operation (``x-token-cost`` in the specs; a test checks this table against them)
TOKEN_COSTS: dict[tuple[str, str, str], int] = {
    ("v2", "GET", "/deals"): 10, ("v2", "POST", "/deals"): 5, ("v2", "PATCH", "/deals/{id}"): 5,
    ("v2", "GET", "/deals/{id}"): 1, ("v2", "GET", "/deals/search"): 20,
    ("v2", "GET", "/persons"): 10, ("v2", "POST", "/persons"): 5, ("v2", "PATCH", "/persons/{id}"): 5,
    ("v2", "GET", "/persons/search"): 20, ("v2", "GET", "/persons/{id}"): 1,
    ("v2", "GET", "/organizations"): 10, ("v2", "POST", "/organizations"): 5,
    ("v2", "PATCH", "/organizations/{id}"): 5, ("v2", "GET", "/organizations/search"): 20,
    ("v2", "GET", "/organizations/{id}"): 1,
    ("v2", "POST", "/activities"): 5, ("v2", "GET", "/activities"): 10,
    ("v2", "GET", "/dealFields"): 10, ("v2", "POST", "/dealFields"): 5,
    ("v2", "GET", "/personFields"): 10, ("v2", "POST", "/personFields"): 5,
    ("v2", "GET", "/organizationFields"): 10, ("v2", "POST", "/organizationFields"): 5,
    ("v1", "GET", "/leads"): 20, ("v1", "POST", "/leads"): 10, ("v1", "PATCH", "/leads/{id}"): 10,
    ("v1", "GET", "/leads/{id}"): 2,
    ("v1", "GET", "/webhooks"): 10, ("v1", "POST", "/webhooks"): 10, ("v1", "DELETE", "/webhooks/{id}"): 6,
}  # fmt: skip
#: what an operation missing from the table is charged (the docs' "list" cost, on the safe side)
DEFAULT_COST = 20


class ClientOptions(TypedDict, total=False):
    """How ``PipedriveApi`` is wired (all optional): ``transport`` (httpx), ``redis`` (shares the
    budgets), ``sleep``."""

    transport: httpx.BaseTransport | None
    redis: Any
    sleep: Callable[[float], None]


class PipedriveApi(HttpApi):
    """Pipedrive's API as the connector uses it: authenticated calls under the token budget, sent
    through the shared pipeline (``connectors.http``); this class keeps Pipedrive's hooks."""

    provider = "pipedrive"

    def __init__(
        self,
        settings: PipedriveSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        redis: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self._transport = transport
        self._clients: dict[str, httpx.Client] = {}
        self._sleep = sleep
        self.limiter: RateLimiter = LocalRateLimiter(
            self.rate_budgets(), max_wait_s=settings.rate_max_wait_s, sleep=sleep
        )
        self.redis: Any = None
        if redis is not None:
            self.use_redis(redis)

    def rate_budgets(self) -> tuple[Budget, ...]:
        return (
            Budget(TOKEN_BUDGET, self.settings.daily_token_budget, DAY_S, fixed=True),
            Budget(BURST_BUDGET, self.settings.burst_per_2s, 2.0),
        )

    def use_redis(self, client: Any) -> None:
        """Share the budgets (and the custom-field cache) with every process on ``client``."""
        self.redis = client
        self.limiter = RedisRateLimiter(
            client, self.rate_budgets(), max_wait_s=self.settings.rate_max_wait_s, sleep=self._sleep
        )

    @property
    def ready(self) -> bool:
        return self.settings.api_token is not None

    def root(self, api: str) -> str:
        base = self.settings.api_base_url.rstrip("/")
        if api == "v2":
            return (self.settings.api_v2_url or base + "/api/v2").rstrip("/")
        return (self.settings.api_v1_url or base + "/v1").rstrip("/")

    # -- the pipeline's hooks ---------------------------------------------------------------

    def http(self) -> httpx.Client:
        """One client for both API versions; calls carry absolute URLs (``url``)."""
        client = self._clients.get("api")
        if client is None:
            client = self._clients["api"] = httpx.Client(
                timeout=self.settings.timeout_s,
                transport=self._transport,
                headers={"accept": "application/json"},
            )
        return client

    def auth_headers(self) -> dict[str, str]:
        if self.settings.api_token is None:
            raise ConfigurationError("PARTNERHUB_PIPEDRIVE__API_TOKEN is not set")
        return {"x-api-token": self.settings.api_token.get_secret_value()}

    def error_message(self, response: httpx.Response) -> str:
        return error_message(response)

    def rate_limited(self, response: httpx.Response, call: Call) -> RetriableError:
        """A 429 pauses the budget for every worker: the burst window by ``Retry-After`` /
        ``x-ratelimit-reset``; the daily budget until midnight UTC when it is spent."""
        retry_after = parse_retry_after(response.headers.get("retry-after")) or parse_retry_after(
            response.headers.get("x-ratelimit-reset")
        )
        if response.headers.get("x-daily-requests-left") == "0":
            now = time.time()
            pause = DAY_S - (now % DAY_S)
            self.limiter.pause(TOKEN_BUDGET, pause)
        else:
            pause = retry_after or 2.0
            self.limiter.pause(BURST_BUDGET, pause)
        return RetriableError(
            f"pipedrive answered 429: {error_message(response)}"[:400], retry_after=retry_after or pause
        )

    def send(
        self,
        method: str,
        api: str,
        template: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        allow: Iterable[int] = (),
    ) -> httpx.Response:
        """One API call under both budgets; ``template`` is the spec's path (``/deals/{id}``),
        which prices it. A status in ``allow`` is returned; any other failure raises."""
        path = template.format(**{k: str(v) for k, v in (path_params or {}).items()})
        cost = TOKEN_COSTS.get((api, method.upper(), template), DEFAULT_COST)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self.execute(
            Call(
                method,
                self.root(api) + path,
                params=query,
                json=body,
                budgets=((BURST_BUDGET, 1), (TOKEN_BUDGET, cost)),
                allow=frozenset(allow),
                ref=f"{method} {template}",
            )
        )

    def json(self, response: httpx.Response) -> dict[str, Any]:
        return self.json_object(response)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def error_message(response: httpx.Response) -> str:
    """Pipedrive's ``error`` (and ``error_info``) from an error answer, never request data."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or "")[:300]
    return ""
