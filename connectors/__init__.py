"""Provider connectors, registered explicitly in one dict.

Adding a provider: write ``connectors/<name>.py`` with a settings model and a class implementing
``connectors.base.Connector``, then add one line to ``REGISTRY`` and one field to
``hub.runtime.settings.Settings``. Connectors import nothing from ``hub`` (an import-linter
contract).
"""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.hubspot import HubSpotConnector
from connectors.pipedrive import PipedriveConnector
from connectors.salesforce import SalesforceConnector
from connectors.sendgrid import SendGridConnector
from connectors.stripe import StripeConnector

#: connector name -> class; the class takes its settings section (``Settings.<name>``)
REGISTRY: dict[str, type[Any]] = {
    HubSpotConnector.name: HubSpotConnector,
    SalesforceConnector.name: SalesforceConnector,
    PipedriveConnector.name: PipedriveConnector,
    SendGridConnector.name: SendGridConnector,
    StripeConnector.name: StripeConnector,
}


def build_connectors(settings: Any) -> dict[str, Connector]:
    """One instance per registered connector, each with its own settings section."""
    return {name: cls(getattr(settings, name)) for name, cls in REGISTRY.items()}
