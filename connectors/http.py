"""The one HTTP pipeline every provider client sends through.

One call goes: rate budget -> auth -> request -> classify the answer into the error tree (one
status table, ``connectors.errors.classify_status``) -> retry policy. A provider's client
subclasses ``HttpApi`` and overrides only its hooks:

* ``http()``: the provider's ``httpx.Client`` (base URL, timeouts, TLS, fixed headers);
* ``acquire(call)``: the rate budget (default: every budget the call names, from ``limiter``);
* ``auth_headers()`` and ``renew_auth()``: the credentials, and a fresh session after a 401;
* ``url(call)``: where the call goes (default: its path, relative to the client's base URL);
* ``observe(response, call)``: what every answer's headers say (rate-limit windows, API usage);
* ``error_message(response)``: the provider's error text, never request data or secrets;
* ``rate_limited(response, call)``: a 429 (pause a shared budget, read the provider's headers);
* ``special_answer(response, call)``: statuses a provider gives its own meaning;
* ``outcome_unknown(exc, call)``: a call that must not be repeated lost its answer.

The retry policy has two parts. In the pipeline: a 401 renews the session once (when the
provider's ``renew_auth`` can) and the call is sent again. Everything else is *not* retried in
process: the error says what should happen next (``RetriableError`` with ``retry_after`` from
``Retry-After``, ``FatalError``, ``OutcomeUnknown``…) and the hub's durable state machine
retries, with backoff, what is retriable, so a worker killed while waiting loses nothing. A call
marked ``repeatable=False`` (an e-mail, a money movement) whose request may have reached the
provider is never classified retriable: it raises ``OutcomeUnknown``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from connectors.errors import (
    FatalError,
    HubError,
    OutcomeUnknown,
    RetriableError,
    classify_status,
)
from connectors.ratelimit import RateLimiter

#: transport failures before any byte of the request left: always safe to send again
NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: the request was not completely written: the provider cannot have acted on it
PARTLY_SENT: tuple[type[Exception], ...] = (httpx.WriteError, httpx.WriteTimeout)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as the pipeline sends it.

    ``budgets``: ``(budget key, cost)`` pairs drawn before sending. ``allow``: statuses returned
    to the caller instead of raised (a 404 that means "absent"). ``repeatable=False``: the call
    has an effect nothing makes safe to repeat (a mail send, a money movement). ``ref``: what
    error messages name the call by (default ``METHOD path``, without the query).
    """

    method: str
    path: str
    params: Any = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    budgets: Sequence[tuple[str, int]] = ()
    allow: frozenset[int] = frozenset()
    repeatable: bool = True
    #: ``False``: a call that can wait (polling), stopped earlier when a budget runs low
    essential: bool = True
    ref: str = ""

    @property
    def label(self) -> str:
        return self.ref or f"{self.method} {self.path.split('?')[0]}"


class HttpApi(ABC):
    """A provider's API behind the pipeline. Subclasses set ``provider`` and implement ``http``;
    every other hook has a default."""

    provider: ClassVar[str]

    limiter: RateLimiter | None = None

    # -- hooks ----------------------------------------------------------------------------------

    @abstractmethod
    def http(self) -> httpx.Client:
        """The provider's client: base URL, timeouts, TLS, fixed headers; built once."""

    def acquire(self, call: Call) -> None:
        """Draw the call's budgets (waiting within the limiter's bound, or ``RetriableError``)."""
        if self.limiter is not None:
            for key, cost in call.budgets:
                self.limiter.acquire(key, cost)

    def auth_headers(self) -> Mapping[str, str]:
        """The credentials of one request; raises ``ConfigurationError`` when there are none."""
        return {}

    def renew_auth(self) -> bool:
        """After a 401: drop the session so the next ``auth_headers`` makes a new one. True when
        that can help (the call is then sent once more)."""
        return False

    def url(self, call: Call) -> str:
        return call.path

    def observe(self, response: httpx.Response, call: Call) -> None:  # noqa: B027 - an optional hook
        """Read what every answer's headers say (rate-limit windows, API usage)."""

    def error_message(self, response: httpx.Response) -> str:
        """The provider's error text from an error answer (never request data or secrets)."""
        return response.text[:300]

    def rate_limited(self, response: httpx.Response, call: Call) -> HubError | None:
        """A 429; ``None``: the status table's ``RetriableError`` with ``Retry-After``."""
        return None

    def special_answer(self, response: httpx.Response, call: Call) -> HubError | None:
        """Statuses this provider gives its own meaning, ahead of the status table."""
        return None

    def outcome_unknown(self, exc: Exception, call: Call) -> HubError:
        return OutcomeUnknown(
            f"{self.provider}: {type(exc).__name__} after {call.label} was sent: the outcome is unknown; not resent"
        )

    def transport_error(self, exc: Exception, call: Call) -> HubError:
        """No answer: retriable when the request cannot have been acted on, or when the call is
        repeatable; ``outcome_unknown`` otherwise."""
        if isinstance(exc, NOT_SENT):
            return RetriableError(f"{self.provider}: {type(exc).__name__} on {call.label}: the request was not sent")
        if isinstance(exc, PARTLY_SENT):
            return RetriableError(
                f"{self.provider}: {type(exc).__name__} on {call.label}: the request was not completely sent"
            )
        if call.repeatable:
            return RetriableError(f"{self.provider}: {type(exc).__name__} on {call.label}")
        return self.outcome_unknown(exc, call)

    # -- the pipeline ---------------------------------------------------------------------------

    def execute(self, call: Call) -> httpx.Response:
        """Send ``call`` through the pipeline; the answer, or the classified error raised."""
        self.acquire(call)
        renewed = False
        while True:
            headers = {**self.auth_headers(), **call.headers}
            try:
                response = self.http().request(
                    call.method,
                    self.url(call),
                    params=call.params,
                    json=call.json,
                    content=call.content,
                    headers=headers,
                )
            except httpx.RequestError as exc:
                raise self.transport_error(exc, call) from None
            self.observe(response, call)
            if response.status_code == 401 and not renewed and self.renew_auth():
                renewed = True  # expired or revoked: one new session, then the classified error
                continue
            return self.check(response, call)

    def check(self, response: httpx.Response, call: Call) -> httpx.Response:
        """The answer, or its classified error raised: the call's ``allow`` first, then the
        provider's own meanings, then a 429's hook, then the one status table."""
        status = response.status_code
        if status in call.allow:
            return response
        error = self.special_answer(response, call)
        if error is None and status == 429:
            error = self.rate_limited(response, call)
        if error is None and status >= 400:
            error = classify_status(
                status, provider=self.provider, detail=self.error_message(response), headers=response.headers
            )
        if error is not None:
            raise error
        return response

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object (``FatalError`` when it is not one)."""
        try:
            data = response.json()
        except ValueError:
            raise FatalError(f"{self.provider} answered {response.status_code} with a body that is not JSON") from None
        if not isinstance(data, dict):
            raise FatalError(f"{self.provider} answered with JSON that is not an object")
        return data
