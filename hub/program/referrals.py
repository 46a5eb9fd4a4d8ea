"""Referrals: capture with a tracking id, the conflict check, and the partner's view of the deal.

A submitted referral is stored with an internal inbox event in one transaction and answered at
once (202). A worker then checks it against the CRM (the hub's records of its contacts, companies
and deals first; "nothing there" is confirmed with the CRM: ``hub.program.parties``) and the other
partners' referrals; a conflict holds it for an admin, otherwise the CRM deal, the owner notice
and the partner's confirmation go out through the outbox, each once. Later, each change of the deal's stage moves the referral's
status (one email per change), and a won deal earns its commission.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connectors.capabilities import ReadsDealPartiesInBatches
from connectors.errors import ConfigurationError
from connectors.values import DealParties
from hub.mapping import Plan
from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.models import InboxEvent, WorkState
from hub.pipeline.outbox import owe
from hub.pipeline.store import utcnow
from hub.program import commissions, parties, routing
from hub.program.attribution import Attributed, attribute, find_attribution
from hub.program.email.notify import notify
from hub.program.errors import IdempotencyConflict, InvalidState, NotFound
from hub.program.models import AuditEntry, Deal, Partner, Referral
from hub.program.partners import record_activity
from hub.program.program_file import Program
from hub.program.states import ReferralStatus

if TYPE_CHECKING:
    from connectors.sendgrid import SendGridSettings
    from hub.program.context import ProgramContext

#: the connector name of events the hub raises for itself
INTERNAL = "partnerhub"
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone
STATUS_LABELS = {
    "received": "Received", "held_for_review": "Held for review", "declined": "Declined",
    "submitted": "Submitted", "contacted": "Contacted", "demo_scheduled": "Demo Scheduled",
    "proposal_sent": "Proposal Sent", "closed_won": "Closed Won", "closed_lost": "Closed Lost",
}  # fmt: skip


def new_tracking_id() -> str:
    """``R-`` + 10 characters from a 32-letter alphabet: 50 bits, short enough to read out."""
    return "R-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def _plan(mappings: Any, crm: str, target: str) -> Plan:
    """The CRM's mapping plan for a hub target; a missing one is the admin's to add."""
    plan: Plan | None = mappings.for_target(crm, target)
    if plan is None:
        raise ConfigurationError(f"no mapping file maps {crm} to the hub's {target!r} records")
    return plan


def _history(referral: Referral, status: str, reason: str | None = None) -> None:
    entry: dict[str, Any] = {"status": status, "at": utcnow().isoformat()}
    if reason:
        entry["reason"] = reason
    referral.history = [*(referral.history or []), entry]
    referral.status = cast("ReferralStatus", status)  # stored as given (StrEnum values)
    referral.status_reason = reason
    referral.updated_at = utcnow()


@dataclass(frozen=True)
class Submission:
    referral: Referral
    created: bool  # False: the same Idempotency-Key was used before
    event_id: int | None


def submit(session: Session, partner: Partner, fields: dict[str, Any], *, idempotency_key: str | None) -> Submission:
    """Store the referral and the internal event that gets it checked, in the caller's
    transaction. The caller enqueues ``event_id`` after commit (the reconciler does otherwise)."""
    if idempotency_key:
        existing = session.scalars(
            select(Referral).where(Referral.partner_id == partner.id, Referral.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            same = all(getattr(existing, k) == v for k, v in fields.items())
            if not same:
                raise IdempotencyConflict("this Idempotency-Key was used with a different referral")
            return Submission(existing, False, None)
    now = utcnow()
    referral = Referral(
        tracking_id=new_tracking_id(),
        partner_id=partner.id,
        idempotency_key=idempotency_key,
        status=ReferralStatus.RECEIVED,
        history=[],
        created_at=now,
        updated_at=now,
        **fields,
    )
    _history(referral, ReferralStatus.RECEIVED)
    session.add(referral)
    record_activity(session, partner)  # a new referral stops any re-engagement sequence
    session.flush()
    [event_id] = insert_ignoring_conflicts(
        session,
        InboxEvent,
        [
            {
                "connector": INTERNAL,
                "event_key": f"referral.submitted:{referral.id}",
                "event_type": "referral.submitted",
                "object_type": "referral",
                "object_id": str(referral.id),
                "version_ms": None,
                "payload": {"referral_id": referral.id},
                "received_at": now,
                "state": WorkState.RECEIVED,
                "attempts": 0,
                "next_attempt_at": now + timedelta(seconds=30),
            }
        ],
        ("connector", "event_key"),
    )
    return Submission(referral, True, event_id)


def _partner_context(partner: Partner, referral: Referral | None, *, company_name: str | None = None) -> dict[str, Any]:
    """What every partner email knows: who, about which company, and whom to ask."""
    return {
        "partner_name": partner.name,
        "partner_manager": partner.partner_manager,
        "company_name": referral.company_name if referral else company_name,
        "tracking_id": referral.tracking_id if referral else None,
        "contact_name": referral.contact_name if referral else None,
        "segment": partner.segment,
        "locale": partner.locale,
    }


def _conflicting_referrals(
    session: Session, program: Program, referral: Referral, domain: str | None
) -> list[Referral]:
    since = referral.created_at - timedelta(days=program.attribution.window_days)
    same = []
    if referral.contact_email:
        same.append(Referral.contact_email == referral.contact_email)
    if domain:
        same.append(Referral.company_domain == domain)
    if not same:
        return []
    return list(
        session.scalars(
            select(Referral).where(
                or_(*same),
                Referral.partner_id != referral.partner_id,
                Referral.id != referral.id,
                Referral.created_at >= since,
                Referral.status != ReferralStatus.DECLINED,
            )
        )
    )


def process_submitted(
    session: Session, hub: ProgramContext, referral_id: int, *, approved_by: str | None = None
) -> str:
    """Check a received referral and, if clear (or approved by an admin), send it to the CRM."""
    referral = session.get(Referral, referral_id, with_for_update=True)
    if referral is None:
        return "missing"
    expected = ReferralStatus.HELD_FOR_REVIEW if approved_by else ReferralStatus.RECEIVED
    if referral.status != expected:
        return "already_processed"
    partner = session.get(Partner, referral.partner_id)
    assert partner is not None
    program = hub.program
    crm = hub.crm
    domain = None if program.attribution.is_free_mail(referral.company_domain) else referral.company_domain
    if not approved_by:
        reasons = [
            f"{m.kind.replace('_', ' ')} in the CRM matching the {m.matched_on} ({m.name or m.object_id})"
            for m in parties.find_conflicts(session, crm, email=referral.contact_email, domain=domain)
        ]
        reasons += [
            f"referred by another partner on {r.created_at.date().isoformat()} ({r.tracking_id})"
            for r in _conflicting_referrals(session, program, referral, domain)
        ]
        if reasons:
            _history(referral, ReferralStatus.HELD_FOR_REVIEW, "; ".join(reasons))
            notify(
                session,
                mail_settings=hub.settings.sendgrid,
                kind="referral_held",
                to_email=partner.email,
                partner_id=partner.id,
                natural_key=f"referral-held:{referral.id}",
                context=_partner_context(partner, referral),
            )
            return "held_for_review"
    return send_to_crm(session, hub, referral, partner, approved_by=approved_by)


def send_to_crm(
    session: Session, hub: ProgramContext, referral: Referral, partner: Partner, *, approved_by: str | None = None
) -> str:
    """Owe the CRM deal of an accepted referral (``create_referral_deal``), with its owner and
    attribution, and tell the partner and the owner; a ``referral_qualified`` rule earns now.
    Deal registrations come through here too, so there is one path to a partner's CRM deal."""
    program = hub.program
    crm = hub.crm
    domain = None if program.attribution.is_free_mail(referral.company_domain) else referral.company_domain
    routed_to, facts = routing.route(session, program.owners, referral, partner, source=crm.name, domain=domain)
    owner_id = routed_to.owner_id
    mappings = hub.mappings.current
    first, _, last = (referral.contact_name or "").partition(" ")
    start = program.new_deals.start_for(crm.name)
    deal_fields = {
        "name": referral.company_name,
        "stage": start.stage,
        "pipeline": start.pipeline,
        "tracking_id": referral.tracking_id,
        "partner_id": str(partner.id),
        "source": program.new_deals.source,
        "owner_id": owner_id,
    }
    contact_fields = {
        "email": referral.contact_email,
        "first_name": first or None,
        "last_name": last or None,
        "company_name": referral.company_name,
        "company_domain": domain,
        "partner_id": str(partner.id),
        "tracking_id": referral.tracking_id,
    }
    company_fields = {"name": referral.company_name, "domain": domain, "partner_id": str(partner.id)}
    payload = {
        "tracking_id": referral.tracking_id,
        "deal": _plan(mappings, crm.name, "deal").outbound({k: v for k, v in deal_fields.items() if v is not None}),
        "contact": {
            "email": referral.contact_email,
            **_plan(mappings, crm.name, "contact").outbound({k: v for k, v in contact_fields.items() if v is not None}),
        }
        if referral.contact_email
        else None,
        "company": {
            "domain": domain,
            **_plan(mappings, crm.name, "company").outbound({k: v for k, v in company_fields.items() if v is not None}),
        }
        if domain
        else None,
        "owner_id": owner_id,
        "referral_id": referral.id,
    }
    owe(
        session,
        natural_key=f"crm:referral-deal:{referral.id}",
        connector=crm.name,
        action="create_referral_deal",
        payload=payload,
    )
    referral.crm = crm.name
    referral.owner_id = owner_id
    _history(referral, ReferralStatus.SUBMITTED, f"approved by {approved_by}" if approved_by else None)
    # why this owner, for operators reading the referral's history
    referral.history = [
        *referral.history[:-1],
        {**referral.history[-1], "owner_id": owner_id, "routing": routed_to.reason},
    ]
    notify(
        session,
        mail_settings=hub.settings.sendgrid,
        kind="referral_received",
        to_email=partner.email,
        partner_id=partner.id,
        natural_key=f"referral-received:{referral.id}",
        context=_partner_context(partner, referral),
    )
    owner_email = program.owners.email_of(owner_id)
    if owner_email:
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="owner_assigned",
            to_email=owner_email,
            natural_key=f"owner-assigned:{referral.id}",
            context={
                **_partner_context(partner, referral),
                "owner_id": owner_id,
                "routing_reason": routed_to.reason,
                "company_country": facts.country,
                "company_industry": facts.industry,
            },
        )
    from hub.program import clock

    commissions.settle_referral(session, program, referral, partner, now=clock.now(hub))
    return "submitted"


