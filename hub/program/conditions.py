"""One evaluator for the program file's conditions (``lifecycle_file.Condition``): partner
attributes, tier, segment, valid certifications, the signed agreement's version, the number of
won deals and onboarding complete.

``facts_for`` (one partner) and ``facts_for_all`` (many, a fixed number of queries) read what a
condition can ask about at a moment; ``unmet`` lists, in words a partner can read, each part of
a condition the facts do not meet (empty: met). Deal registration, commission rules, portal
features and segment rules all go through here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.program.errors import ConditionUnmet
from hub.program.lifecycle_file import ATTRIBUTES, Condition
from hub.program.models import Credential, Deal, Partner
from hub.program.states import ReferralStatus

if TYPE_CHECKING:
    from hub.program.program_file import Program


@dataclass(frozen=True)
class PartnerFacts:
    """What a condition can ask about one partner at one moment."""

    partner_id: int
    attributes: Mapping[str, str | None]
    tier: str | None
    segment: str | None
    certifications: frozenset[str] = frozenset()
    agreement_versions: frozenset[str] = frozenset()
    closed_won: int = 0
    onboarding_complete: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)


def attributes_of(partner: Partner) -> dict[str, str | None]:
    return {name: getattr(partner, name) for name in ATTRIBUTES}


def _valid(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or expires_at > now


def facts_for_all(session: Session, partners: Iterable[Partner], now: datetime) -> dict[int, PartnerFacts]:
    """Facts for many partners in three queries (credentials, won deals, the partners given)."""
    rows = list(partners)
    ids = [p.id for p in rows]
    certs: dict[int, set[str]] = defaultdict(set)
    agreements: dict[int, set[str]] = defaultdict(set)
    won: dict[int, int] = {}
    if ids:
        for chunk in _chunks(ids):
            for cred in session.scalars(
                select(Credential).where(
                    Credential.partner_id.in_(chunk),
                    or_(Credential.expires_at.is_(None), Credential.expires_at > now),
                )
            ):
                if cred.kind == "agreement":
                    agreements[cred.partner_id].add(cred.version or "")
                else:
                    certs[cred.partner_id].add(cred.name)
            for pid, count in session.execute(
                select(Deal.partner_id, func.count())
                .where(Deal.partner_id.in_(chunk), Deal.status == ReferralStatus.CLOSED_WON, Deal.deleted.is_(False))
                .group_by(Deal.partner_id)
            ):
                if pid is not None:
                    won[pid] = int(count)
    return {
        p.id: PartnerFacts(
            partner_id=p.id,
            attributes=attributes_of(p),
            tier=p.tier,
            segment=p.segment,
            certifications=frozenset(certs.get(p.id, ())),
            agreement_versions=frozenset(agreements.get(p.id, ())),
            closed_won=won.get(p.id, 0),
            onboarding_complete=p.onboarded_at is not None,
        )
        for p in rows
    }


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def facts_for(session: Session, partner: Partner, now: datetime) -> PartnerFacts:
    return facts_for_all(session, [partner], now)[partner.id]


def unmet(condition: Condition | None, facts: PartnerFacts) -> list[str]:
    """Each part of ``condition`` that ``facts`` do not meet, in words; empty when met."""
    if condition is None:
        return []
    missing: list[str] = []
    for name in ATTRIBUTES:
        wanted: list[str] | None = getattr(condition, name)
        if wanted is not None and facts.attributes.get(name) not in wanted:
            missing.append(f"{name.replace('_', ' ')} must be one of {', '.join(wanted)}")
    if condition.tier is not None and facts.tier not in condition.tier:
        missing.append(f"tier must be one of {', '.join(condition.tier)}")
    if condition.segment is not None and facts.segment not in condition.segment:
        missing.append(f"segment must be one of {', '.join(condition.segment)}")
    for cert in condition.certifications or ():
        if cert not in facts.certifications:
            missing.append(f"a valid {cert} certification is required")
    if condition.agreement_version is not None and condition.agreement_version not in facts.agreement_versions:
        missing.append(f"the partner agreement version {condition.agreement_version} must be accepted")
    if condition.closed_won_min is not None and facts.closed_won < condition.closed_won_min:
        missing.append(f"at least {condition.closed_won_min} won deals are required (has {facts.closed_won})")
    if condition.onboarding_complete is not None and facts.onboarding_complete != condition.onboarding_complete:
        missing.append("onboarding must be complete" if condition.onboarding_complete else "onboarding must be open")
    return missing


def benefits(program: Program, facts: PartnerFacts) -> dict[str, list[str]]:
    """Each gated benefit (deal registration, MDF requests when the program has them open, then
    the portal features by name) and what the partner lacks for it (empty: open), as the portal,
    the console and the API show it."""
    gated = {"deal_registration": program.registrations.requires}
    if program.mdf.enabled:
        gated["mdf"] = program.mdf.requires
    gated.update({name: feature.requires for name, feature in program.portal.features.items()})
    return {name: unmet(condition, facts) for name, condition in gated.items()}


def require(session: Session, partner: Partner, condition: Condition | None, now: datetime, what: str) -> None:
    """Refuse (``ConditionUnmet``, naming each unmet part) unless ``partner`` meets ``condition``."""
    if condition is None or condition.is_empty():
        return
    missing = unmet(condition, facts_for(session, partner, now))
    if missing:
        raise ConditionUnmet(f"{what} requires: " + "; ".join(missing))
