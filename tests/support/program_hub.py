"""The hub's program engine in the test process, for tests of its record logic: a migrated
database, a copy of the shipped mapping folder with the test's program file, settings from a clean
environment (so a ``partnerhub`` command run by ``cli`` sees the same hub), and the CLI as an
operator runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from hub.pipeline.store import upgrade
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings
from tests.support.servers import REPO


def open_program_hub(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    program: str | None,
    admin_token: str,
    env: Mapping[str, str] | None = None,
) -> Hub:
    """The hub on a migrated ``database_url``; ``program`` the text of ``program.yaml`` (None:
    the shipped one); ``env``: more settings (a CRM's, from its ``*_hub.py`` helper). The caller
    closes it."""
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    if program is not None:
        (mappings / "program.yaml").write_text(program)
    for key in [k for k in os.environ if k.startswith("PARTNERHUB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PARTNERHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARTNERHUB_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("PARTNERHUB_ADMIN_TOKEN", admin_token)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    upgrade(database_url)
    return Hub.open(load_settings())


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """``partnerhub ARGS`` in this test's environment; its exit status must be ``code``."""
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == code, result.stdout + result.stderr
    return result
