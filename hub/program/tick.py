"""The program engine's timed rules, one pass: approve commissions past their holding period,
settle transfers, the monthly payout run, re-engagement steps, the quarterly tier review, the lifecycle's daily pass (segments,
onboarding, compliance: ``hub.program.lifecycle``).

Run by the elected scheduler every ``PARTNERHUB_PROGRAM__TICK_INTERVAL_S`` and by
``partnerhub program tick [--now ISO]``. Every step is idempotent and in its own transaction;
the payout run and the tier review claim a ``program_runs`` row (unique kind + period) in the
transaction that does the work, so they happen once per period however many processes tick.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session

from hub.pipeline.unit_of_work import unit_of_work
from hub.program import clock, lifecycle, payouts, reengagement, tiers

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

log = structlog.get_logger(__name__)


def _step(hub: ProgramContext, name: str, work: Callable[[Session], Any], summary: dict[str, Any]) -> None:
    try:
        with unit_of_work(hub) as session:
            summary[name] = work(session)
    except Exception as exc:
        log.warning("program step failed", step=name, error=f"{type(exc).__name__}: {exc}")
        summary[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}


def tick(hub: ProgramContext, now: datetime | None = None) -> dict[str, Any]:
    """One pass at ``now`` (default: the program clock). Returns what each step did."""
    now = now or clock.now(hub)
    summary: dict[str, Any] = {"now": now.isoformat()}
    _step(hub, "approved", lambda s: payouts.approve_due(s, now, hub), summary)
    _step(hub, "transfers", lambda s: payouts.check_transfers(s, hub), summary)

    def payout_run(session: Session) -> Any:
        period = payouts.due_period(hub, now)
        if period is None or not payouts.claim_run(session, "payouts", period, now):
            return None
        return payouts.run(session, hub, period, now)

    _step(hub, "payout_run", payout_run, summary)
    _step(hub, "reengagement", lambda s: reengagement.run(s, hub, now), summary)

    def tier_review(session: Session) -> Any:
        if not hub.program.tiers.levels:
            return None
        quarter = tiers.previous_quarter(now)[0]
        if not payouts.claim_run(session, "tiers", quarter, now):
            return None
        return tiers.review(session, hub, now)

    _step(hub, "tier_review", tier_review, summary)
    _step(hub, "lifecycle", lambda s: lifecycle.daily(s, hub, now), summary)
    return summary
