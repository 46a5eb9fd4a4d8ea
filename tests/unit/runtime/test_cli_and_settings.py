"""The CLI surface, settings from the environment, secrets kept out of output."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
import structlog

from connectors.errors import ConfigurationError
from hub.runtime.settings import Settings, load_settings

SUBCOMMANDS = [[], ["run"], ["web"], ["worker"], ["status"], ["replay"], ["db"], ["db", "upgrade"], ["mappings"]]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: " ".join(c) or "partnerhub")
def test_every_subcommand_has_help(command):
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "--help" in result.stdout


def test_settings_from_env_with_prefix_and_nested_delimiter(monkeypatch, tmp_path):
    monkeypatch.setenv("PARTNERHUB_HUBSPOT__CLIENT_SECRET", "from-env-secret")
    monkeypatch.setenv("PARTNERHUB_WORKER__MAX_ATTEMPTS", "4")
    monkeypatch.setenv("PARTNERHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:pw-in-url@db/hub")
    monkeypatch.delenv("PARTNERHUB_DATABASE_URL", raising=False)
    s = load_settings()
    assert s.hubspot.client_secret is not None
    assert s.hubspot.client_secret.get_secret_value() == "from-env-secret"
    assert s.worker.max_attempts == 4
    assert s.sqlalchemy_url == "postgresql+psycopg://u:pw-in-url@db/hub"
    assert "from-env-secret" not in repr(s) and "pw-in-url" not in repr(s)


def test_settings_from_dotenv(monkeypatch, tmp_path):
    for k in ("PARTNERHUB_PORT", "PARTNERHUB_PUBLIC_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    (tmp_path / ".env").write_text("PARTNERHUB_PORT=9123\nPARTNERHUB_PUBLIC_BASE_URL=https://hooks.example.com\n")
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.port == 9123 and s.public_base_url == "https://hooks.example.com"


def test_sqlite_is_the_default_database(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PARTNERHUB_DATABASE_URL", raising=False)
    monkeypatch.setenv("PARTNERHUB_DATA_DIR", str(tmp_path))
    assert load_settings().sqlalchemy_url == f"sqlite:///{tmp_path / 'partnerhub.sqlite3'}"


def test_invalid_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("PARTNERHUB_WORKER__MAX_ATTEMPTS", "many")
    with pytest.raises(ConfigurationError, match="PARTNERHUB_WORKER__MAX_ATTEMPTS"):
        load_settings()


def test_invalid_setting_stops_startup_with_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PARTNERHUB_PORT": "not-a-port", "PARTNERHUB_DATA_DIR": str(tmp_path)}
    result = cli("status", env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "PARTNERHUB_PORT" in lines[0] and "Traceback" not in result.stderr


def test_log_lines_never_carry_secrets(monkeypatch, tmp_path):
    from hub.runtime.logs import configure_logging

    monkeypatch.setenv("PARTNERHUB_HUBSPOT__ACCESS_TOKEN", "pat-na1-supersecret-value")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://hub:db-password-xyz@db/hub")
    monkeypatch.setenv("PARTNERHUB_LOG_FORMAT", "json")
    settings = load_settings()
    configure_logging(settings)
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    log = structlog.get_logger("t")
    log.warning(
        "call failed",
        detail="Bearer pat-na1-supersecret-value refused",
        dsn=settings.sqlalchemy_url,
        authorization="anything at all",
    )
    line = json.loads(buffer.getvalue())
    assert "supersecret" not in buffer.getvalue() and "db-password-xyz" not in buffer.getvalue()
    assert line["detail"] == "Bearer ********** refused"
    assert line["authorization"] == "**********"
    logging.getLogger().handlers.clear()
