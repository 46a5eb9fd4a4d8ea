"""``StripeApi``: every call to Stripe authenticated, pinned to one API version, form-encoded,
sent through the shared pipeline (``connectors.http``), its failures classified.

The version is pinned (``API_VERSION``) on every request with ``Stripe-Version`` and on the
webhook endpoints the hub registers, so the objects the hub reads and the events it receives have
one known shape whatever the account's default version is (``shared/PROVIDERS.md`` §7).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.errors import (
    ConfigurationError,
    FatalError,
    HubError,
    OutcomeUnknown,
    RetriableError,
)
from connectors.http import PARTLY_SENT, Call, HttpApi
from connectors.stripe.settings import StripeSettings

#: the Stripe API version the hub is written against (``shared/specs/stripe/spec3.json``)
API_VERSION = "2023-08-16"
#: largest page ``GET /v1/...`` list endpoints return
PAGE_LIMIT = 100


def encode(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's bracket form encoding: ``{"metadata": {"a": 1}, "types": ["x"]}`` ->
    ``metadata[a]=1&types[0]=x``; booleans as ``true``/``false``; ``None`` left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(encode(value, name))
        elif isinstance(value, (list, tuple)):
            pairs.extend(encode({str(i): v for i, v in enumerate(value)}, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return response.text[:300]
    parts = [str(error.get(k)) for k in ("type", "code") if error.get(k)]
    text = str(error.get("message") or "")
    return (f"{'/'.join(parts)}: {text}" if parts else text)[:300]


class StripeApi(HttpApi):
    """Stripe's API as the connector uses it, sent through the shared pipeline
    (``connectors.http``); this class keeps Stripe's hooks."""

    provider = "stripe"

    def __init__(self, settings: StripeSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._client = httpx.Client(
            base_url=settings.api_base_url.rstrip("/"),
            timeout=settings.timeout_s,
            transport=transport,
            headers={"Stripe-Version": API_VERSION, "User-Agent": "partnerhub"},
        )

    @property
    def ready(self) -> bool:
        return self.settings.api_key is not None

    # -- the pipeline's hooks ---------------------------------------------------------------

    def http(self) -> httpx.Client:
        return self._client

    def auth_headers(self) -> dict[str, str]:
        if self.settings.api_key is None:
            raise ConfigurationError("PARTNERHUB_STRIPE__API_KEY is not set")
        return {"Authorization": f"Bearer {self.settings.api_key.get_secret_value()}"}

    def error_message(self, response: httpx.Response) -> str:
        return _message(response)

    def special_answer(self, response: httpx.Response, call: Call) -> HubError | None:
        """A money movement answered 5xx may have happened; a 409 is a concurrent request with
        the same idempotency key."""
        if response.status_code >= 500 and not call.repeatable:
            return OutcomeUnknown(f"stripe {call.label} answered {response.status_code}: {_message(response)}")
        if response.status_code == 409:
            return RetriableError(f"stripe answered 409: {_message(response)}", retry_after=2.0)
        return None

    def transport_error(self, exc: Exception, call: Call) -> HubError:
        """A money movement whose request was even partly written is never sent again blindly."""
        if isinstance(exc, PARTLY_SENT) and not call.repeatable:
            return self.outcome_unknown(exc, call)
        return super().transport_error(exc, call)

    def outcome_unknown(self, exc: Exception, call: Call) -> HubError:
        return OutcomeUnknown(f"stripe {call.label}: no answer after sending ({type(exc).__name__})")

    # -- one call ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        moves_money: bool = False,
        stripe_account: str | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """One call. GETs send ``params`` as the query, POSTs as the form body. A call that
        ``moves_money`` and may have reached Stripe without its answer reaching us (a timeout
        after sending, a 5xx) raises ``OutcomeUnknown``: it must not be sent again blindly.
        ``missing_ok``: a 404 answers ``None``."""
        headers: dict[str, str] = {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if stripe_account:
            headers["Stripe-Account"] = stripe_account
        pairs = encode(params or {})
        if method == "GET":
            call = Call(
                method,
                path,
                params=pairs,
                headers=headers,
                repeatable=not moves_money,
                allow=frozenset({404}) if missing_ok else frozenset(),
                ref=f"{method} {path}",
            )
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            call = Call(
                method,
                path,
                content=urlencode(pairs).encode(),
                headers=headers,
                repeatable=not moves_money,
                allow=frozenset({404}) if missing_ok else frozenset(),
                ref=f"{method} {path}",
            )
        response = self.execute(call)
        if response.status_code == 404 and missing_ok:
            return None
        try:
            data = response.json()
        except ValueError:
            raise FatalError(f"stripe {method} {path}: answer is not JSON") from None
        return dict(data)

    def post(self, path: str, params: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        answer = self.request("POST", path, params, **options)
        assert answer is not None
        return answer

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        answer = self.request("GET", path, params)
        assert answer is not None
        return answer

    def get_or_none(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The object, or ``None`` when Stripe answers 404 (deleted, or never existed)."""
        return self.request("GET", path, params, missing_ok=True)

    def list_all(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, following ``has_more`` with ``starting_after``."""
        query = {"limit": PAGE_LIMIT, **(params or {})}
        while True:
            page = self.get(path, query)
            data = list(page.get("data") or [])
            yield from data
            if not page.get("has_more") or not data:
                return
            query["starting_after"] = data[-1]["id"]

    def close(self) -> None:
        self._client.close()