def decline(
    session: Session, referral: Referral, *, actor: str, reason: str, mail_settings: SendGridSettings | None = None
) -> None:
    """An admin's "no" to a held referral; the partner is told, with the admin's reason."""
    _history(referral, ReferralStatus.DECLINED, f"{reason} (by {actor})")
    partner = session.get(Partner, referral.partner_id)
    assert partner is not None
    notify(
        session,
        mail_settings=mail_settings,
        kind="referral_declined",
        to_email=partner.email,
        partner_id=partner.id,
        natural_key=f"referral-declined:{referral.id}",
        context={**_partner_context(partner, referral), "reason": reason},
    )


def review(
    session: Session, hub: ProgramContext, tracking_id: str, *, approve: bool, reason: str, actor: str
) -> Referral:
    """A person's decision on a held referral (the admin API, the console): approve (it goes on
    to the CRM) or decline (the partner is told the reason); audited with who decided."""
    referral = session.scalars(select(Referral).where(Referral.tracking_id == tracking_id).with_for_update()).first()
    if referral is None:
        raise NotFound("no such referral")
    if referral.status != ReferralStatus.HELD_FOR_REVIEW:
        raise InvalidState(f"the referral is {referral.status}, not held for review")
    before = {"status": referral.status}
    if approve:
        process_submitted(session, hub, referral.id, approved_by=actor)
    else:
        decline(session, referral, actor=actor, reason=reason, mail_settings=hub.settings.sendgrid)
    session.add(
        AuditEntry(
            actor=actor,
            action="referral.approve" if approve else "referral.decline",
            subject=f"referral:{tracking_id}",
            before=before,
            after={"status": referral.status, "reason": reason},
            at=utcnow(),
        )
    )
    return referral


