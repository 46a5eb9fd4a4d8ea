"""What follows a carried-out outbox action, in the same transaction that marks it done.

Keyed by action name, so every provider with the same action (every CRM's
``create_referral_deal``) gets the same follow-up: the records learn the provider's ids, the
written values become echo fingerprints, a sent email's notification becomes ``sent``. The table
of follow-ups is the domain's (``hub.program.handlers.outbox_follow_ups``), handed down by the
runtime; the pipeline offers the echo step (``remember_writes``) for it to use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from hub.pipeline import echo
from hub.pipeline.models import OutboxItem

#: one follow-up: (session, the item with its ``result`` set) -> None
FollowUp = Callable[[Session, OutboxItem], None]


def remember_writes(session: Session, item: OutboxItem) -> None:
    """Every write action reports ``written`` ({object type: {id: {field: value}}}) and
    ``created`` ({object type: [ids]}): they become echo fingerprints."""
    result = item.result or {}
    echo.remember_writes(session, item.connector, result.get("written") or {}, created=result.get("created") or {})


def on_done(session: Session, item: OutboxItem, follow_ups: Mapping[str, FollowUp]) -> None:
    follow_up = follow_ups.get(item.action)
    if follow_up is not None:
        follow_up(session, item)
