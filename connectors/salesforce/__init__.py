"""Salesforce: Outbound Messages (SOAP) and Flow/Apex callouts in, SOQL polling on
``SystemModstamp``, sObject Collections out, the partner flow's CRM surface
(``connectors.capabilities.CrmConnector``).

One module per concept:

* ``settings``: ``SalesforceSettings`` (``PARTNERHUB_SALESFORCE__*``);
* ``auth``: OAuth sessions (refresh token, JWT bearer, username-password) and the host allow-list;
* ``limits``: the daily API allocation from ``Sforce-Limit-Info``, shared through Redis;
* ``client``: ``SalesforceApi``, every call authenticated, counted and classified; SOQL pages,
  describe, sObject Collections;
* ``soql``: escaping of every value placed in a query;
* ``objects``: the sObjects a mapping file may name, what reads select, the External ID fields;
* ``records``: SOQL rows as ``Record``s, reads by Id, upserts;
* ``polling``: ``fetch_changes`` on a ``(SystemModstamp, Id)`` cursor with an overlap window;
* ``outbound``: Outbound Messages parsed, the Ack and SOAP faults;
* ``callouts``: the JSON endpoint for Flow (secret header) and Apex (HMAC-SHA256) callouts;
* ``webhooks``: which endpoint a request is for; what a stored event stands for;
* ``crm``: conflicts, deal parties and the outbox actions;
* ``setup``: the custom fields ``crm setup`` checks, with instructions for what is missing;
* ``connector``: ``SalesforceConnector``, composed from the above.
"""

from __future__ import annotations

from connectors.salesforce.callouts import sign as sign_callout
from connectors.salesforce.client import MAX_COLLECTION, SalesforceApi
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.objects import OBJECTS, TRACKING_ID
from connectors.salesforce.outbound import ACK
from connectors.salesforce.settings import SalesforceSettings

__all__ = [
    "ACK",
    "MAX_COLLECTION",
    "OBJECTS",
    "TRACKING_ID",
    "SalesforceApi",
    "SalesforceConnector",
    "SalesforceSettings",
    "sign_callout",
]
