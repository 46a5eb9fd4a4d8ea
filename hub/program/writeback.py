"""Partner data written back to the CRM's deals, and the owner rule applied per field.

What sales reps see of the partner program lives in hub records: the partner a deal is
attributed to, its tracking id, how it was attributed, its commission and the commission's
state. The CRM's deal mapping file (``mappings/<crm>/deals.yaml``) says which of these the CRM
receives: every field it writes (``direction: outbound``, or ``both``) that the hub has a value of
(``hub_values``) is synced; the others are left alone.

**The owner rule.** For each synced field the hub keeps a sync base (``SyncBase``): the last value
both sides agreed on, and the hub's own value when it last synced. When the deal is processed:

- both sides hold the same value: they agree, the base moves there;
- only the hub's value changed since the base: it is written to the CRM;
- only the CRM's value changed (a field the file reads, ``both``): the CRM's value is taken
  (the base moves to it; attribution itself stays sticky);
- both changed: the field's ``owner`` wins. ``owner: hub`` (and every ``outbound`` field): the
  hub's value is written back over the rep's edit; ``owner: provider``: the CRM's value stands.
  Either way the losing value is recorded in the record's field history (``FieldHistory``).

Writes are owed as record writes (``hub.pipeline.outbox.owe_record_write``): batched with other
writes to the same CRM object, echo-suppressed by the fingerprints their results leave. The base
takes a written value when the write succeeds (``written``, the write's follow-up).

Deals are synced when the engine processes them (``hub.program.handlers``) and when their
commissions move without an event: approved after the holding period, put in a payout, paid
(``sync_deals``, from ``hub.program.payouts``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.mapping import Plan
from hub.pipeline.models import OutboxItem
from hub.pipeline.outbox import owe_record_write
from hub.pipeline.store import utcnow
from hub.program.context import ProgramContext
from hub.program.models import Deal, FieldHistory, LedgerEntry, Partner, Referral, SyncBase
from hub.program.states import LedgerStatus

TARGET = "deal"
#: the deal fields the hub has values of (what a deal mapping may write back)
HUB_FIELDS = (
    "partner_id",
    "partner_name",
    "tracking_id",
    "attribution",
    "commission_amount",
    "commission_currency",
    "commission_state",
)
#: the field a money field's outbound transform reads its currency from
_CURRENCY_OF = {"commission_amount": "commission_currency"}


def hub_values(session: Session, deal: Deal) -> dict[str, Any]:
    """The hub's values of ``HUB_FIELDS`` for this deal (a field the hub has no value of is left
    out: a deal with no partner has no partner or commission fields)."""
    values: dict[str, Any] = {}
    if deal.referral_id is not None:
        referral = session.get(Referral, deal.referral_id)
        # the tracking id is unique in the CRM: it belongs to the referral's own deal only
        if referral is not None and referral.crm == deal.source and referral.crm_deal_id == deal.external_id:
            values["tracking_id"] = referral.tracking_id
    if deal.partner_id is None:
        return values
    partner = session.get(Partner, deal.partner_id)
    if partner is not None:
        values["partner_id"] = str(partner.id)
        values["partner_name"] = partner.name
    if deal.attribution_source:
        values["attribution"] = deal.attribution_source
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.deal_id == deal.id, LedgerEntry.kind.in_(("commission", "reversal")))
        .order_by(LedgerEntry.id)
    ).all()
    commissions = [e for e in entries if e.kind == "commission"]
    if commissions:
        currency = commissions[0].currency
        values["commission_currency"] = currency
        values["commission_amount"] = sum(
            e.amount_minor for e in entries if e.currency == currency and e.status != LedgerStatus.CANCELLED
        )
        values["commission_state"] = str(commissions[-1].status)
    return values


def sync_deal(session: Session, ctx: ProgramContext, deal: Deal, *, inbox_event_id: int | None = None) -> list[str]:
    """Apply the owner rule to the deal's synced fields and owe the CRM write it calls for, in
    the caller's transaction. Returns what happened (``wrote:<fields>``, ``kept:<fields>``) for
    the event's outcome."""
    if deal.deleted:
        return []
    ours = hub_values(session, deal)
    if not ours:
        return []
    plan = ctx.mappings.current.for_target(deal.source, TARGET)
    if plan is None or "external_id" not in plan.fields:
        return []
    synced = {
        name: info
        for name, info in plan.fields.items()
        if name in ours and info.direction in ("outbound", "both") and name != "external_id"
    }
    if not synced:
        return []
    bases = {
        b.field: b
        for b in session.scalars(
            select(SyncBase).where(
                SyncBase.source == deal.source,
                SyncBase.target == TARGET,
                SyncBase.record_key == deal.external_id,
                SyncBase.field.in_(list(synced)),
            )
        )
    }
    theirs = dict(deal.properties or {})
    now = utcnow()
    to_write: dict[str, Any] = {}
    kept: list[str] = []
    for name, info in synced.items():
        base = bases.get(name)
        if base is None:
            base = SyncBase(
                source=deal.source,
                target=TARGET,
                record_key=deal.external_id,
                field=name,
                value=None,
                hub_value=None,
                updated_at=now,
            )
            session.add(base)
        hub_value = ours[name]
        reads = info.direction == "both"
        crm_value = theirs.get(name) if reads else base.value
        if _same(hub_value, crm_value):  # the two sides agree
            if not (_same(base.value, hub_value) and _same(base.hub_value, hub_value)):
                base.value, base.hub_value, base.updated_at = hub_value, hub_value, now
            continue
        hub_changed = not _same(hub_value, base.hub_value)
        crm_changed = reads and not _same(crm_value, base.value)
        if hub_changed and crm_changed:
            winner = info.owner if reads else "hub"
            if winner == "provider":
                _lost(session, deal, name, lost=hub_value, side="hub", won=crm_value, now=now)
                base.value, base.hub_value, base.updated_at = crm_value, hub_value, now
                kept.append(name)
                continue
            _lost(session, deal, name, lost=crm_value, side="provider", won=hub_value, now=now)
            to_write[name] = hub_value
        elif hub_changed:
            to_write[name] = hub_value
        elif crm_changed:  # only the rep changed it: the CRM's value is taken
            base.value, base.updated_at = crm_value, now
            continue
        else:
            continue
        base.hub_value, base.updated_at = hub_value, now
    if to_write:
        _owe_write(session, deal, plan, to_write, ours, inbox_event_id=inbox_event_id)
    happened = []
    if to_write:
        happened.append("wrote:" + ",".join(sorted(to_write)))
    if kept:
        happened.append("kept:" + ",".join(sorted(kept)))
    return happened


