"""There is no Docker engine here: check what can be checked without one. The compose file
parses, names real services, and every command it and the Dockerfile run exists in the CLI."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.support.servers import REPO


def cli_ok(args: list[str]) -> bool:
    assert args[0] == "partnerhub", args
    result = subprocess.run([sys.executable, "-m", "hub.cli", *args[1:], "--help"], capture_output=True, text=True)
    return result.returncode == 0


def test_compose_file_parses_and_every_command_exists():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "postgres", "migrate", "web", "worker"} <= set(services)
    hub_services = [name for name, svc in services.items() if svc.get("build")]
    assert sorted(hub_services) == ["migrate", "web", "worker"]
    for name in hub_services:
        command = services[name]["command"]
        assert cli_ok(command), f"{name}: {command} is not a partnerhub command"
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://")
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_is_slim_non_root_with_healthcheck():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/healthz" in text
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for part in source.split():
            assert (REPO / part).exists(), f"COPY names a missing path: {part}"
    cmd = re.search(r"^CMD \[(.*)\]$", text, re.M)
    assert cmd is not None
    args = [a.strip().strip('"') for a in cmd.group(1).split(",")]
    assert cli_ok(args)


def test_compose_redis_requires_a_password_and_the_services_use_it():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    command = compose["services"]["redis"]["command"]
    assert "--requirepass" in command
    password = command[command.index("--requirepass") + 1]
    assert password.startswith("${REDIS_PASSWORD:?")  # no default: compose refuses to start without one
    for name in ("migrate", "web", "worker"):
        url = compose["services"][name]["environment"]["REDIS_URL"]
        assert url.startswith(f"redis://:{password}@"), (name, url)
