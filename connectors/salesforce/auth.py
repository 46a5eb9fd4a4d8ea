"""OAuth 2.0 sessions for the Salesforce API: the refresh-token, JWT-bearer and (sandboxes)
username-password flows, and the allow-list that keeps tokens on Salesforce's own hosts.

simple-salesforce has no refresh-token flow (``shared/PROVIDERS.md`` §7), so the hub posts to the
token endpoint itself (the Postman collection's ``auth/refresh_token.json``,
``auth/jwt_bearer_token_flow.json``, ``auth/oauth_username_password.json``) and uses the answer's
``access_token`` and ``instance_url`` as the session. An ``instance_url`` is used only when it is
https on an allowed host: a tampered or misconfigured answer cannot send the token elsewhere.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import jwt

from connectors.errors import AuthenticationFailed, ConfigurationError, RetriableError
from connectors.salesforce.settings import SalesforceSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: lifetime of a JWT-bearer assertion (Salesforce accepts at most 3 minutes)
JWT_LIFETIME_S = 180


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    instance_url: str


def check_host(url: str, allowed: Sequence[str], *, what: str) -> str:
    """``url`` without a trailing slash when it is https on an allowed host; else a
    ``ConfigurationError`` (never naming a token)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        raise ConfigurationError(f"salesforce: the {what} must be an https URL (got {parts.scheme or 'none'}://)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(f"salesforce: the {what} must be a plain https://host URL")
    for pattern in allowed:
        pattern = pattern.lower()
        if host == pattern or (fnmatch.fnmatchcase(host, pattern) and pattern.startswith("*.")):
            return url.rstrip("/")
    raise ConfigurationError(
        f"salesforce: the {what} host {host!r} is not an allowed Salesforce host (PARTNERHUB_SALESFORCE__ALLOWED_HOSTS)"
    )


def audience(login: str) -> str:
    """The JWT-bearer ``aud`` Salesforce expects for a login URL (its OAuth JWT-bearer docs:
    login.salesforce.com, or test.salesforce.com for sandboxes, whatever My Domain is used)."""
    host = (urlsplit(login).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host == "login.salesforce.com" or host.endswith(".salesforce.com"):
        return "https://login.salesforce.com"
    return login


class TokenSource:
    """Gets a new session from the token endpoint with the configured flow."""

    def __init__(
        self, settings: SalesforceSettings, http: Callable[[], httpx.Client], clock: Callable[[], float] = time.time
    ):
        self.settings = settings
        self._http = http
        self._clock = clock

    def ready(self) -> bool:
        s = self.settings
        if not s.client_id:
            return False
        if s.auth_flow == "refresh_token":
            return s.refresh_token is not None
        if s.auth_flow == "jwt_bearer":
            return bool(s.username) and (s.private_key is not None or s.private_key_file is not None)
        return bool(s.username) and s.password is not None and s.client_secret is not None

    def new_session(self) -> Session:
        s = self.settings
        if not self.ready():
            raise ConfigurationError(
                f"salesforce: the {s.auth_flow} flow needs PARTNERHUB_SALESFORCE__CLIENT_ID and "
                + {
                    "refresh_token": "__REFRESH_TOKEN",
                    "jwt_bearer": "__USERNAME and __PRIVATE_KEY(_FILE)",
                    "password": "__USERNAME, __PASSWORD and __CLIENT_SECRET",
                }[s.auth_flow]
            )
        login = check_host(s.login_url, s.allowed_hosts, what="login URL")
        form = self._form(login)
        try:
            response = self._http().post(
                f"{login}/services/oauth2/token", data=form, headers={"accept": "application/json"}
            )
        except httpx.TransportError as exc:
            raise RetriableError(f"salesforce: token endpoint unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableError(f"salesforce: token endpoint answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200 or not data.get("access_token"):
            error = str(data.get("error") or response.status_code)
            raise AuthenticationFailed(f"salesforce: the {s.auth_flow} flow was refused ({error})")
        instance = check_host(str(data.get("instance_url") or ""), s.allowed_hosts, what="instance_url")
        return Session(access_token=str(data["access_token"]), instance_url=instance)

    def _form(self, login: str) -> dict[str, str]:
        s = self.settings
        assert s.client_id is not None
        if s.auth_flow == "refresh_token":
            assert s.refresh_token is not None
            form = {
                "grant_type": "refresh_token",
                "client_id": s.client_id,
                "refresh_token": s.refresh_token.get_secret_value(),
            }
            if s.client_secret is not None:
                form["client_secret"] = s.client_secret.get_secret_value()
            return form
        if s.auth_flow == "jwt_bearer":
            return {"grant_type": JWT_GRANT, "assertion": self._assertion(login)}
        assert s.password is not None and s.client_secret is not None and s.username
        return {
            "grant_type": "password",
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
            "username": s.username,
            "password": s.password.get_secret_value(),
        }

    def _assertion(self, login: str) -> str:
        s = self.settings
        if s.private_key is not None:
            key = s.private_key.get_secret_value()
        else:
            assert s.private_key_file is not None
            try:
                key = s.private_key_file.read_text()
            except OSError as exc:
                raise ConfigurationError(f"salesforce: cannot read the private key file: {exc.strerror}") from None
        claims = {
            "iss": s.client_id,
            "sub": s.username,
            "aud": s.jwt_audience or audience(login),
            "exp": int(self._clock()) + JWT_LIFETIME_S,
        }
        try:
            return jwt.encode(claims, key, algorithm="RS256")
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"salesforce: the JWT private key is unusable ({type(exc).__name__})") from None
