"""The hub's deal records when the CRM merges deals: the merged-away records point to the
survivor, so attribution, the referral's link and the commission ledger follow it and nothing
is counted twice. CRM-neutral: a connector says which ids were merged into which
(``merge_of``), this module moves the hub's side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.pipeline.alerts import raise_alert
from hub.pipeline.store import utcnow
from hub.program.models import Deal, LedgerEntry, Referral, RevenueFact

#: the property a merged-away deal record keeps, naming the survivor's external id
MERGED_INTO = "merged_into"


@dataclass
class Merged:
    """What ``merge_deal`` did: the survivor (``None`` when the hub knew none of the records)
    and the merged-away records still holding ledger entries of their own, which the caller
    settles as deleted (their commission is cancelled or reversed, never doubled)."""

    survivor: Deal | None
    retired: list[Deal] = field(default_factory=list)


def merge_deal(session: Session, source: str, from_ids: Sequence[str], into_id: str) -> Merged:
    """Re-point the hub's deal records of ``source`` merged away (``from_ids``) to ``into_id``.

    * The survivor unknown to the hub: the first merged-away record (an attributed one first)
      becomes it (its external id changes), keeping its attribution, referral and ledger.
    * The survivor known: each merged-away record is marked deleted and ``merged_into``; its
      attribution moves to the survivor when the survivor has none (attribution stays sticky:
      an attributed survivor keeps its partner, and a clash raises an alert); its ledger entries
      and revenue facts move with it when the survivor has no commission of its own and the
      same partner, otherwise they stay and the caller settles the retired record.
    * Referrals linked to a merged-away id link to the survivor.

    Safe to run twice: records already merged into ``into_id`` are left alone.
    """
    into_id = str(into_id)
    wanted = [str(i) for i in from_ids if str(i) != into_id]
    if not wanted:
        return Merged(survivor=_deal(session, source, into_id))
    gone = list(
        session.scalars(select(Deal).where(Deal.source == source, Deal.external_id.in_(wanted)).with_for_update())
    )
    gone = [d for d in gone if (d.properties or {}).get(MERGED_INTO) != into_id]
    gone.sort(key=lambda d: (d.partner_id is None, d.id))
    survivor = _deal(session, source, into_id)
    now = utcnow()
    if survivor is None and gone:
        survivor = gone.pop(0)
        old_id = survivor.external_id
        survivor.external_id = into_id
        survivor.deleted = False
        survivor.properties = {**(survivor.properties or {}), "merged_from": [old_id]}
        survivor.updated_at = now
        _relink_referrals(session, source, old_id, into_id)
        session.flush()
    merged = Merged(survivor=survivor)
    if survivor is None:
        return merged
    for deal in gone:
        if survivor.partner_id is None and deal.partner_id is not None:
            survivor.partner_id, survivor.referral_id = deal.partner_id, deal.referral_id
            survivor.attribution_source, survivor.attributed_at = deal.attribution_source, deal.attributed_at
        elif deal.partner_id is not None and deal.partner_id != survivor.partner_id:
            raise_alert(
                session,
                key=f"merge_attribution:{source}:{into_id}",
                kind="merge_attribution",
                message=f"{source} merged deal {deal.external_id} (partner #{deal.partner_id}) into "
                f"{into_id} (partner #{survivor.partner_id}): the survivor keeps its attribution; "
                f"check the merged deal's commission",
            )
        if deal.partner_id == survivor.partner_id and not _has_commission(session, survivor):
            session.execute(
                update(LedgerEntry)
                .where(LedgerEntry.source_key == f"deal:{deal.id}")
                .values(source_key=f"deal:{survivor.id}")
            )  # the survivor's live commission
            session.execute(update(LedgerEntry).where(LedgerEntry.deal_id == deal.id).values(deal_id=survivor.id))
            session.execute(update(RevenueFact).where(RevenueFact.deal_id == deal.id).values(deal_id=survivor.id))
        elif _has_commission(session, deal):
            merged.retired.append(deal)
        deal.deleted = True
        deal.properties = {**(deal.properties or {}), MERGED_INTO: into_id}
        deal.updated_at = now
        survivor.properties = {
            **(survivor.properties or {}),
            "merged_from": sorted({*(survivor.properties or {}).get("merged_from", []), deal.external_id}),
        }
        _relink_referrals(session, source, deal.external_id, into_id)
    survivor.updated_at = now
    session.flush()
    return merged


def _deal(session: Session, source: str, external_id: str) -> Deal | None:
    return session.scalars(
        select(Deal).where(Deal.source == source, Deal.external_id == external_id).with_for_update()
    ).first()


def _has_commission(session: Session, deal: Deal) -> bool:
    return (
        session.scalars(
            select(LedgerEntry.id).where(LedgerEntry.deal_id == deal.id, LedgerEntry.kind == "commission").limit(1)
        ).first()
        is not None
    )


def _relink_referrals(session: Session, source: str, old_id: str, new_id: str) -> None:
    session.execute(
        update(Referral)
        .where(Referral.crm == source, Referral.crm_deal_id == old_id)
        .values(crm_deal_id=new_id, updated_at=utcnow())
    )