def sync_deals(session: Session, ctx: ProgramContext, deal_ids: Iterable[int | None]) -> int:
    """``sync_deal`` for deals whose hub values changed outside an inbox event (their commissions
    approved, put in a payout, paid). Returns how many owe a write."""
    ids = sorted({i for i in deal_ids if i is not None})
    owing = 0
    for start in range(0, len(ids), 500):
        for deal in session.scalars(select(Deal).where(Deal.id.in_(ids[start : start + 500])).order_by(Deal.id)):
            if any(h.startswith("wrote:") for h in sync_deal(session, ctx, deal)):
                owing += 1
    return owing


def written(session: Session, item: OutboxItem) -> None:
    """A record write succeeded: the values it carried are the sync base of their fields."""
    sync = (item.payload or {}).get("sync")
    if not isinstance(sync, Mapping) or (item.result or {}).get("id") is None:
        return
    target, key, fields = sync.get("target"), sync.get("record_key"), sync.get("fields")
    if not isinstance(target, str) or not isinstance(key, str) or not isinstance(fields, Mapping):
        return
    bases = {
        b.field: b
        for b in session.scalars(
            select(SyncBase).where(
                SyncBase.source == item.connector,
                SyncBase.target == target,
                SyncBase.record_key == key,
                SyncBase.field.in_(list(fields)),
            )
        )
    }
    now = utcnow()
    for name, value in fields.items():
        base = bases.get(name)
        if base is None:
            session.add(
                SyncBase(
                    source=item.connector,
                    target=target,
                    record_key=key,
                    field=name,
                    value=value,
                    hub_value=value,
                    updated_at=now,
                )
            )
        elif _same(base.hub_value, value):  # not overtaken by a newer hub value meanwhile
            base.value, base.updated_at = value, now


def _owe_write(
    session: Session,
    deal: Deal,
    plan: Plan,
    to_write: dict[str, Any],
    ours: Mapping[str, Any],
    *,
    inbox_event_id: int | None,
) -> None:
    record: dict[str, Any] = {"external_id": deal.external_id, **to_write}
    for name, currency_field in _CURRENCY_OF.items():
        if name in to_write and currency_field in ours:
            record.setdefault(currency_field, ours[currency_field])
    payload = plan.outbound(record)
    key = plan.fields["external_id"].sources[0]
    # the record now holds what the CRM is about to hold (the write's echo is dropped)
    properties = dict(deal.properties or {})
    for name in to_write:
        if plan.fields[name].direction == "both":
            properties[name] = to_write[name]
    deal.properties = properties
    digest = hashlib.sha256(json.dumps(to_write, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cause = f"e{inbox_event_id}" if inbox_event_id is not None else f"t{int(utcnow().timestamp() * 1000)}"
    owe_record_write(
        session,
        natural_key=f"crm-write:{deal.source}:{TARGET}:{deal.external_id}:{cause}:{digest}"[:255],
        connector=deal.source,
        object_type=TARGET,
        key=key,
        record=payload,
        sync={"target": TARGET, "record_key": deal.external_id, "fields": to_write},
        inbox_event_id=inbox_event_id,
    )


def _lost(session: Session, deal: Deal, name: str, *, lost: Any, side: str, won: Any, now: Any) -> None:
    session.add(
        FieldHistory(
            source=deal.source,
            target=TARGET,
            record_key=deal.external_id,
            field=name,
            lost=lost,
            lost_side=side,
            won=won,
            reason=f"both sides changed {name}; the {'hub' if side == 'provider' else 'provider'} owns it",
            recorded_at=now,
        )
    )


def _same(a: Any, b: Any) -> bool:
    """Equal as synced values: text and numbers compare as text, empty is empty."""
    if a in (None, "") or b in (None, ""):
        return a in (None, "") and b in (None, "")
    return str(a) == str(b)
