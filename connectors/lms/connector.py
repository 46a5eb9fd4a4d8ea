"""The learning platform connector: a signed webhook in, nothing out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from connectors.lms import webhooks
from connectors.lms.settings import LmsSettings
from connectors.values import InboundRequest, ObjectSpec, Parsed


class LmsConnector:
    name: ClassVar[str] = "lms"
    actions: ClassVar[frozenset[str]] = frozenset()
    objects: ClassVar[Mapping[str, ObjectSpec]] = {}

    def __init__(self, settings: LmsSettings):
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes

    def webhook_ready(self) -> bool:
        return bool(self.settings.webhook_secrets)

    def body_limit(self, subpath: str) -> int | None:
        return None if subpath else self.max_body_bytes

    def verify_webhook(self, req: InboundRequest) -> None:
        webhooks.verify(self.settings.webhook_secrets, req, tolerance_s=self.settings.signature_tolerance_s)

    def parse_webhook(self, req: InboundRequest) -> Parsed:
        return webhooks.parse(req)

    def changed_fields(self, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return None  # the hub writes nothing to the LMS

    def outbox_actions(self) -> dict[str, Callable[..., dict[str, Any]]]:
        return {}

    def close(self) -> None:
        pass
