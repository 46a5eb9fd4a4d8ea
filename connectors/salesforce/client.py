"""The Salesforce REST API client: one httpx client (verifying TLS, with the configured CA
bundle if any), the OAuth session (renewed once on ``INVALID_SESSION_ID``), the daily allocation
(``limits``), failures classified, and the building blocks the connector is made of: SOQL pages
(``query``/``queryAll`` following ``nextRecordsUrl``), describe, and sObject Collections.

JSON numbers are read as exact decimals and kept as text (``"10000.50"``): money is never a float.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypedDict

import httpx

from connectors.errors import ConfigurationError, FatalError, HubError, RetriableError
from connectors.http import Call, HttpApi
from connectors.salesforce.auth import Session, TokenSource, check_host
from connectors.salesforce.limits import ApiUsage
from connectors.salesforce.settings import SalesforceSettings

#: "up to 200 records" per sObject Collections create/update/upsert request
MAX_COLLECTION = 200


class ClientOptions(TypedDict, total=False):
    """How ``SalesforceApi`` is wired (all optional): ``transport`` (httpx), ``redis`` (shares the
    API usage figure), ``clock``."""

    transport: httpx.BaseTransport | None
    redis: Any
    clock: Callable[[], float]


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def decode(response: httpx.Response) -> Any:
    """The JSON answer with numbers as exact text."""
    if not response.content:
        return None
    try:
        return _exact(json.loads(response.content, parse_float=Decimal))
    except ValueError:
        raise RetriableError(f"salesforce: answer {response.status_code} is not JSON") from None


def error_text(response: httpx.Response) -> tuple[str, str]:
    """(errorCode, message) of an error answer (a list of ``{errorCode, message}``)."""
    try:
        data = response.json()
    except ValueError:
        return "", response.text[:200]
    first = data[0] if isinstance(data, list) and data else data if isinstance(data, dict) else {}
    return str(first.get("errorCode") or first.get("error") or ""), str(
        first.get("message") or first.get("error_description") or ""
    )[:300]


class SalesforceApi(HttpApi):
    """Salesforce's REST API as the connector uses it, sent through the shared pipeline
    (``connectors.http``); this class keeps Salesforce's hooks."""

    provider = "salesforce"

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        redis: Any = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self._transport = transport
        self._client: httpx.Client | None = None
        self._tokens = TokenSource(settings, self.http, clock)
        self._session: Session | None = None
        self.usage = ApiUsage(settings.api_usage_poll_stop, settings.api_usage_stop, clock)
        if redis is not None:
            self.use_redis(redis)

    def use_redis(self, client: Any) -> None:
        self.usage.use_redis(client)

    @property
    def ready(self) -> bool:
        return self._tokens.ready()

    def session(self) -> Session:
        if self._session is None:
            self._session = self._tokens.new_session()
        return self._session

    def data(self, path: str) -> str:
        return f"/services/data/v{self.settings.api_version}{path}"

    # -- the pipeline's hooks ---------------------------------------------------------------

    def http(self) -> httpx.Client:
        if self._client is None:
            ca = self.settings.ca_bundle
            if ca is not None and not ca.is_file():
                raise ConfigurationError(f"PARTNERHUB_SALESFORCE__CA_BUNDLE: no file at {ca}")
            verify = ssl.create_default_context(cafile=str(ca)) if ca is not None else True
            self._client = httpx.Client(timeout=self.settings.timeout_s, transport=self._transport, verify=verify)
        return self._client

    def acquire(self, call: Call) -> None:
        """The org's daily allocation (``limits``): polling stops first, then every call."""
        self.usage.check(essential=call.essential)

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.session().access_token}", "accept": "application/json"}

    def renew_auth(self) -> bool:
        self._session = None
        return True

    def url(self, call: Call) -> str:
        """On the session's instance, which must be an allowed host."""
        return check_host(self.session().instance_url, self.settings.allowed_hosts, what="instance_url") + call.path

    def observe(self, response: httpx.Response, call: Call) -> None:
        self.usage.record(response.headers.get("sforce-limit-info"))

    def special_answer(self, response: httpx.Response, call: Call) -> HubError | None:
        if response.status_code == 403 and error_text(response)[0] == "REQUEST_LIMIT_EXCEEDED":
            self.usage.spent()
            return RetriableError("salesforce: daily API request limit exceeded", retry_after=3600)
        return None

    def error_message(self, response: httpx.Response) -> str:
        code, message = error_text(response)
        return f"{code}: {message}" if code else message

    # -- one call ---------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        essential: bool = True,
        allow: Iterable[int] = (),
    ) -> httpx.Response:
        """One REST call on the instance (``path`` from ``/services/...``). A 401 renews the
        session once; a status in ``allow`` is returned; other failures raise the classified error."""
        return self.execute(Call(method, path, params=params, json=body, essential=essential, allow=frozenset(allow)))

    # -- building blocks --------------------------------------------------------------------

    def query(self, soql: str, *, all_rows: bool = False, essential: bool = True) -> Iterator[dict[str, Any]]:
        """The answer pages of a SOQL query (``queryAll`` with deleted rows), following
        ``nextRecordsUrl`` one page at a time."""
        answer = decode(
            self.send(
                "GET", self.data("/queryAll/" if all_rows else "/query/"), params={"q": soql}, essential=essential
            )
        )
        while True:
            yield answer
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return
            answer = decode(self.send("GET", str(next_url), essential=essential))

    def records(self, soql: str, *, all_rows: bool = False, essential: bool = True) -> list[dict[str, Any]]:
        return [r for page in self.query(soql, all_rows=all_rows, essential=essential) for r in page.get("records", [])]

    def describe(self, sobject: str) -> dict[str, Any]:
        described: dict[str, Any] = decode(self.send("GET", self.data(f"/sobjects/{sobject}/describe")))
        return described

    def upsert(self, sobject: str, external_field: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """sObject Collections upsert by an External ID field, 200 a call; one result per record."""
        return self._collections(
            "PATCH", self.data(f"/composite/sobjects/{sobject}/{external_field}"), sobject, records
        )

    def create(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return self._collections("POST", self.data("/composite/sobjects"), sobject, records)

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return self._collections("PATCH", self.data("/composite/sobjects"), sobject, records)

    def _collections(
        self, method: str, path: str, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for start in range(0, len(records), MAX_COLLECTION):
            chunk = [{"attributes": {"type": sobject}, **r} for r in records[start : start + MAX_COLLECTION]]
            answer = decode(self.send(method, path, body={"allOrNone": False, "records": chunk}))
            if not isinstance(answer, list) or len(answer) != len(chunk):
                raise FatalError(
                    f"salesforce: sObject Collections answered {len(answer or [])} results for {len(chunk)} records"
                )
            results.extend(answer)
        return results

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def result_error(result: Mapping[str, Any]) -> str | None:
    """The errors of one sObject Collections result, or ``None`` when it succeeded."""
    if result.get("success"):
        return None
    errors = result.get("errors") or []
    return "; ".join(f"{e.get('statusCode', '')}: {e.get('message', '')}"[:200] for e in errors) or "failed"
