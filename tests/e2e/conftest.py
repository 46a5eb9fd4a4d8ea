"""Fixtures of the end-to-end partner flows: ``flow`` is the deployment with HubSpot as the CRM
and the fake SendGrid, set up and running (a test module with another CRM defines its own
``flow`` through ``tests.support.flows.start_flow``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.flows import start_flow


@pytest.fixture
def flow(make_harness, database_url, fake_hubspot, fake_sendgrid) -> Any:  # type: ignore[no-untyped-def]
    """The deployment, with the CRM's custom properties made by ``partnerhub crm setup``."""
    return start_flow(make_harness, "hubspot", database_url, fake_hubspot, fake_sendgrid)
