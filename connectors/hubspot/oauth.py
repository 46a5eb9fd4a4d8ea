"""OAuth access tokens for an installed HubSpot app.

Access tokens come from ``POST /oauth/v1/token`` (``grant_type=refresh_token``), are valid
``expires_in`` seconds (30 minutes) and are refreshed ahead of that; a 401 is *not* a signal to
refresh.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from hubspot.oauth import TokenResponseIF
from pydantic import SecretStr

from connectors.errors import (
    AuthenticationFailed,
    FatalError,
    RetriableError,
    classify_status,
)
from connectors.hubspot.sdk import OAUTH_SDK, decode, error_message


@dataclass(frozen=True, slots=True)
class _AccessToken:
    value: str
    expires_at: float
    refresh_at: float


#: refresh this long before ``expires_in`` runs out (at most half the token's life)
REFRESH_AHEAD_S = 300.0
#: how long a process waits for another one's refresh before refreshing itself
_REFRESH_WAIT_S = 5.0


class OAuthTokens:
    """Access tokens for an installed OAuth app, refreshed ahead of expiry.

    With a Redis client (``use_redis``) the current token is shared by every process under a key
    derived from a hash of the client id and refresh token, and one process refreshes at a time
    (a short lock); without one, each process keeps its own.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        http: Callable[[], httpx.Client],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._token: _AccessToken | None = None
        self._redis: Any = None
        digest = hashlib.sha256(f"{client_id}:{refresh_token.get_secret_value()}".encode())
        self._key = f"partnerhub:oauth:hubspot:{digest.hexdigest()[:24]}"

    def use_redis(self, client: Any) -> None:
        self._redis = client

    def bearer(self) -> str:
        token = self._token
        now = self._clock()
        if token is not None and now < token.refresh_at:
            return token.value
        if self._redis is None:
            self._token = self._refresh()
            return self._token.value
        self._token = self._shared_refresh(now)
        return self._token.value

    def _shared_refresh(self, now: float) -> _AccessToken:
        shared = self._read_shared(now)
        if shared is not None:
            return shared
        lock, owner = f"{self._key}:lock", uuid.uuid4().hex
        if self._redis_call(lambda r: r.set(lock, owner, nx=True, px=int(_REFRESH_WAIT_S * 3000))):
            try:
                token = self._refresh()
                self._write_shared(token)
                return token
            finally:
                self._redis_call(lambda r: r.delete(lock) if _text_of(r.get(lock)) == owner else 0)
        deadline = self._clock() + _REFRESH_WAIT_S
        while self._clock() < deadline:  # another process is refreshing: use its token
            self._sleep(0.05)
            shared = self._read_shared(self._clock())
            if shared is not None:
                return shared
        token = self._refresh()
        self._write_shared(token)
        return token

    def _read_shared(self, now: float) -> _AccessToken | None:
        raw = self._redis_call(lambda r: r.get(self._key))
        if not raw:
            return None
        try:
            data = json.loads(raw)
            token = _AccessToken(str(data["access_token"]), float(data["expires_at"]), float(data["refresh_at"]))
        except (ValueError, KeyError, TypeError):
            return None
        return token if now < token.refresh_at else None

    def _write_shared(self, token: _AccessToken) -> None:
        ttl_ms = int((token.expires_at - self._clock()) * 1000)
        if ttl_ms <= 0:
            return
        value = json.dumps(
            {"access_token": token.value, "expires_at": token.expires_at, "refresh_at": token.refresh_at}
        )
        self._redis_call(lambda r: r.set(self._key, value, px=ttl_ms))

    def _redis_call(self, fn: Callable[[Any], Any]) -> Any:
        try:
            return fn(self._redis)
        except Exception:
            return None

    def _refresh(self) -> _AccessToken:
        started = self._clock()
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }
        try:
            response = self._http().post("/oauth/v1/token", data=form)
        except httpx.TimeoutException:
            raise RetriableError("hubspot: timeout refreshing the OAuth token") from None
        except httpx.TransportError as exc:
            raise RetriableError(f"hubspot: {type(exc).__name__} refreshing the OAuth token") from None
        if response.status_code >= 400:
            detail = error_message(response)
            error = classify_status(
                response.status_code,
                provider="hubspot OAuth refresh",
                detail=self._scrub(detail),
                headers=response.headers,
            )
            if isinstance(error, FatalError):  # 400 BAD_REFRESH_TOKEN, 401, 403: a person must act
                raise AuthenticationFailed(str(error)) from None
            assert error is not None
            raise error
        answer: Any = decode(OAUTH_SDK, response, TokenResponseIF)
        expires_in = float(answer.expires_in)
        ahead = min(REFRESH_AHEAD_S, expires_in / 2)
        return _AccessToken(answer.access_token, started + expires_in, started + expires_in - ahead)

    def _scrub(self, text: str) -> str:
        for secret in (self._client_secret.get_secret_value(), self._refresh_token.get_secret_value()):
            if secret:
                text = text.replace(secret, "***")
        return text


def _text_of(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
