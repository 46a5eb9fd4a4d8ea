"""The partners as an operator browses them: a filtered, paginated list (search by name or
e-mail; tier, segment, region, activity) and one partner's detail (referrals, ledger balance and
entries, payouts with their lines, e-mails and their status, the people who sign in with the
status of their newest sign-in mail, audit trail) and lifecycle (attributes, onboarding,
certifications and agreements, gated benefits, the peer comparison).

Set-based: a page of the list is one query for the partners plus one grouped query for their
referral counts; the detail is a fixed number of queries whatever the partner holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from hub.program import conditions, health, onboarding, segments
from hub.program.access import newest_signin_mails
from hub.program.errors import NotFound
from hub.program.models import AuditEntry, LedgerEntry, Notification, Partner, PartnerUser, Payout, Referral
from hub.program.segments import PeerComparison

if TYPE_CHECKING:
    from hub.program.context import ProgramContext

PAGE = 50
RECENT = 50
#: the lines shown per payout on a page of payouts
LINES = 10
ACTIVE_DAYS = 90
Activity = Literal["", "active", "quiet", "flagged", "inactive"]
ACTIVITIES: tuple[str, ...] = ("active", "quiet", "flagged", "inactive")


@dataclass(frozen=True)
class PartnerFilter:
    search: str = ""
    tier: str = ""
    segment: str = ""
    region: str = ""
    activity: str = ""


def facets(session: Session) -> dict[str, list[str]]:
    """The tiers, segments and regions in use (the list's filter choices)."""
    out: dict[str, list[str]] = {}
    for name, column in (("tier", Partner.tier), ("segment", Partner.segment), ("region", Partner.region)):
        out[name] = [
            v for v in session.scalars(select(column).where(column.is_not(None)).distinct().order_by(column)) if v
        ]
    return out


def list_partners(
    session: Session, f: PartnerFilter, *, now: datetime, page: int = 1, per_page: int = PAGE
) -> tuple[list[dict[str, Any]], bool]:
    """One page of partners (by name) matching ``f`` with their referral counts, and whether
    there is a next page."""
    query = select(Partner)
    if f.search:
        like = f"%{f.search.lower()}%"
        query = query.where(or_(func.lower(Partner.name).like(like), func.lower(Partner.email).like(like)))
    for column, value in ((Partner.tier, f.tier), (Partner.segment, f.segment), (Partner.region, f.region)):
        if value:
            query = query.where(column == value)
    quiet_since = now - timedelta(days=ACTIVE_DAYS)
    if f.activity == "active":
        query = query.where(Partner.status == "active", Partner.last_activity_at >= quiet_since)
    elif f.activity == "quiet":
        query = query.where(
            Partner.status == "active",
            or_(Partner.last_activity_at.is_(None), Partner.last_activity_at < quiet_since),
        )
    elif f.activity == "flagged":
        query = query.where(Partner.flag_reason.is_not(None))
    elif f.activity == "inactive":
        query = query.where(Partner.status != "active")
    found = list(
        session.scalars(
            query.order_by(Partner.name, Partner.id).offset(max(page - 1, 0) * per_page).limit(per_page + 1)
        )
    )
    shown = found[:per_page]
    counts: dict[int, int] = {}
    if shown:
        counts = {
            pid: int(n)
            for pid, n in session.execute(
                select(Referral.partner_id, func.count())
                .where(Referral.partner_id.in_([p.id for p in shown]))
                .group_by(Referral.partner_id)
            )
        }
    return [{"partner": p, "referrals": counts.get(p.id, 0)} for p in shown], len(found) > per_page


@dataclass(frozen=True)
class PayoutLines:
    """Some of a payout's lines (its ledger entries: held ones first, then by id) and how many
    it has. Each line has ``id``, ``kind``, ``amount_minor``, ``currency``, ``hold_reason`` and
    ``hold_released_at``."""

    shown: list[Any]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


@dataclass
class PartnerDetail:
    partner: Partner
    referral_count: int
    referrals: list[Referral]
    #: currency -> ledger status -> sum of minor units
    balances: dict[str, dict[str, int]]
    entries: list[LedgerEntry]
    payouts: list[Payout]
    #: payout id -> its lines (the first few, and how many)
    lines: dict[int, PayoutLines] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    #: the addresses that sign in for the partner (its users, and its own address before its first
    #: sign-in): ``email``, ``name``, ``last_signed_in_at`` and ``mail``, the newest sign-in mail
    #: to the address (None: none yet), so an operator sees one that bounced or was suppressed
    signins: list[dict[str, Any]] = field(default_factory=list)


def payout_lines(session: Session, payout_ids: list[int], *, limit: int = LINES) -> dict[int, PayoutLines]:
    """The first ``limit`` lines of each payout and its line count: one query for all of them
    (a window over the payouts' entries), so a page of payouts costs the same whatever they hold."""
    if not payout_ids:
        return {}
    unreleased = and_(LedgerEntry.hold_reason.is_not(None), LedgerEntry.hold_released_at.is_(None))
    ranked = (
        select(
            LedgerEntry.payout_id,
            LedgerEntry.id,
            LedgerEntry.kind,
            LedgerEntry.amount_minor,
            LedgerEntry.currency,
            LedgerEntry.hold_reason,
            LedgerEntry.hold_released_at,
            func.row_number()
            .over(partition_by=LedgerEntry.payout_id, order_by=(case((unreleased, 0), else_=1), LedgerEntry.id))
            .label("n"),
            func.count().over(partition_by=LedgerEntry.payout_id).label("total"),
        )
        .where(LedgerEntry.payout_id.in_(payout_ids))
        .subquery()
    )
    shown: dict[int, list[Any]] = {pid: [] for pid in payout_ids}
    totals: dict[int, int] = {}
    for row in session.execute(select(ranked).where(ranked.c.n <= limit).order_by(ranked.c.payout_id, ranked.c.n)):
        shown[row.payout_id].append(row)
        totals[row.payout_id] = int(row.total)
    return {pid: PayoutLines(shown[pid], totals.get(pid, 0)) for pid in payout_ids}


def partner_detail(session: Session, partner_id: int, *, recent: int = RECENT) -> PartnerDetail:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("no such partner")
    referral_count = session.scalar(select(func.count()).select_from(Referral).where(Referral.partner_id == partner_id))
    referrals = list(
        session.scalars(
            select(Referral).where(Referral.partner_id == partner_id).order_by(Referral.id.desc()).limit(recent)
        )
    )
    balances: dict[str, dict[str, int]] = {}
    for currency, status, amount in session.execute(
        select(LedgerEntry.currency, LedgerEntry.status, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.partner_id == partner_id)
        .group_by(LedgerEntry.currency, LedgerEntry.status)
    ):
        balances.setdefault(currency, {})[str(status)] = int(amount)
    entries = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.partner_id == partner_id)
            .order_by(LedgerEntry.id.desc())
            .limit(recent)
        )
    )
    payouts = list(
        session.scalars(select(Payout).where(Payout.partner_id == partner_id).order_by(Payout.id.desc()).limit(recent))
    )
    notifications = list(
        session.scalars(
            select(Notification)
            .where(Notification.partner_id == partner_id)
            .order_by(Notification.id.desc())
            .limit(recent)
        )
    )
    subjects = [f"partner:{partner_id}"]
    subjects += [f"referral:{r.tracking_id}" for r in referrals]
    subjects += [f"payout:{p.id}" for p in payouts]
    subjects += [f"ledger:{e.id}" for e in entries]
    audit = list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.subject.in_(subjects)).order_by(AuditEntry.id.desc()).limit(recent)
        )
    )
    users = list(
        session.scalars(
            select(PartnerUser)
            .where(PartnerUser.partner_id == partner_id, PartnerUser.active.is_(True))
            .order_by(PartnerUser.id)
            .limit(recent)
        )
    )
    people: list[dict[str, Any]] = [
        {"email": u.email, "name": u.name, "last_signed_in_at": u.last_signed_in_at} for u in users
    ]
    own = partner.email.strip().lower()
    if own not in {u.email for u in users}:
        people.insert(0, {"email": own, "name": None, "last_signed_in_at": None})
    newest = newest_signin_mails(session, [p["email"] for p in people], scan=recent * 4)
    return PartnerDetail(
        partner=partner,
        referral_count=int(referral_count or 0),
        referrals=referrals,
        balances=balances,
        entries=entries,
        payouts=payouts,
        lines=payout_lines(session, [p.id for p in payouts]),
        notifications=notifications,
        audit=audit,
        signins=[{**p, "mail": newest.get(p["email"])} for p in people],
    )


