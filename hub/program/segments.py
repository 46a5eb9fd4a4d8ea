"""Partner attributes, segments and peer comparison.

A partner's segment is the first segment rule of the program file (``segments.rules``) whose
condition it meets (``hub.program.conditions``), else its own ``segment_attribute`` (set by
hand; the free-text segment partners had before segment rules). The segment in force is stored
on ``Partner.segment``, which commission rules, owner rules and e-mail template folders read; it
is recomputed when a partner's attributes change, when a partner is created, and by the daily
pass (``resegment``), so a program-file edit (hot reload) or a new certification moves partners.

Peer comparison shows a partner's figures beside the median of its segment, only when the
segment holds at least ``MIN_PEERS`` other partners, so no one partner's figures can be inferred.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.pipeline.store import utcnow
from hub.program.conditions import PartnerFacts, facts_for, facts_for_all, unmet
from hub.program.errors import InvalidInput
from hub.program.lifecycle_file import ATTRIBUTES
from hub.program.models import AuditEntry, Deal, Partner, Referral
from hub.program.program_file import Program
from hub.program.states import ReferralStatus

#: the attributes an operator may set (``set_attributes``), besides the partner's own segment
EDITABLE = (*ATTRIBUTES, "segment_attribute")
MIN_PEERS = 5
LIMITS = {"country": 2, "company_size": 32, "partner_type": 32}


def segment_of(program: Program, facts: PartnerFacts, own: str | None) -> str | None:
    """The first matching rule's segment, else the partner's own segment attribute."""
    for rule in program.segments.rules:
        if not unmet(rule.when, facts):
            return rule.segment
    return own


def apply_segment(session: Session, program: Program, partner: Partner, now: datetime) -> bool:
    """Recompute ``partner.segment``; True when it changed."""
    segment = segment_of(program, facts_for(session, partner, now), partner.segment_attribute)
    if segment == partner.segment:
        return False
    partner.segment = segment
    return True


def resegment(session: Session, program: Program, now: datetime, batch: int = 1000) -> dict[str, int]:
    """Every active partner's segment under the program file in force (batches of ``batch``)."""
    changed = seen = 0
    last_id = 0
    while True:
        partners = list(
            session.scalars(
                select(Partner)
                .where(Partner.status == "active", Partner.id > last_id)
                .order_by(Partner.id)
                .limit(batch)
            )
        )
        if not partners:
            break
        facts = facts_for_all(session, partners, now)
        for partner in partners:
            segment = segment_of(program, facts[partner.id], partner.segment_attribute)
            if segment != partner.segment:
                partner.segment = segment
                changed += 1
        seen += len(partners)
        last_id = partners[-1].id
    return {"partners": seen, "changed": changed}


def set_attributes(
    session: Session, program: Program, partner: Partner, values: dict[str, Any], *, actor: str, now: datetime
) -> Partner:
    """Set attributes (``EDITABLE``; None clears one), audited; the segment follows."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"unknown attribute(s): {', '.join(unknown)} (known: {', '.join(EDITABLE)})")
    before = {k: getattr(partner, k) for k in (*values, "segment")}
    for name, value in values.items():
        if value is not None:
            value = str(value).strip()
            if name == "country":
                value = value.upper()
            if not value or len(value) > LIMITS.get(name, 64):
                raise InvalidInput(f"{name}: 1 to {LIMITS.get(name, 64)} characters")
        setattr(partner, name, value)
    apply_segment(session, program, partner, now)
    session.add(
        AuditEntry(
            actor=actor,
            action="partner.attributes",
            subject=f"partner:{partner.id}",
            before=before,
            after={k: getattr(partner, k) for k in (*values, "segment")},
            at=utcnow(),
        )
    )
    return partner


@dataclass(frozen=True)
class PeerComparison:
    segment: str | None
    peers: int
    #: figure -> {"you": n, "median": m}; empty when the segment is too small to compare
    figures: dict[str, dict[str, int]]
    shown: bool


def _figures(session: Session, ids: list[int]) -> dict[str, dict[int, int]]:
    referrals = dict(
        session.execute(
            select(Referral.partner_id, func.count()).where(Referral.partner_id.in_(ids)).group_by(Referral.partner_id)
        ).all()
    )
    won = dict(
        session.execute(
            select(Deal.partner_id, func.count())
            .where(Deal.partner_id.in_(ids), Deal.status == ReferralStatus.CLOSED_WON, Deal.deleted.is_(False))
            .group_by(Deal.partner_id)
        ).all()
    )
    return {"referrals": referrals, "won_deals": won}  # type: ignore[dict-item]


def peer_comparison(session: Session, partner: Partner) -> PeerComparison:
    """The partner's referrals and won deals beside its segment's medians (the low median: a
    whole number), or nothing when fewer than ``MIN_PEERS`` other active partners share it."""
    if partner.segment is None:
        return PeerComparison(None, 0, {}, False)
    ids = list(
        session.scalars(select(Partner.id).where(Partner.segment == partner.segment, Partner.status == "active"))
    )
    peers = len([i for i in ids if i != partner.id])
    if peers < MIN_PEERS:
        return PeerComparison(partner.segment, peers, {}, False)
    figures = _figures(session, ids)
    out = {
        name: {"you": by.get(partner.id, 0), "median": statistics.median_low(by.get(i, 0) for i in ids)}
        for name, by in figures.items()
    }
    return PeerComparison(partner.segment, peers, out, True)


def peers_dict(session: Session, partner: Partner) -> dict[str, Any]:
    found = peer_comparison(session, partner)
    return {
        "segment": found.segment,
        "shown": found.shown,
        "peers": found.peers if found.shown else None,
        "figures": found.figures,
        "min_peers": MIN_PEERS,
    }
