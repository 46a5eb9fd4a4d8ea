"""What an edited program file would have paid: the commissions of a period recomputed as if the
file had been in force, beside what the ledger holds (``partnerhub program diff``, ``POST
/api/v1/admin/program/diff``). A hypothetical: nothing is written, and the ledger's entries keep
their rule snapshots, so editing the file never rewrites existing money.

The sources of the period are those whose first commission entry was made in it (a won deal,
a paid recurring invoice, an accepted referral), plus those that earned nothing under the file in
force but happened in it (a won deal last updated, an invoice paid, a referral accepted in the
period), since an edit can make them earn. Each is recomputed with the one computation the
engine uses (``commissions.deal_due``, ``revenue_due``, ``referral_due`` over ``rules.due``),
for the partner credited with it now, at the time it first earned, with the tier that partner had
then (``tiers.tier_at``). Caps count what the ledger holds before the period plus the
hypothetical amounts of the period's earlier sources. The current figure is the source's live
entry (cancelled: nothing), counted for the partner holding it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.program import commissions, rules, tiers
from hub.program.models import Deal, LedgerEntry, Partner, Referral, RevenueFact
from hub.program.program_file import Program
from hub.program.states import LedgerStatus, ReferralStatus


@dataclass(frozen=True)
class PartnerAsOf:
    """A partner as the rules saw it at a past time: its tier then, its region and segment now."""

    id: int
    tier: str | None
    region: str | None
    segment: str | None


@dataclass(frozen=True)
class SourceDiff:
    source: str
    at: datetime
    partner_id: int | None  # credited now (the hypothetical's partner)
    tier: str | None  # that partner's tier at ``at``
    current_partner_id: int | None
    current_minor: int
    current_currency: str | None
    current_rule: str | None
    hypothetical_minor: int
    hypothetical_currency: str | None
    hypothetical_rule: str | None

    @property
    def changed(self) -> bool:
        """Another amount, currency or partner (nothing on both sides is no change)."""
        now = (self.current_partner_id, self.current_currency, self.current_minor) if self.current_minor else None
        then = (
            (self.partner_id, self.hypothetical_currency, self.hypothetical_minor) if self.hypothetical_minor else None
        )
        return now != then


@dataclass(frozen=True)
class PartnerDiff:
    partner_id: int
    partner_name: str
    currency: str
    current_minor: int
    hypothetical_minor: int
    sources: int
    changed_sources: int

    @property
    def difference_minor(self) -> int:
        return self.hypothetical_minor - self.current_minor

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "difference_minor": self.difference_minor}


@dataclass(frozen=True)
class ProgramDiff:
    since: datetime
    until: datetime
    partners: list[PartnerDiff]
    sources: list[SourceDiff]

    def as_dict(self, *, all_sources: bool = False) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "partners": [p.as_dict() for p in self.partners],
            "sources": [
                {**asdict(s), "at": s.at.isoformat(), "changed": s.changed}
                for s in self.sources
                if all_sources or s.changed
            ],
        }


def _sources(session: Session, since: datetime, until: datetime) -> dict[str, datetime]:
    """source key -> when it (first) earned, for the sources of [since, until)."""
    first: dict[str, datetime] = {}
    for key, created in session.execute(
        select(LedgerEntry.source_key, LedgerEntry.created_at).where(
            LedgerEntry.kind == "commission", LedgerEntry.source_key.is_not(None)
        )
    ):
        if key is not None and (key not in first or created < first[key]):
            first[key] = created
    found = {key: at for key, at in first.items() if since <= at < until}
    for deal in session.scalars(
        select(Deal).where(
            Deal.status == ReferralStatus.CLOSED_WON,
            Deal.deleted.is_(False),
            Deal.partner_id.is_not(None),
            Deal.updated_at >= since,
            Deal.updated_at < until,
        )
    ):
        if f"deal:{deal.id}" not in first:
            found[f"deal:{deal.id}"] = deal.updated_at
    for fact in session.scalars(
        select(RevenueFact).where(
            RevenueFact.kind == "revenue",
            RevenueFact.recurrence == "recurring",
            RevenueFact.occurred_at >= since,
            RevenueFact.occurred_at < until,
        )
    ):
        if f"fact:{fact.id}" not in first:
            found[f"fact:{fact.id}"] = fact.occurred_at
    for referral in session.scalars(
        select(Referral).where(
            Referral.crm_deal_id.is_not(None), Referral.created_at >= since, Referral.created_at < until
        )
    ):
        if f"referral:{referral.id}" not in first:
            found[f"referral:{referral.id}"] = referral.created_at
    return found


class _Hypothetical:
    """What the period's earlier sources would have earned, for caps (``rules.Earned``)."""

    def __init__(self, session: Session, since: datetime) -> None:
        self.session, self.since = session, since
        self.made: list[tuple[int, str, str, datetime, str, int]] = []  # partner, rule, currency, at, source, minor

    def add(self, partner_id: int, due: rules.Due, at: datetime, source: str) -> None:
        self.made.append((partner_id, str(due.snapshot.get("rule_name")), due.currency, at, source, due.amount_minor))

    def earned(
        self, partner_id: int, rule_name: str, currency: str, start: datetime, end: datetime, exclude: str | None
    ) -> int:
        before = 0
        if start < self.since:
            before = rules.earned_under_rule(
                self.session, partner_id, rule_name, currency, start, min(end, self.since), exclude_source=exclude
            )
        return before + sum(
            minor
            for pid, rule, cur, at, source, minor in self.made
            if (pid, rule, cur) == (partner_id, rule_name, currency) and start <= at < end and source != exclude
        )