@dataclass
class PartnerLifecycle:
    """A partner's lifecycle as the console's partner page shows it."""

    #: the editable attributes (``segments.EDITABLE``) -> value
    attributes: dict[str, str | None]
    #: ``onboarding.checklist``: steps, due dates, who completed them, the agreement in force
    onboarding: dict[str, Any]
    #: certifications and agreements, each with ``valid`` (not expired at the moment asked)
    credentials: list[dict[str, Any]]
    #: each gated benefit -> what the partner lacks for it (empty: open)
    benefits: dict[str, list[str]]
    #: the portal's peer comparison (``shown`` only with enough other partners in the segment)
    peers: PeerComparison
    #: ``health.latest``: the newest health score, its parts, recent history, the at-risk task (operators only)
    health: dict[str, Any]


def partner_lifecycle(session: Session, hub: ProgramContext, partner: Partner, now: datetime) -> PartnerLifecycle:
    """A fixed number of queries, whatever the partner holds."""
    return PartnerLifecycle(
        attributes={name: getattr(partner, name) for name in segments.EDITABLE},
        onboarding=onboarding.checklist(session, hub, partner, now),
        credentials=[
            {
                "kind": c.kind,
                "name": c.name,
                "version": c.version,
                "granted_at": c.granted_at,
                "expires_at": c.expires_at,
                "accepted_by": c.accepted_by,
                "source": c.source,
                "valid": c.expires_at is None or c.expires_at > now,
            }
            for c in onboarding.credentials(session, partner.id)
        ],
        benefits=conditions.benefits(hub.program, conditions.facts_for(session, partner, now)),
        peers=segments.peer_comparison(session, partner),
        health=health.latest(session, partner.id),
    )
