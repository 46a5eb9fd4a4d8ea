"""The failed-attempt throttle: one mechanism for every door a stranger can knock on (the APIs in
``hub.api.auth``, the sign-in pages in ``hub.web``: it lives in the runtime so both entry layers
share one implementation).

Failures are counted in Redis, so every web process agrees, in fixed windows: a key that has
failed ``limit`` times in the current window is refused until the window ends. Nothing is written
to the database for a failure. The partner and admin APIs use it (``hub.api.auth``) with two keys
per request — the client's address and the presented credential's prefix — and the pages'
sign-in (``hub.web.signin``) per address and per client address::

    throttle = Throttle(hub.redis, prefix=hub.settings.queue_prefix, limit=10, window_s=300)
    keys = [f"addr:{client_address(scope, trusted)}", f"key:{credential[:12]}"]
    wait = throttle.check(*keys)          # seconds to wait, or None: refuse with 429 + Retry-After
    ...                                   # authenticate
    throttle.fail(*keys)                  # on a failure: count it against every key
    throttle.reset("key:...")             # on a success, for keys a success should clear

Keys are hashed before they reach Redis, so whatever a client sends makes a short key and no
credential is stored. If Redis cannot be reached the throttle lets requests through (logged):
authentication still happens, only the counting is lost.

``client_address`` is the connection's address, or — only when the connection comes from one of
the trusted proxies (``PARTNERHUB_TRUSTED_PROXIES``) — the nearest address in
``X-Forwarded-For`` that is not itself a trusted proxy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import redis
import structlog
from starlette.types import Scope

log = structlog.get_logger(__name__)

Network = IPv4Network | IPv6Network


class Throttle:
    """``check(*keys)`` -> seconds to wait or ``None``; ``fail(*keys)`` counts one failure against
    each key; ``reset(*keys)`` forgets them. Each key allows ``limit`` failures per ``window_s``."""

    def __init__(self, client: redis.Redis, *, prefix: str, limit: int, window_s: int, name: str = "auth"):
        self.redis = client
        self.limit = limit
        self.window_s = window_s
        self._base = f"{prefix}:throttle:{name}:"

    def _key(self, key: str) -> str:
        return self._base + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]

    def check(self, *keys: str) -> int | None:
        """Seconds until every blocked key is free again (the longest wait), or ``None``."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.get(self._key(key))
                pipe.ttl(self._key(key))
            answers = pipe.execute()
        except redis.RedisError as exc:
            log.warning("throttle unavailable, not checked", error=type(exc).__name__)
            return None
        wait = 0
        for count, ttl in zip(answers[::2], answers[1::2], strict=True):
            if count is not None and int(count) >= self.limit:
                wait = max(wait, int(ttl) if ttl and int(ttl) > 0 else self.window_s)
        return wait or None

    def fail(self, *keys: str) -> None:
        """Count one failure against each key (the window starts with a key's first failure)."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.incr(self._key(key))
                pipe.expire(self._key(key), self.window_s, nx=True)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("throttle unavailable, failure not counted", error=type(exc).__name__)

    def reset(self, *keys: str) -> None:
        try:
            self.redis.delete(*(self._key(key) for key in keys))
        except redis.RedisError as exc:
            log.warning("throttle unavailable, not reset", error=type(exc).__name__)


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The client's address: the connection's, or from ``X-Forwarded-For`` when the connection
    comes from a trusted proxy (walking right to left past every trusted proxy)."""
    client = scope.get("client")
    peer = client[0] if client else ""
    if not trusted or not _in(peer, trusted):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-for":
            forwarded += [part.strip() for part in value.decode("latin-1").split(",")]
    address = peer
    for hop in reversed(forwarded):
        parsed = _parse(hop)
        if parsed is None:  # junk in the header: stop at the last address we could trust
            break
        address = str(parsed)
        if not _in(address, trusted):
            break
    return address


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value)
    except ValueError:
        return None


def _in(address: str, networks: Sequence[Network]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in networks)
