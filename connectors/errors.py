"""The error tree: every error the hub classifies, by what should happen next, from one root.

The worker acts on the class: ``RetriableError`` is tried again later (honouring ``retry_after``),
``FatalError`` is dead-lettered (``OutcomeUnknown`` waits for a lookup or a person),
``SkippableRecord`` dead-letters one record and carries on, ``WebhookRejected`` is the answer to
an inbound request, ``ConfigurationError`` needs a person to fix settings or files.
``classify_status`` is the one table from a provider's HTTP status to these classes.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from datetime import UTC
from typing import Any, ClassVar


class HubError(Exception):
    """Root of every error the hub classifies."""

    #: a short, stable name stored with dead letters and used as an alert key
    kind: ClassVar[str] = "error"


class ConfigurationError(HubError):
    """The hub or a connector is set up wrongly; a person has to fix settings or files."""

    kind = "configuration"


class WebhookRejected(HubError):
    """An inbound request is refused before anything is stored.

    ``status`` is the HTTP status the receiver answers with (401 bad signature, 400 malformed).
    The message is safe to return to the caller: it never contains secrets.
    """

    kind = "rejected"
    status: int = 400
    #: the answer's body when the provider expects its own refusal format (a SOAP fault); ``None``:
    #: the hub's JSON error. ``media_type`` goes with it; ``reason`` labels the rejection metric.
    body: bytes | None = None
    media_type: str = "application/json"
    reason: str | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class SignatureInvalid(WebhookRejected):
    """Signature missing, wrong, or its timestamp outside the replay window (401)."""

    status = 401


class MalformedPayload(WebhookRejected):
    """The body cannot be parsed into changes (400)."""

    status = 400


class InvalidJson(MalformedPayload):
    """A body that is not JSON the hub accepts (``connectors.jsonbody``): not UTF-8, not JSON,
    ``NaN``/``Infinity``, nested too deep, or a number too large to read (400)."""


class RetriableError(HubError):
    """Try again later: 429, 5xx, timeouts, a lock held elsewhere. ``retry_after`` in seconds."""

    kind = "retriable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(HubError):
    """Retrying cannot help (bad credentials, a request the provider refuses): dead-letter it."""

    kind = "fatal"


class OutcomeUnknown(FatalError):
    """The request reached the provider but its answer did not reach us, and nothing makes a
    retry safe (an email, a money movement): never retried blindly. The outbox row waits in the
    ``unknown`` state, with an alert, for a lookup or a person (``partnerhub replay --outbox``)."""

    kind = "unknown"


class AuthenticationFailed(FatalError):
    """The provider refused our credentials (401/403). Raises a connector alert."""

    kind = "auth"


class SkippableRecord(HubError):
    """This one record cannot be handled (a mapping gap, bad data); dead-letter it, carry on."""

    kind = "skippable"


def first_error(exc: Any) -> str:
    """``where: what`` of a pydantic ``ValidationError``'s first problem, for one-line errors."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) + ": " + str(first["msg"])


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(
    status: int, *, provider: str, detail: str = "", headers: Mapping[str, str] | None = None
) -> HubError | None:
    """The one table from a provider's HTTP status to what happens next. ``None`` means success.

    429 and 5xx (and 408) retry, honouring ``Retry-After``; 401/403 are credential problems; any
    other 4xx is a request the provider will keep refusing.
    """
    if status < 400:
        return None
    headers = headers or {}
    text = f"{provider} answered {status}" + (f": {detail[:300]}" if detail else "")
    if status in (408, 425, 429) or status >= 500:
        retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
        return RetriableError(text, retry_after=retry_after)
    if status in (401, 403):
        return AuthenticationFailed(text)
    return FatalError(text)
