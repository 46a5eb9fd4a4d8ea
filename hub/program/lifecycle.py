"""The lifecycle's daily pass (from ``hub.program.tick``): segments under the program file in
force, expired confirmation links, onboarding steps (facts, reminders, manager tasks) and
compliance (expiry reminders and notices), then the health score and its at-risk tasks
(``hub.program.health``, last: it reads what the other parts changed). Once per UTC day (a
``program_runs`` row, kind ``lifecycle``), every part idempotent on its own (stamps and natural
keys)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from hub.program import applications, compliance, health, onboarding, segments
from hub.program.payouts import claim_run

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

RUN_KIND = "lifecycle"


def daily(session: Session, hub: ProgramContext, now: datetime) -> dict[str, Any] | None:
    """The pass for ``now``'s day, or None when it ran that day already."""
    if not claim_run(session, RUN_KIND, now.date().isoformat(), now):
        return None
    return run(session, hub, now)


def run(session: Session, hub: ProgramContext, now: datetime) -> dict[str, Any]:
    return {
        "segments": segments.resegment(session, hub.program, now),
        "applications_expired": applications.expire(session, now),
        "onboarding": onboarding.run(session, hub, now),
        "compliance": compliance.run(session, hub, now),
        "health": health.run(session, hub, now),
    }
