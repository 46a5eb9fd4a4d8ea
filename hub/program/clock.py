"""The program engine's clock: real UTC time, or the time an operator or a test sets.

Timed rules (holding periods, payout runs, re-engagement, tier reviews) ask ``now(hub)`` instead
of the system clock, so a whole deployment can be run "as of" another moment:
``PARTNERHUB_PROGRAM__CLOCK_NOW=2027-01-15T09:00:00Z`` (fixed) or
``PARTNERHUB_PROGRAM__CLOCK_OFFSET_S=5184000`` (real time plus 60 days), and
``partnerhub program tick --now ISO`` runs one pass at a given moment. Both only when
``PARTNERHUB_MODE`` is development or test (``hub.runtime.settings`` refuses them otherwise).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.pipeline.store import utcnow
from hub.program.settings import ProgramSettings


def now(hub: Any) -> datetime:
    """The program's current time for this hub (aware UTC)."""
    settings: ProgramSettings | None = getattr(getattr(hub, "settings", None), "program", None)
    if settings is None:
        return utcnow()
    if settings.clock_now is not None:
        fixed: datetime = settings.clock_now
        return (fixed if fixed.tzinfo else fixed.replace(tzinfo=UTC)).astimezone(UTC)
    return utcnow() + timedelta(seconds=settings.clock_offset_s)
