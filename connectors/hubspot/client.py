"""The HubSpot API client: one httpx client, its auth (private-app token or OAuth), every call
under the shared rate budget with its failures classified, and the API building blocks the CRM
actions and setup are made of.

Facts this module relies on (``shared/PROVIDERS.md`` §2 and §7):

* API auth: a private-app token (static Bearer), or OAuth (``oauth.OAuthTokens``).
* Rate limits: private apps 100–190 requests per rolling 10 s (``rate_limit_per_10s``), CRM
  search 5 per second and exempt from the 10-second limit. A 429 whose ``policyName`` is
  ``TEN_SECONDLY_ROLLING`` means the shared window is spent: the budget pauses for every worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypedDict
from urllib.parse import quote

import httpx
from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    BatchResponsePublicAssociationMultiWithLabelWithErrors,
    BatchResponsePublicDefaultAssociation,
    CollectionResponseMultiAssociatedObjectWithLabelForwardPaging,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4 import PublicObjectId as AssocObjectId
from hubspot.crm.objects import (
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    CollectionResponseWithTotalSimplePublicObjectForwardPaging,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
)

from connectors.errors import (
    ConfigurationError,
    RetriableError,
    parse_retry_after,
)
from connectors.http import Call, HttpApi
from connectors.hubspot.oauth import OAuthTokens
from connectors.hubspot.sdk import (
    ASSOCIATIONS_SDK,
    OBJECTS_SDK,
    decode,
    error_field,
    error_message,
)
from connectors.hubspot.settings import HubSpotSettings
from connectors.ratelimit import Budget, LocalRateLimiter, RateLimiter, RedisRateLimiter

#: "Batch operations are limited to 100 records at a time."
MAX_BATCH = 100

#: CRM search: "up to 200" objects per page; results past 10,000 for one query are refused
MAX_SEARCH_PAGE = 200
SEARCH_RESULT_CAP = 10_000
#: how many matches a lookup (an email, a domain) pages through before it stops
MAX_SEARCH_MATCHES = 1_000
#: v4 associations: a page holds up to 500; a record's associations are read up to this many pages
MAX_ASSOCIATION_PAGE = 500
MAX_ASSOCIATION_PAGES = 20

#: the rate budgets this connector declares (``connectors.ratelimit``)
API_BUDGET = "hubspot:api"
SEARCH_BUDGET = "hubspot:search"


class ClientOptions(TypedDict, total=False):
    """How ``HubSpotApi`` is wired (all optional): ``transport`` (httpx; tests use a fake),
    ``redis`` (shares the rate budget and the OAuth token), ``clock`` and ``sleep``."""

    transport: httpx.BaseTransport | None
    redis: Any
    clock: Callable[[], float]
    sleep: Callable[[float], None]


class HubSpotApi(HttpApi):
    """HubSpot's API as the connector uses it: authenticated calls under the rate budget, sent
    through the shared pipeline (``connectors.http``); this class keeps HubSpot's hooks."""

    provider = "hubspot"

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        redis: Any = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self._transport = transport
        self._client: httpx.Client | None = None
        self._sleep = sleep
        self.limiter: RateLimiter = LocalRateLimiter(
            self.rate_budgets(), max_wait_s=settings.rate_max_wait_s, sleep=sleep
        )
        self._oauth: OAuthTokens | None = None
        if settings.refresh_token is not None:
            if not settings.client_id or settings.client_secret is None:
                raise ConfigurationError(
                    "PARTNERHUB_HUBSPOT__REFRESH_TOKEN needs PARTNERHUB_HUBSPOT__CLIENT_ID and "
                    "PARTNERHUB_HUBSPOT__CLIENT_SECRET"
                )
            self._oauth = OAuthTokens(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                refresh_token=settings.refresh_token,
                http=self.http,
                clock=clock,
                sleep=sleep,
            )
        if redis is not None:
            self.use_redis(redis)

    def rate_budgets(self) -> tuple[Budget, ...]:
        """The budgets every call draws from: the 10-second API window and CRM search's own."""
        return (
            Budget(API_BUDGET, self.settings.rate_limit_per_10s, 10.0),
            Budget(SEARCH_BUDGET, self.settings.search_rate_per_s, 1.0),
        )

    def use_redis(self, client: Any) -> None:
        """Share the rate budget (and the OAuth access token) with every process on ``client``."""
        self.limiter = RedisRateLimiter(
            client, self.rate_budgets(), max_wait_s=self.settings.rate_max_wait_s, sleep=self._sleep
        )
        if self._oauth is not None:
            self._oauth.use_redis(client)

    @property
    def ready(self) -> bool:
        return self._oauth is not None or self.settings.access_token is not None

    # -- the pipeline's hooks ---------------------------------------------------------------

    def http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.settings.api_base_url,
                timeout=self.settings.timeout_s,
                transport=self._transport,
                headers={"accept": "application/json"},
            )
        return self._client

    def auth_headers(self) -> dict[str, str]:
        if self._oauth is not None:
            return {"authorization": f"Bearer {self._oauth.bearer()}"}
        if self.settings.access_token is None:
            raise ConfigurationError("PARTNERHUB_HUBSPOT__ACCESS_TOKEN (or the OAuth settings) is not set")
        return {"authorization": f"Bearer {self.settings.access_token.get_secret_value()}"}

    def error_message(self, response: httpx.Response) -> str:
        return error_message(response)

    def rate_limited(self, response: httpx.Response, call: Call) -> RetriableError:
        """A 429: when it says the shared window is spent, every worker backs off with us."""
        budget = call.budgets[0][0] if call.budgets else API_BUDGET
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        policy = error_field(response, "policyName")
        pause: float | None = None
        if budget == SEARCH_BUDGET:
            pause = retry_after or 1.0
        elif policy == "TEN_SECONDLY_ROLLING":
            interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds")
            pause = retry_after or (int(interval) / 1000 if interval and interval.isdigit() else 10.0)
        if pause is not None:
            self.limiter.pause(budget, pause)
        detail = f"{policy or 'rate limit'}: {error_message(response)}"
        return RetriableError(f"hubspot answered 429: {detail}"[:400], retry_after=retry_after or pause)

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        budget: str = API_BUDGET,
        allow: Iterable[int] = (),
    ) -> httpx.Response:
        """One API call under the rate budget. A status in ``allow`` is returned to the caller;
        any other failure raises the classified error."""
        return self.execute(Call(method, path, json=body, budgets=((budget, 1),), allow=frozenset(allow)))

    # -- API building blocks ----------------------------------------------------------------

    def search(
        self, path_obj: str, prop: str, value: str, properties: list[str], *, max_results: int = MAX_SEARCH_MATCHES
    ) -> list[Any]:
        """Objects whose ``prop`` equals ``value`` (the value travels as a JSON value, never
        spliced into a query string), paged through up to ``max_results`` (a bound: an email or
        a domain matching more records than that is not a question of conflicts any more)."""
        results: list[Any] = []
        after: str | None = None
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=[Filter(property_name=prop, operator="EQ", value=value)])],
                properties=properties,
                limit=MAX_SEARCH_PAGE,
                after=after,
            )
            response = self.search_page(path_obj, OBJECTS_SDK.sanitize_for_serialization(request))
            answer: Any = decode(OBJECTS_SDK, response, CollectionResponseWithTotalSimplePublicObjectForwardPaging)
            results.extend(answer.results or [])
            after = _next_after(answer)
            if after is None or len(results) >= max_results:
                return results[:max_results]

    def search_page(self, path_obj: str, body: dict[str, Any]) -> httpx.Response:
        """One ``POST /crm/v3/objects/{type}/search`` under the search budget."""
        return self.send("POST", f"/crm/v3/objects/{path_obj}/search", body, budget=SEARCH_BUDGET)

    def read_objects(
        self, path_obj: str, ids: Sequence[str], properties: list[str], *, id_property: str | None = None
    ) -> list[Any]:
        """Batch read into the SDK's models; ids HubSpot does not know are simply absent."""
        results: list[Any] = []
        for response in self.batch_read(path_obj, ids, properties, id_property=id_property):
            answer: Any = decode(OBJECTS_SDK, response, BatchResponseSimplePublicObjectWithErrors)
            results.extend(answer.results or [])
        return results

    def batch_read(
        self, path_obj: str, ids: Sequence[str], properties: list[str], *, id_property: str | None = None
    ) -> Iterator[httpx.Response]:
        """The raw answers of ``POST /crm/v3/objects/{type}/batch/read``, 100 ids a call."""
        for start in range(0, len(ids), MAX_BATCH):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=str(i)) for i in ids[start : start + MAX_BATCH]],
                properties=properties,
                properties_with_history=[],
                id_property=id_property,
            )
            yield self.send(
                "POST", f"/crm/v3/objects/{path_obj}/batch/read", OBJECTS_SDK.sanitize_for_serialization(request)
            )

    def associated(self, from_obj: str, to_obj: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """{from id: [to ids]} through the v4 associations batch read; a record with more
        associations than one answer holds is paged through (``GET .../associations/{to}``),
        up to ``MAX_ASSOCIATION_PAGES`` more pages each."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(ids), MAX_BATCH):
            request = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=str(i)) for i in ids[start : start + MAX_BATCH]]
            )
            response = self.send(
                "POST",
                f"/crm/v4/associations/{from_obj}/{to_obj}/batch/read",
                ASSOCIATIONS_SDK.sanitize_for_serialization(request),
            )
            answer: Any = decode(ASSOCIATIONS_SDK, response, BatchResponsePublicAssociationMultiWithLabelWithErrors)
            for result in answer.results or []:
                from_id = str(result._from.id)
                out.setdefault(from_id, []).extend(str(to.to_object_id) for to in result.to or [])
                after = _next_after(result)
                pages = 0
                while after is not None and pages < MAX_ASSOCIATION_PAGES:
                    more: Any = decode(
                        ASSOCIATIONS_SDK,
                        self.send(
                            "GET",
                            f"/crm/v4/objects/{from_obj}/{from_id}/associations/{to_obj}"
                            f"?limit={MAX_ASSOCIATION_PAGE}&after={quote(after, safe='')}",
                        ),
                        CollectionResponseMultiAssociatedObjectWithLabelForwardPaging,
                    )
                    out[from_id].extend(str(to.to_object_id) for to in more.results or [])
                    after, pages = _next_after(more), pages + 1
        return out

    def associate_default(self, from_obj: str, to_obj: str, pairs: Sequence[tuple[str, str]]) -> None:
        """v4 default (unlabelled) associations; associating twice leaves one association."""
        request = BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                PublicDefaultAssociationMultiPost(_from=AssocObjectId(id=a), to=AssocObjectId(id=b)) for a, b in pairs
            ]
        )
        response = self.send(
            "POST",
            f"/crm/v4/associations/{from_obj}/{to_obj}/batch/associate/default",
            ASSOCIATIONS_SDK.sanitize_for_serialization(request),
        )
        decode(ASSOCIATIONS_SDK, response, BatchResponsePublicDefaultAssociation)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _next_after(answer: Any) -> str | None:
    """The ``paging.next.after`` of an answer (a search page, an association list), if any."""
    paging = getattr(answer, "paging", None)
    following = getattr(paging, "next", None) if paging is not None else None
    after = getattr(following, "after", None) if following is not None else None
    return str(after) if after not in (None, "") else None
