"""What the deployment itself must refuse, through the ``partnerhub`` command and the embedded
Redis: a movable program clock outside development and test (``PARTNERHUB_MODE``), a short admin
token, an embedded Redis any local user could talk to, and data files others can read."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from rq import Queue

from hub.runtime.embedded_redis import EmbeddedRedis
from tests.support.servers import REPO, free_port


def hub_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PARTNERHUB_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    env["PARTNERHUB_DATA_DIR"] = str(tmp_path / "data")
    env.update(settings)
    return env


def partnerhub(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str]:
    """Run the command; a command that does not stop by itself is stopped and fails the test."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)
        pytest.fail(f"partnerhub {' '.join(args)} started instead of refusing to")
    return proc.returncode, out


# -- 3: the program clock moves only in development and test -----------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("PARTNERHUB_PROGRAM__CLOCK_NOW", "2030-01-01T00:00:00Z", ["run", "--port", "{port}"]),
        ("PARTNERHUB_PROGRAM__CLOCK_OFFSET_S", "5184000", ["run", "--port", "{port}"]),
        ("PARTNERHUB_PROGRAM__CLOCK_NOW", "2030-01-01T00:00:00Z", ["worker"]),
        ("PARTNERHUB_PROGRAM__CLOCK_OFFSET_S", "5184000", ["worker"]),
    ],
)
def test_clock_settings_stop_start_up_in_production(tmp_path, redis_url, variable, value, command):
    env = hub_env(tmp_path, REDIS_URL=redis_url, **{variable: value})
    command = [part.format(port=free_port()) for part in command]
    code, out = partnerhub(env, *command)
    assert code == 2, out
    assert f"invalid setting {variable}" in out and "PARTNERHUB_MODE" in out
    assert out.count("\n") == 1  # one line, no traceback
    env["PARTNERHUB_MODE"] = "production"  # said out loud, the same
    assert partnerhub(env, *command)[0] == 2


def test_program_tick_now_is_refused_in_production_and_runs_in_test(tmp_path, redis_url):
    env = hub_env(tmp_path, REDIS_URL=redis_url)
    assert partnerhub(env, "db", "upgrade")[0] == 0
    code, out = partnerhub(env, "program", "tick", "--now", "2031-06-01T00:00:00Z")
    assert code == 2 and "--now" in out and "PARTNERHUB_MODE" in out, out
    code, out = partnerhub(env, "program", "tick")  # the real clock is fine
    assert code == 0, out
    env["PARTNERHUB_MODE"] = "test"
    code, out = partnerhub(env, "program", "tick", "--now", "2031-06-01T00:00:00Z")
    assert code == 0, out


def test_an_unknown_mode_is_refused(tmp_path, redis_url):
    code, out = partnerhub(hub_env(tmp_path, REDIS_URL=redis_url, PARTNERHUB_MODE="staging"), "worker")
    assert code == 2 and "invalid setting PARTNERHUB_MODE" in out


# -- 12: the admin token is long ----------------------------------------------------------------------


def test_a_short_admin_token_stops_start_up(tmp_path, redis_url):
    env = hub_env(tmp_path, REDIS_URL=redis_url, PARTNERHUB_ADMIN_TOKEN="x" * 31)
    code, out = partnerhub(env, "worker")
    assert code == 2 and "invalid setting PARTNERHUB_ADMIN_TOKEN" in out and "32 characters" in out
    assert "x" * 31 not in out  # the refused secret is not echoed


# -- 11: the embedded Redis needs its password; the data directory is the user's alone ----------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_000():
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_embedded_redis_refuses_connections_without_its_password(tmp_path, umask_000):
    data = tmp_path / "data"
    server = EmbeddedRedis(data)
    url = server.ensure()
    try:
        port = json.loads((data / "redis" / "endpoint.json").read_text())["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"PING\r\n")
            assert raw.recv(100).startswith(b"-NOAUTH")
        stranger = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):  # so no local user can enqueue a job
            Queue("partnerhub-inbox", connection=stranger).enqueue("os.system", "true")
        stranger.close()
        owner = redis.Redis.from_url(url, socket_timeout=5)
        assert owner.ping()
        owner.close()
        password = data / "redis" / "password"
        assert len(password.read_text().strip()) >= 32 and password.read_text().strip() in url
        assert mode_of(password) == 0o600
        assert mode_of(data) == 0o700 and mode_of(data / "redis") == 0o700
        attached = EmbeddedRedis(data)  # another hub process on the data dir finds and uses it
        assert attached.ensure() == url and not attached.owner
    finally:
        server.stop()
    restarted = EmbeddedRedis(data)  # the password is kept across restarts
    try:
        assert restarted.ensure() == url.replace(f":{port}/", f":{restarted._server.port}/")
    finally:
        restarted.stop()


def test_the_sqlite_file_and_data_directory_are_private_whatever_the_umask(tmp_path):
    env = hub_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "db", "upgrade"],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=120,
        umask=0,
    )
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    assert mode_of(data) == 0o700
    assert mode_of(data / "partnerhub.sqlite3") == 0o600