def _due(
    session: Session, program: Program, source: str, at: datetime, earned: rules.Earned
) -> tuple[Partner | None, PartnerAsOf | None, rules.Due | None]:
    kind, _, raw = source.partition(":")
    if not raw.isdigit():
        return None, None, None
    partner: Partner | None = None
    if kind == "deal":
        deal = session.get(Deal, int(raw))
        partner = session.get(Partner, deal.partner_id) if deal is not None and deal.partner_id else None
        if deal is None or partner is None:
            return partner, None, None
        as_of = _as_of(session, partner, at)
        return partner, as_of, commissions.deal_due(session, program, deal, as_of, at=at, earned=earned)
    if kind == "fact":
        fact = session.get(RevenueFact, int(raw))
        partner = commissions.fact_partner(session, fact) if fact is not None else None
        if fact is None or partner is None:
            return partner, None, None
        as_of = _as_of(session, partner, at)
        return partner, as_of, commissions.revenue_due(session, program, fact, as_of, at=at, earned=earned)
    if kind == "referral":
        referral = session.get(Referral, int(raw))
        partner = session.get(Partner, referral.partner_id) if referral is not None else None
        if referral is None or partner is None:
            return partner, None, None
        as_of = _as_of(session, partner, at)
        return partner, as_of, commissions.referral_due(session, program, referral, as_of, at=at, earned=earned)
    return None, None, None


def _as_of(session: Session, partner: Partner, at: datetime) -> PartnerAsOf:
    return PartnerAsOf(partner.id, tiers.tier_at(session, partner, at), partner.region, partner.segment)


def diff(session: Session, program: Program, *, since: datetime, until: datetime) -> ProgramDiff:
    """The period's commissions under ``program`` beside the ledger's (reads only)."""
    hypothetical = _Hypothetical(session, since)
    found = sorted(_sources(session, since, until).items(), key=lambda item: (item[1], item[0]))
    results: list[SourceDiff] = []
    for source, at in found:
        partner, as_of, due = _due(session, program, source, at, hypothetical.earned)
        if due is not None and partner is not None:
            hypothetical.add(partner.id, due, at, source)
        live = commissions.live_entry(session, source)
        counted = live is not None and live.status != LedgerStatus.CANCELLED
        results.append(
            SourceDiff(
                source=source,
                at=at,
                partner_id=partner.id if partner is not None else None,
                tier=as_of.tier if as_of is not None else None,
                current_partner_id=live.partner_id if counted and live is not None else None,
                current_minor=live.amount_minor if counted and live is not None else 0,
                current_currency=live.currency if counted and live is not None else None,
                current_rule=(live.rule_snapshot or {}).get("rule_name") if counted and live is not None else None,
                hypothetical_minor=due.amount_minor if due is not None else 0,
                hypothetical_currency=due.currency if due is not None else None,
                hypothetical_rule=str(due.snapshot.get("rule_name")) if due is not None else None,
            )
        )
    totals: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for s in results:
        touched: set[tuple[int, str]] = set()
        if s.current_partner_id is not None and s.current_currency is not None:
            key = (s.current_partner_id, s.current_currency)
            totals[key][0] += s.current_minor
            touched.add(key)
        if s.partner_id is not None and s.hypothetical_currency is not None:
            key = (s.partner_id, s.hypothetical_currency)
            totals[key][1] += s.hypothetical_minor
            touched.add(key)
        for key in touched:
            totals[key][2] += 1
            totals[key][3] += int(s.changed)
    names = {p.id: p.name for p in session.scalars(select(Partner).where(Partner.id.in_({k[0] for k in totals})))}
    partners = [
        PartnerDiff(pid, names.get(pid, f"#{pid}"), currency, cur, hyp, count, changed)
        for (pid, currency), (cur, hyp, count, changed) in sorted(totals.items())
    ]
    return ProgramDiff(since, until, partners, results)
