"""Pipedrive: webhooks v2 in (HTTP Basic auth), API v2 (deals, persons, organizations) and v1
(leads, webhooks) through httpx, the partner flow's CRM surface (``connectors.capabilities.CrmConnector``).

One module per concept:

* ``settings``: ``PipedriveSettings`` (``PARTNERHUB_PIPEDRIVE__*``);
* ``client``: ``PipedriveApi``, the API token, the token-cost and burst budgets, errors classified;
* ``objects``: the objects a mapping file may name, and where each lives in the API;
* ``fields``: custom fields by name (Pipedrive keys them by 40-character hashes), cached;
* ``records``: records read, polled (v2 cursor, v1 leads offset) and written;
* ``webhooks``: Basic auth, the v2 body parsed into changes, echo and record views of an event;
* ``subscriptions``: the hub's webhooks created and their health watched;
* ``crm``: conflicts, referral deal, deal update, task (an activity), a deal's parties;
* ``setup``: the custom fields ``crm setup`` creates and checks;
* ``connector``: ``PipedriveConnector``, composed from the above.
"""

from __future__ import annotations

from connectors.pipedrive.client import (
    BURST_BUDGET,
    TOKEN_BUDGET,
    TOKEN_COSTS,
    PipedriveApi,
)
from connectors.pipedrive.connector import PipedriveConnector
from connectors.pipedrive.fields import FieldKeys, field_name
from connectors.pipedrive.objects import OBJECTS, TRACKING_ID
from connectors.pipedrive.settings import PipedriveSettings
from connectors.pipedrive.setup import CUSTOM_FIELDS
from connectors.pipedrive.webhooks import basic_auth_header

__all__ = [
    "BURST_BUDGET",
    "CUSTOM_FIELDS",
    "OBJECTS",
    "TOKEN_BUDGET",
    "TOKEN_COSTS",
    "TRACKING_ID",
    "FieldKeys",
    "PipedriveApi",
    "PipedriveConnector",
    "PipedriveSettings",
    "basic_auth_header",
    "field_name",
]
