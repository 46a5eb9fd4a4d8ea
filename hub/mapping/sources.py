"""Where mapping files find a connector's declared objects and fields.

Registered connectors come first (``connectors.REGISTRY``, each class's ``objects``); connectors
that so far only declare their objects (no connector class yet) are listed in ``DECLARATIONS`` as
module names exposing ``OBJECTS``. Registering such a connector later needs no change here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from connectors.values import ObjectSpec

#: connector name -> module with a module-level ``OBJECTS: dict[str, ObjectSpec]``
DECLARATIONS: Mapping[str, str] = {"sendgrid": "connectors.sendgrid"}


def connector_objects(name: str) -> Mapping[str, ObjectSpec] | None:
    """The objects a connector declares, or ``None`` for an unknown connector."""
    from connectors import (
        REGISTRY,  # imported late: connectors import settings-free modules only
    )

    cls = REGISTRY.get(name)
    if cls is not None:
        objects: Mapping[str, ObjectSpec] = cls.objects
        return objects
    module_name = DECLARATIONS.get(name)
    if module_name is None:
        return None
    declared: Mapping[str, ObjectSpec] = importlib.import_module(module_name).OBJECTS
    return declared


def known_connectors() -> list[str]:
    from connectors import REGISTRY

    return sorted(set(REGISTRY) | set(DECLARATIONS))