def deal_created(session: Session, referral_id: int, result: dict[str, Any]) -> None:
    """The CRM deal exists: remember its ids (the outbox's on-done step)."""
    referral = session.get(Referral, referral_id)
    if referral is None:
        return
    referral.crm_deal_id = str(result.get("deal_id") or "") or None
    referral.crm_contact_id = str(result.get("contact_id") or "") or None
    referral.updated_at = utcnow()


#: ``read_parties_ahead``'s key in the engine's domain read-ahead
PARTIES_AHEAD = "deal_parties"


def read_parties_ahead(hub: ProgramContext, deals: Sequence[tuple[str, str, bool]]) -> dict[tuple[str, str], Any]:
    """The parties ``on_deal_changed`` will look up for a chunk of CRM deal events, read before
    the chunk's transaction (batched where the CRM can: ``ReadsDealPartiesInBatches``). ``deals``:
    (connector, deal id, whether the event is an association change). Needed for a deal the hub
    has not seen, and for an association change of a deal without a partner. Returns
    {(connector, deal id): parties, or the exception the read raised}."""
    crm = hub.crm
    if not crm.api_ready:
        return {}
    ids = {deal_id for source, deal_id, _ in deals if source == crm.name}
    if not ids:
        return {}
    with hub.sessions() as session:
        rows = session.execute(
            select(Deal.external_id, Deal.partner_id).where(Deal.source == crm.name, Deal.external_id.in_(ids))
        )
        known = {external_id: partner_id for external_id, partner_id in rows}
    assoc = {deal_id for source, deal_id, changed in deals if source == crm.name and changed}
    needed = sorted(i for i in ids if i not in known or (i in assoc and known[i] is None))
    if not needed:
        return {}
    name = crm.name
    try:
        if isinstance(crm, ReadsDealPartiesInBatches):
            found = crm.deals_parties(needed)
            return {(name, i): found.get(i, DealParties()) for i in needed}
        return {(name, i): crm.deal_parties(i) for i in needed}
    except Exception as exc:
        return dict.fromkeys(((name, i) for i in needed), exc)


