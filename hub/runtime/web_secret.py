"""The web secret and the public base URL, as every process sees them.

The secret signs the pages' session cookies and CSRF tokens (``hub.web``) and makes the sign-in
links (``hub.program.access``), so every web process and every worker must have the same one:
``PARTNERHUB_WEB__SECRET``. When it is unset (one machine: ``partnerhub run``, development) it is
made at the first start and kept in ``<data dir>/web/secret`` (0600, in a 0700 directory), like
the embedded Redis password, so every process on the machine reads the same.

The public base URL (``PARTNERHUB_PUBLIC_BASE_URL``) is where links in mail point; without it,
``http://<host>:<port>`` of the settings. A request's Host header is never used.
"""

from __future__ import annotations

import fcntl
import secrets
from functools import lru_cache
from pathlib import Path

from hub.runtime.embedded_redis import private_dir, private_file
from hub.runtime.settings import Settings


def web_secret(settings: Settings) -> bytes:
    if settings.web.secret is not None:
        return settings.web.secret.get_secret_value().encode()
    return _stored_secret(settings.data_dir.resolve())


@lru_cache(maxsize=8)
def _stored_secret(data_dir: Path) -> bytes:
    directory = private_dir(data_dir / "web")
    path = directory / "secret"
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once make one secret
        try:
            value = path.read_text().strip() if path.exists() else ""
            if not value:
                value = secrets.token_urlsafe(48)
                private_file(path)
                path.write_text(value)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return value.encode()


def public_base_url(settings: Settings) -> str:
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::") else settings.host
    return f"http://{host}:{settings.port}"
