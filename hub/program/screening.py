"""Screening at the door: deliveries the hub accepts only from people it knows.

An ``inbound_email`` record (a forwarded introduction, a reply) may only come from a partner:
the webhook receiver asks ``screen`` before storing, so e-mail from anyone else is answered 2xx
(the provider would otherwise retry it for days), logged with a digest of the sender and counted
as discarded, and never stored — it creates no data at all. Which deliveries are screened
follows from the mapping files (the target a connector object maps to), so this stays
provider-neutral. The worker checks again when it applies the record (a partner may have been
deactivated in between).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.values import Change, Discarded
from hub.mapping import source_record_from_event
from hub.program.models import Partner

if TYPE_CHECKING:
    from hub.program.context import ProgramContext


def digest(value: str) -> str:
    """What logs may say about an address: a short digest of it, lower-cased."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:12]


def partner_by_email(session: Session, address: str | None) -> Partner | None:
    """The active partner with this e-mail address (case-insensitive), if any."""
    if not address:
        return None
    return session.scalars(
        select(Partner).where(func.lower(Partner.email) == address.strip().lower(), Partner.status == "active")
    ).first()


def _known_sender(session: Session, fields: dict[str, Any]) -> str | None:
    """``None`` when the sender is an active partner, else the reason to discard."""
    return None if partner_by_email(session, fields.get("sender")) is not None else "unknown_sender"


#: hub record -> the check a delivery of it must pass before it is stored
SCREENS: dict[str, Callable[[Session, dict[str, Any]], str | None]] = {
    "inbound_email": _known_sender,
}


def _plans(hub: ProgramContext, connector: str, object_types: Iterable[str]) -> dict[str, Any]:
    mappings = getattr(hub, "mappings", None)
    if mappings is None:
        return {}
    found = {}
    for object_type in set(object_types):
        plan = mappings.current.for_source(connector, object_type)
        if plan is not None and plan.target in SCREENS:
            found[object_type] = plan
    return found


def needs_screening(hub: ProgramContext, connector: str, changes: Iterable[Change]) -> bool:
    return bool(_plans(hub, connector, (c.object_type for c in changes)))


def screen(
    hub: ProgramContext, connector: str, changes: tuple[Change, ...]
) -> tuple[tuple[Change, ...], list[Discarded]]:
    """(the changes to store, the ones discarded with their reason and a digest of the sender)."""
    plans = _plans(hub, connector, (c.object_type for c in changes))
    kept: list[Change] = []
    discarded: list[Discarded] = []
    with hub.sessions() as session:
        for change in changes:
            plan = plans.get(change.object_type)
            if plan is None:
                kept.append(change)
                continue
            try:
                canonical = plan.inbound(source_record_from_event(connector, change.payload))
            except Exception:
                discarded.append(Discarded("unmappable", ""))
                continue
            fields = dict(canonical.fields) if canonical is not None else {}
            reason = SCREENS[plan.target](session, fields) if canonical is not None else "filtered"
            if reason is None:
                kept.append(change)
            else:
                discarded.append(Discarded(reason, digest(str(fields.get("sender") or ""))))
    return tuple(kept), discarded