def on_deal_changed(
    session: Session,
    hub: ProgramContext,
    deal: Deal,
    applied: dict[str, Any],
    *,
    look_up_parties: bool = False,
    local_parties_current: bool = True,
    parties_ahead: DealParties | Exception | None = None,
) -> list[str]:
    """After a deal record changed: attribution (sticky), the referral's status and its email,
    the commission. Returns what happened, for the event's outcome.

    ``look_up_parties``: also match referrals by the emails and domains of the deal's contacts
    and companies (done when the hub first sees a deal and when its associations change, not on
    every stage change): first from the hub's records of them (``hub.program.parties``) when
    ``local_parties_current`` (the associations the hub holds are not older than this change);
    read from the CRM (its answer kept as the deal's associations) unless those records found a
    match or answered completely. ``parties_ahead``: the CRM's answer as the engine's read-ahead
    found it before the transaction (``read_parties_ahead``; an exception: its read failed), so
    no CRM call is made inside it."""
    program = hub.program
    happened = []
    found = None
    if deal.partner_id is None:
        created = _as_datetime(applied.get("created_at") or (deal.properties or {}).get("created_at"))
        found = find_attribution(
            session,
            program.attribution,
            tracking_id=deal.tracking_id,
            partner_id=(deal.properties or {}).get("partner_id"),
            deal_created_at=created,
        )
        crm = hub.crm
        if found is None and look_up_parties and deal.source == crm.name:
            complete = False
            if local_parties_current:
                who, complete = parties.local_parties(session, deal)
                found = _match_parties(session, program, created, who)
            if found is None and not complete and crm.api_ready:
                if isinstance(parties_ahead, Exception):
                    raise parties_ahead
                who = parties_ahead if parties_ahead is not None else crm.deal_parties(deal.external_id)
                parties.record_deal_parties(
                    session, deal.source, deal.external_id, contact_ids=who.contact_ids, company_ids=who.company_ids
                )
                found = _match_parties(session, program, created, who)
        if attribute(session, deal, found):
            happened.append(f"attributed:{found.source}")  # type: ignore[union-attr]
    partner = session.get(Partner, deal.partner_id) if deal.partner_id else None
    referral = session.get(Referral, deal.referral_id) if deal.referral_id else None
    if referral is not None and deal.status and deal.status != referral.status and "status" in applied:
        # the stage the hub itself created the deal in is not news to the partner (they were told
        # "your referral is in"): recorded, not emailed
        own_start = referral.status == ReferralStatus.SUBMITTED and deal.stage == _start_stage(program, deal.source)
        _history(referral, deal.status)
        happened.append(f"status:{deal.status}")
        if partner is not None and not own_start:
            notify(
                session,
                mail_settings=hub.settings.sendgrid,
                kind="referral_status",
                to_email=partner.email,
                partner_id=partner.id,
                natural_key=f"referral-status:{referral.id}:{deal.status}:{deal.version_ms}",
                context={
                    **_partner_context(partner, referral),
                    "status": deal.status,
                    "status_label": STATUS_LABELS.get(deal.status, deal.status),
                },
            )
    from hub.program import clock

    settled = commissions.settle_deal(session, program, deal, partner, now=clock.now(hub))
    if settled.earned is not None and partner is not None:
        entry = settled.earned
        happened.append("commission")
        notify(
            session,
            mail_settings=hub.settings.sendgrid,
            kind="deal_closed",
            to_email=partner.email,
            partner_id=partner.id,
            natural_key=f"deal-closed:{entry.id}:{entry.amount_minor}:{deal.version_ms}",
            context={
                **_partner_context(partner, referral, company_name=deal.name),
                "amount_minor": entry.amount_minor,
                "currency": entry.currency,
                "expected_payment_date": entry.expected_payment_date.isoformat()
                if entry.expected_payment_date
                else None,
            },
        )
    if settled.cancelled is not None or settled.reversed is not None:
        happened.append("commission-adjusted")
    return happened


def _match_parties(session: Session, program: Program, created: Any, who: DealParties) -> Attributed | None:
    """A referral matching the deal's contacts' emails or companies' domains."""
    if not who.emails and not who.domains:
        return None
    return find_attribution(
        session,
        program.attribution,
        tracking_id=None,
        partner_id=None,
        deal_created_at=created,
        contact_emails=who.emails,
        company_domains=who.domains,
    )


def _start_stage(program: Any, crm: str) -> str | None:
    start = program.new_deals.start.get(crm)
    return start.stage if start is not None else None


def _as_datetime(value: Any):  # type: ignore[no-untyped-def]
    from datetime import datetime

    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
