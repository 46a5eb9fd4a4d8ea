"""The hub's deal records, as the CRM changes them: a mapped deal change written field by field
under the version guard (events arrive out of order; an older version never overwrites a newer
one), and a CRM merge of deals (``hub.program.merges``) settled so nothing is counted twice.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.mapping import Canonical
from hub.pipeline.store import utcnow
from hub.program import commissions
from hub.program import merges as records
from hub.program.models import Deal, Partner
from hub.program.program_file import Program


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def apply_change(
    session: Session, source: str, change: Canonical, version: int
) -> tuple[str, Deal | None, dict[str, Any], bool]:
    """(outcome, deal, the fields applied, whether the hub saw this deal for the first time)."""
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
    session.flush()
    return "applied", deal, applied, first_seen


def merge(session: Session, program: Program, source: str, from_ids: Any, into_id: str) -> None:
    """A CRM merged deals: the hub's records of the merged-away deals point to the survivor
    (``hub.program.merges.merge_deal``); a merged-away record that keeps a commission of its own
    is settled as deleted, so nothing is counted twice."""
    merged = records.merge_deal(session, source, from_ids, into_id)
    for deal in merged.retired:
        partner = session.get(Partner, deal.partner_id) if deal.partner_id else None
        commissions.settle_deal(session, program, deal, partner)
