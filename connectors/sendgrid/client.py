"""``SendGridApi``: SendGrid's v3 API sent through the shared pipeline (``connectors.http``);
this class keeps SendGrid's hooks: the API key, the ``X-RateLimit-*`` window (shared by every
worker through Redis), the error messages (with the key redacted), and the mail-send rule that
a request which may have reached SendGrid is never sent again (``mail``, module docstring).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from connectors.errors import (
    ConfigurationError,
    HubError,
    RetriableError,
    classify_status,
)
from connectors.http import Call, HttpApi
from connectors.sendgrid.mail import RateLimit, SendOutcomeUnknown, error_messages
from connectors.sendgrid.settings import SendGridSettings

#: Redis key under which an exhausted mail-send window is shared by every worker
PAUSE_KEY = "partnerhub:rate:sendgrid:mail:pause"
#: the budget a mail send names: SendGrid's rate limits are per endpoint, and the hub keeps only
#: mail send's window
MAIL_BUDGET = "sendgrid:mail"


class SendGridApi(HttpApi):
    provider = "sendgrid"

    def __init__(self, settings: SendGridSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport
        self._client: httpx.Client | None = None
        self._redis: Any = None
        #: the rate-limit window of the last answer (read by callers that budget sends)
        self.rate_limit: RateLimit | None = None

    def use_redis(self, client: Any) -> None:
        """Share an exhausted rate-limit window with every worker."""
        self._redis = client

    # -- the pipeline's hooks -------------------------------------------------------------------

    def http(self) -> httpx.Client:
        if self.settings.api_key is None:
            raise ConfigurationError("PARTNERHUB_SENDGRID__API_KEY is not set")
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.settings.api_base_url,
                timeout=httpx.Timeout(self.settings.timeout_s, connect=self.settings.connect_timeout_s),
                transport=self._transport,
                headers={"accept": "application/json"},
            )
        return self._client

    def auth_headers(self) -> dict[str, str]:
        if self.settings.api_key is None:
            raise ConfigurationError("PARTNERHUB_SENDGRID__API_KEY is not set")
        return {"authorization": f"Bearer {self.settings.api_key.get_secret_value()}"}

    def acquire(self, call: Call) -> None:
        """No requests are left in the current window (this process's last answer, or any
        worker's through Redis): wait for the reset without calling — a clear failure, nothing
        is sent."""
        if not any(key == MAIL_BUDGET for key, _ in call.budgets):
            return
        limit, now = self.rate_limit, time.time()
        if limit is not None and limit.remaining == 0 and limit.reset_at is not None and limit.reset_at > now:
            raise RetriableError(
                "sendgrid: rate limit exhausted until the window resets", retry_after=limit.wait_s(now)
            )
        if self._redis is not None:
            try:
                pause_ms = int(self._redis.pttl(PAUSE_KEY))
            except Exception:
                return
            if pause_ms > 0:
                raise RetriableError(
                    "sendgrid: rate limit exhausted (another worker saw it) until the window resets",
                    retry_after=pause_ms / 1000,
                )

    def observe(self, response: httpx.Response, call: Call) -> None:
        """Keep a mail send's ``X-RateLimit-*`` window; when nothing is left in it, pause every
        worker's sends until it resets (or after a 429)."""
        if not any(key == MAIL_BUDGET for key, _ in call.budgets):
            return
        self.rate_limit = RateLimit.from_headers(response.headers) or self.rate_limit
        limit, now = self.rate_limit, time.time()
        if self._redis is None or limit is None or limit.reset_at is None:
            return
        if limit.remaining == 0 or response.status_code == 429:
            wait_ms = int((limit.wait_s(now) or 0) * 1000)
            if wait_ms > 0:
                try:
                    self._redis.set(PAUSE_KEY, "1", px=wait_ms)
                except Exception:
                    pass

    def error_message(self, response: httpx.Response) -> str:
        detail = error_messages(response)
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        return detail.replace(key, "[redacted]") if key else detail  # never echo the key, even if SendGrid did

    def rate_limited(self, response: httpx.Response, call: Call) -> HubError | None:
        """A 429 waits for ``Retry-After``, else for the window's reset."""
        error = classify_status(
            429, provider=self.provider, detail=self.error_message(response), headers=response.headers
        )
        assert isinstance(error, RetriableError)
        retry_after = error.retry_after
        if retry_after is None and self.rate_limit is not None and call.budgets:
            retry_after = self.rate_limit.wait_s(time.time())
        return RetriableError(str(error), retry_after=retry_after)

    def outcome_unknown(self, exc: Exception, call: Call) -> HubError:
        if isinstance(exc, httpx.ReadTimeout | httpx.ReadError | httpx.RemoteProtocolError):
            return SendOutcomeUnknown(
                f"sendgrid: {type(exc).__name__} after the request was sent: {call.label} may have "
                "been queued; not resent. Check SendGrid's activity (or this notification's events) "
                "for that notification_id, then replay the row only if it was not sent"
            )
        return SendOutcomeUnknown(f"sendgrid: {type(exc).__name__}: outcome unknown for {call.label}; not resent")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
