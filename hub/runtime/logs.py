"""Structured logging (structlog) that never prints a secret.

Every ``SecretStr`` in the settings is collected once; any log value containing one has it
replaced by ``**********``, and keys that name credentials are masked whatever their value.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from pydantic import BaseModel, SecretStr

from hub.runtime.settings import Settings

_SECRET_KEY = re.compile(r"(secret|token|password|authorization|api_key|apikey|signature)", re.I)
MASK = "**********"


def _secret_values(model: BaseModel) -> list[str]:
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            raw = value.get_secret_value()
            if len(raw) >= 4:
                found.append(raw)
                # a URL's password shows up on its own too
                match = re.match(r"^[a-z+]+://[^:/@]*:([^@]+)@", raw)
                if match:
                    found.append(match.group(1))
        elif isinstance(value, BaseModel):
            found.extend(_secret_values(value))
    return found


class Redactor:
    def __init__(self, secrets: list[str]):
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {k: (MASK if _SECRET_KEY.search(str(k)) else self.scrub(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        return value

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
        scrubbed: dict[str, Any] = self.scrub(dict(event_dict))
        return scrubbed


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    for noisy in ("alembic", "httpx", "httpcore", "rq.worker"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(_secret_values(settings)),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
