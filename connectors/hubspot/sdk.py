"""hubspot-api-client's generated models on our own HTTP client.

Request bodies are built with hubspot-api-client's generated models and answers parsed into them
(HubSpot's spec is not public); they travel over ``client.HubSpotApi``'s httpx client, so every
call goes through the shared rate budget and ``classify_status``. Also here: what an error answer
says.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from hubspot.crm.associations.v4 import ApiClient as AssociationsClient
from hubspot.crm.objects import ApiClient
from hubspot.crm.properties import ApiClient as PropertiesClient
from hubspot.oauth import ApiClient as OAuthClient

from connectors.errors import FatalError

#: request bodies are built with hubspot-api-client's generated models (their JSON names); each
#: API group has its own client, whose deserializer knows that group's models
OBJECTS_SDK = ApiClient()
PROPERTIES_SDK = PropertiesClient()
ASSOCIATIONS_SDK = AssociationsClient()
OAUTH_SDK = OAuthClient()

_Model = TypeVar("_Model")


class _Body:
    """What the SDK's deserializer reads an answer from (its RESTResponse has ``data``)."""

    def __init__(self, data: str) -> None:
        self.data = data


def decode(client: Any, response: httpx.Response, klass: type[_Model]) -> _Model:
    """Parse an answer into the SDK model (required fields and enum values checked)."""
    try:
        return client.deserialize(_Body(response.text), klass)  # type: ignore[no-any-return]
    except (ValueError, TypeError, AttributeError) as exc:
        raise FatalError(
            f"hubspot: unexpected answer for {klass.__name__} ({response.status_code}): {exc}"[:400]
        ) from None


def error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("category") or "")[:200]
    return ""


def error_field(response: httpx.Response, name: str) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return str(value) if value is not None else None
