"""Helpers for tests of the hub with Pipedrive as its CRM (``PARTNERHUB_CRM=pipedrive``): the
mapping folder, the settings pointing at the fake Pipedrive behind its Prism proxies (the
``pipedrive`` fixture of ``tests.support.pipedrive_fixtures``), and webhooks posted to the running
web app with Basic auth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from connectors.pipedrive.webhooks import basic_auth_header
from tests.support.flows import ADMIN_TOKEN
from tests.support.pipedrive_fixtures import (
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    PipedriveStack,
)
from tests.support.servers import REPO


def pipedrive_mappings(tmp_path: Path) -> Path:
    """A copy of the shipped mapping files (new deals start in Pipedrive's default pipeline,
    ``new_deals.start.pipedrive`` in the program file)."""
    target = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", target)
    program = (target / "program.yaml").read_text()
    assert 'pipedrive: {pipeline: "1", stage: "1"}' in program  # the shipped default
    return target


def pipedrive_env(stack: PipedriveStack, mappings: Path, **extra: str) -> dict[str, str]:
    """Pipedrive as the hub's CRM, its connector talking to the proxies in front of the fake."""
    return {
        "PARTNERHUB_CRM": "pipedrive",
        "PARTNERHUB_MAPPINGS_DIR": str(mappings),
        # webhooks only here; polling has its own tests (`sync backfill`)
        "PARTNERHUB_SYNC__INTERVAL_S": "0",
        **stack.env(),
        **extra,
    }


def pipedrive_harness(make_harness, database_url, pipedrive, tmp_path, **extra: str):  # type: ignore[no-untyped-def]
    """A harness (not started) with Pipedrive as its CRM and the admin token of the flows."""
    extra.setdefault("PARTNERHUB_SYNC__INTERVAL_S", "0")  # webhooks only here; polling has its own tests
    return make_harness(
        database_url,
        PARTNERHUB_CRM="pipedrive",
        PARTNERHUB_MAPPINGS_DIR=str(pipedrive_mappings(tmp_path)),
        PARTNERHUB_ADMIN_TOKEN=ADMIN_TOKEN,
        **pipedrive.env(),
        **extra,
    )


def deliver(h, event: dict[str, Any], *, auth: str | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    """A Pipedrive webhook (v2 body) to the running web app, with the configured Basic auth
    unless ``auth`` says otherwise."""
    return httpx.post(
        f"{h.web_url}/webhooks/pipedrive",
        content=json.dumps(event).encode(),
        timeout=30,
        headers={
            "content-type": "application/json",
            "authorization": auth if auth is not None else basic_auth_header(WEBHOOK_USER, WEBHOOK_PASSWORD),
        },
    )
