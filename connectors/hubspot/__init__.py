"""HubSpot: app webhooks in (signature v3, batched JSON arrays), CRM objects read and written
through the API, the partner flow's CRM surface (``connectors.capabilities.CrmConnector``).

One module per concept:

* ``settings``: ``HubSpotSettings`` (``PARTNERHUB_HUBSPOT__*``);
* ``webhooks``: the v3 signature, the webhook body parsed into changes, merges (``merge_of``);
* ``objects``: the CRM objects a mapping file may name, their API paths, what is always read;
* ``records``: batch reads, and the ``Record`` an API answer becomes;
* ``sdk``: hubspot-api-client's models for request bodies and answers; error answers;
* ``oauth``: OAuth access tokens, refreshed ahead of expiry and shared between processes;
* ``client``: ``HubSpotApi``, every call authenticated, under the rate budget, errors classified;
* ``polling``: ``fetch_changes``, records changed since a cursor, through CRM search by key;
* ``writes``: ``upsert_many``, batch upsert/update/create 100 records a call;
* ``values``: property values as the text HubSpot takes;
* ``crm``: conflicts, and the outbox actions ``create_referral_deal`` and ``update_deal``;
* ``tasks``: the outbox action ``create_task``, once per idempotency key;
* ``setup``: the custom properties ``crm setup`` creates and checks;
* ``connector``: ``HubSpotConnector``, composed from the above.
"""

from __future__ import annotations

from connectors.hubspot.client import (
    API_BUDGET,
    MAX_BATCH,
    SEARCH_BUDGET,
    ClientOptions,
    HubSpotApi,
)
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.oauth import REFRESH_AHEAD_S, OAuthTokens
from connectors.hubspot.objects import OBJECTS, READ_PROPERTIES, TRACKING_ID
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.setup import CUSTOM_PROPERTIES, SETUP_GROUP, CustomProperty
from connectors.hubspot.webhooks import (
    MAX_EVENTS_PER_BATCH,
    SIGNATURE_MAX_AGE_S,
    SIGNATURE_MAX_SKEW_S,
    canonical_uri,
    now_ms,
    sign_v3,
)

__all__ = [
    "API_BUDGET",
    "CUSTOM_PROPERTIES",
    "MAX_BATCH",
    "MAX_EVENTS_PER_BATCH",
    "OBJECTS",
    "READ_PROPERTIES",
    "REFRESH_AHEAD_S",
    "SEARCH_BUDGET",
    "SETUP_GROUP",
    "SIGNATURE_MAX_AGE_S",
    "SIGNATURE_MAX_SKEW_S",
    "TRACKING_ID",
    "ClientOptions",
    "CustomProperty",
    "HubSpotApi",
    "HubSpotConnector",
    "HubSpotSettings",
    "OAuthTokens",
    "canonical_uri",
    "now_ms",
    "sign_v3",
]
