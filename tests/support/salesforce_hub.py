"""Helpers for tests of the hub with Salesforce as its CRM: the settings pointing at the fake, and
posting Outbound Messages and callouts to the running web app."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from connectors.salesforce import sign_callout
from tests.support.fake_salesforce import FakeSalesforce

PATH_SECRET = "om-path-secret-made-up-for-tests-0000"  # made up for tests
FLOW_SECRET = "flow-secret-made-up-for-tests-00000000"  # made up for tests
APEX_SECRET = "apex-secret-made-up-for-tests-00000000"  # made up for tests


def salesforce_env(fake: FakeSalesforce, mappings: Path, **extra: str) -> dict[str, str]:
    return {
        **fake.settings_env(),
        "PARTNERHUB_CRM": "salesforce",
        "PARTNERHUB_MAPPINGS_DIR": str(mappings),
        "PARTNERHUB_SALESFORCE__OUTBOUND_PATH_SECRET": PATH_SECRET,
        "PARTNERHUB_SALESFORCE__CALLOUT_SECRET": FLOW_SECRET,
        "PARTNERHUB_SALESFORCE__CALLOUT_SIGNING_SECRET": APEX_SECRET,
        # pushes only: scheduled polling would add rows of its own (tests poll with `sync backfill`)
        "PARTNERHUB_SYNC__INTERVAL_S": "0",
        **extra,
    }


def post_outbound(h: Any, body: bytes, *, secret: str = PATH_SECRET) -> httpx.Response:
    return httpx.post(
        f"{h.web_url}/webhooks/salesforce/{secret}",
        content=body,
        headers={"content-type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        timeout=30,
    )


def post_callout(
    h: Any,
    events: list[dict[str, Any]],
    *,
    flow_secret: str | None = FLOW_SECRET,
    apex_secret: str | None = None,
    timestamp: int | None = None,
) -> httpx.Response:
    """A Flow callout (secret header) or, with ``apex_secret``, an Apex callout (HMAC-SHA256)."""
    body = json.dumps({"events": events}).encode()
    headers = {"content-type": "application/json"}
    if apex_secret is not None:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers.update({"X-Partnerhub-Timestamp": ts, "X-Partnerhub-Signature": sign_callout(apex_secret, ts, body)})
    elif flow_secret is not None:
        headers["X-Partnerhub-Secret"] = flow_secret
    return httpx.post(f"{h.web_url}/webhooks/salesforce/callout", content=body, headers=headers, timeout=30)
