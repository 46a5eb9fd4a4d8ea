"""Provider connectors, registered explicitly in one dict.

Adding a provider: write ``connectors/<name>/`` with a settings model and a connector class, add
one line to ``REGISTRY`` and one field to the hub's ``Settings``. The class implements
``capabilities.Connector`` (``name``, ``objects``, ``changed_fields``, ``close``) plus exactly
the capabilities its provider supports, no stubs: ``ReceivesWebhooks`` (verify and parse),
``Polls``, ``ReadsInBatches``, ``WritesInBatches``, ``RunsOutboxActions`` (a table of named
actions), ``CrmConnector`` for a CRM, and the smaller ones in ``connectors.capabilities``. Raise
the errors of ``connectors.errors``; send HTTP through ``connectors.http`` with the provider's
hooks; take and return the value types of ``connectors.values``.
"""

from __future__ import annotations

from typing import Any

from connectors.capabilities import Connector
from connectors.hubspot import HubSpotConnector
from connectors.lms import LmsConnector
from connectors.pipedrive import PipedriveConnector
from connectors.salesforce import SalesforceConnector
from connectors.sendgrid import SendGridConnector
from connectors.stripe import StripeConnector

#: connector name -> class; the class takes its settings section (``Settings.<name>``)
REGISTRY: dict[str, type[Connector]] = {
    HubSpotConnector.name: HubSpotConnector,
    SalesforceConnector.name: SalesforceConnector,
    PipedriveConnector.name: PipedriveConnector,
    SendGridConnector.name: SendGridConnector,
    StripeConnector.name: StripeConnector,
    LmsConnector.name: LmsConnector,
}


def build_connectors(settings: Any) -> dict[str, Connector]:
    """One instance per registered connector, each with its own settings section."""
    return {name: cls(getattr(settings, name)) for name, cls in REGISTRY.items()}
