"""The hub's deal records, as the CRM changes them: a mapped deal change written field by field
under the version guard (events arrive out of order; an older version never overwrites a newer
one), and a CRM merge of deals (``hub.program.merges``) settled so nothing is counted twice.

A chunk of events reads its deals set-based before its events run (``preload``: one
``SELECT ... FOR UPDATE`` ordered by id, so two workers lock deals in the same order); each
event's ``apply_change`` takes its deal from that read, or selects it as before when the read did
not cover it or what it holds went stale (a savepoint that created it was rolled back, a merge
renamed it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, inspect, or_, select
from sqlalchemy.orm import Session

from hub.mapping import Canonical
from hub.pipeline.engine import READ_AHEAD
from hub.pipeline.store import utcnow
from hub.program import commissions
from hub.program import merges as records
from hub.program.models import Deal, Partner
from hub.program.program_file import Program


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


#: ``session.info[READ_AHEAD]`` key: the chunk's deals, (source, external id) -> the deal, or
#: None when the hub had no record of it (``preload``)
DEALS_AHEAD = "deals"
_MISSING = object()


def preload(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Deal | None]:
    """The deals of these (source, external id) keys in one statement, locked (PostgreSQL) in id
    order; a key the hub has no deal for maps to None."""
    wanted: dict[str, set[str]] = {}
    for source, external_id in keys:
        wanted.setdefault(source, set()).add(external_id)
    found: dict[tuple[str, str], Deal | None] = {
        (source, external_id): None for source, ids in wanted.items() for external_id in ids
    }
    if not found:
        return found
    where = or_(*(and_(Deal.source == source, Deal.external_id.in_(sorted(ids))) for source, ids in wanted.items()))
    for deal in session.scalars(select(Deal).where(where).order_by(Deal.id).with_for_update()):
        found[(deal.source, deal.external_id)] = deal
    return found


def _preloaded(session: Session, source: str, key: str) -> Any:
    """The chunk's read of this deal (a ``Deal``, or None: the hub has none), or ``_MISSING``
    when the read did not cover it or what it holds is no longer true."""
    ahead = session.info.get(READ_AHEAD, {}).get(DEALS_AHEAD)
    if ahead is None or (source, key) not in ahead:
        return _MISSING
    deal = ahead[(source, key)]
    if deal is None:
        return None
    state = inspect(deal)
    if state.transient or state.detached:  # created in a savepoint that was rolled back
        return _MISSING
    if (deal.source, deal.external_id) != (source, key):  # renamed (a merge); refreshed if expired
        return _MISSING
    return deal


def forget_preloaded(session: Session) -> None:
    """Records were re-pointed (a merge): the chunk's read of its deals (and of which have
    ledger entries) no longer holds."""
    ahead = session.info.get(READ_AHEAD, {})
    ahead.pop(DEALS_AHEAD, None)
    ahead.pop(commissions.UNSETTLED_AHEAD, None)  # ledger entries may move with a merged record


def apply_change(
    session: Session, source: str, change: Canonical, version: int
) -> tuple[str, Deal | None, dict[str, Any], bool]:
    """(outcome, deal, the fields applied, whether the hub saw this deal for the first time)."""
    deal = _preloaded(session, source, change.key)
    if deal is _MISSING:
        deal = session.scalars(
            select(Deal).where(Deal.source == source, Deal.external_id == change.key).with_for_update()
        ).first()
    now = utcnow()
    first_seen = deal is None
    if deal is None:
        deal = Deal(
            source=source,
            external_id=change.key,
            properties={},
            property_versions={},
            version_ms=0,
            deleted=False,
            created_at=now,
            updated_at=now,
        )
        session.add(deal)
        ahead = session.info.get(READ_AHEAD, {})
        if DEALS_AHEAD in ahead:
            ahead[DEALS_AHEAD][(source, change.key)] = deal
    fields = dict(deal.properties or {})
    versions = dict(deal.property_versions or {})
    applied = {}
    for name, value in change.fields.items():
        if version > versions.get(name, -1):
            applied[name] = value
            fields[name] = json.loads(json.dumps(value, default=_jsonable))
            versions[name] = version
    if not applied and change.fields:
        return "stale", deal, {}, first_seen
    deal.properties = fields
    deal.property_versions = versions
    deal.version_ms = max(deal.version_ms, version)
    deal.updated_at = now
    for column, name in (
        ("name", "name"),
        ("stage", "stage"),
        ("pipeline", "pipeline"),
        ("amount_minor", "amount"),
        ("currency", "currency"),
        ("status", "status"),
        ("tracking_id", "tracking_id"),
    ):
        if name in applied:
            setattr(deal, column, applied[name])
    if "deleted" in applied:
        deal.deleted = bool(applied["deleted"])
        if deal.deleted:
            return "deleted", deal, applied, first_seen
    if not first_seen:  # written with the chunk's other changes at its next flush
        return "applied", deal, applied, first_seen
    session.flush()  # its id; a new deal has no ledger entries yet (``commissions.settle_deal``)
    unsettled = session.info.get(READ_AHEAD, {}).get(commissions.UNSETTLED_AHEAD)
    if unsettled is not None:
        unsettled.add(deal.id)
    return "applied", deal, applied, first_seen


def merge(session: Session, program: Program, source: str, from_ids: Any, into_id: str) -> None:
    """A CRM merged deals: the hub's records of the merged-away deals point to the survivor
    (``hub.program.merges.merge_deal``); a merged-away record that keeps a commission of its own
    is settled as deleted, so nothing is counted twice."""
    forget_preloaded(session)
    merged = records.merge_deal(session, source, from_ids, into_id)
    for deal in merged.retired:
        partner = session.get(Partner, deal.partner_id) if deal.partner_id else None
        commissions.settle_deal(session, program, deal, partner)
