"""MDF requests and claims, each decided by a person whatever the amount.

* ``submit_request``: a partner meeting ``mdf.requires`` (``hub.program.conditions``; refused
  with each unmet part named) asks for an amount in a currency its tier has a budget in; the
  amount is taken from the period's budget at once (``hub.program.mdf.budget``: a conditional
  UPDATE, so parallel requests never pass it) and the request waits (``pending``) in the review
  queue ``mdf_requests``.
* ``decide_request``: a person approves, or rejects with a reason (the amount goes back to the
  budget); audited.
* ``submit_claim``: against an approved request, with proof of performance
  (``hub.program.mdf.proofs``); the claim's amount is taken from what the request has left with
  one conditional UPDATE (``claimed + amount <= amount``), so parallel claims never pass the
  approved request. It waits (``pending``) in the queue ``mdf_claims``.
* ``decide_claim``: a person approves (an approved ``mdf`` ledger entry, natural key
  ``mdf:claim:<id>``: the next payout run pays it, reviewed like any payout, once) or rejects
  with a reason (the amount returns to the request); audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.sendgrid import SendGridSettings
from hub.mapping.money import MoneyError, exponent, from_minor_units, parse_amount
from hub.pipeline.store import utcnow
from hub.program import conditions
from hub.program.email.formatting import format_money
from hub.program.email.notify import notify
from hub.program.errors import IdempotencyConflict, InvalidInput, InvalidState, NotFound
from hub.program.mdf import budget, proofs
from hub.program.mdf.section import Mdf
from hub.program.models import AuditEntry, LedgerEntry, MdfClaim, MdfProof, MdfRequest, Partner
from hub.program.partners import record_activity
from hub.program.states import LedgerStatus

if TYPE_CHECKING:
    from hub.program.program_file import Program

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
LEDGER_KIND = "mdf"


def exact_minor(amount: str, currency: str) -> int:
    """A decimal amount in ``currency``'s minor units, exactly (more decimals than the currency
    has are refused, never rounded), greater than zero."""
    code = currency.strip().upper()
    try:
        places = exponent(code)
        value = parse_amount(amount.strip() if isinstance(amount, str) else amount)
    except MoneyError as exc:
        raise InvalidInput(str(exc)) from None
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise InvalidInput(f"{amount} has more decimals than {code} has ({places})")
    minor = int(scaled)
    if minor <= 0:
        raise InvalidInput("the amount must be greater than zero")
    if minor > 10**15:
        raise InvalidInput("the amount is too large")
    return minor


def _open(mdf: Mdf) -> None:
    if not mdf.enabled:
        raise InvalidState("MDF requests are not open in this program (mdf.enabled is false)")


def submit_request(
    session: Session,
    program: Program,
    partner: Partner,
    fields: dict[str, Any],
    *,
    idempotency_key: str | None,
    by: str | None,
    now: datetime,
) -> tuple[MdfRequest, bool]:
    """Store a pending request and take its amount from the budget (caller's transaction):
    (row, created). ``fields``: activity, description, amount (decimal text), currency."""
    mdf = program.mdf
    _open(mdf)
    currency = str(fields["currency"]).strip().upper()
    amount_minor = exact_minor(str(fields["amount"]), currency)
    if idempotency_key:
        existing = session.scalars(
            select(MdfRequest).where(MdfRequest.partner_id == partner.id, MdfRequest.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            same = (existing.activity, existing.description, existing.amount_minor, existing.currency) == (
                fields["activity"],
                fields.get("description"),
                amount_minor,
                currency,
            )
            if not same:
                raise IdempotencyConflict("this Idempotency-Key was used with a different MDF request")
            return existing, False
    # one partner's requests in turn, the partner's row first (then the budget row): no lock cycle
    session.refresh(partner, with_for_update=True)
    conditions.require(session, partner, mdf.requires, now, "an MDF request")
    allowance = mdf.allowance_minor(partner.tier, currency)
    if allowance == 0:
        raise InvalidInput(f"your tier has no MDF budget in {currency}")
    period = budget.period_of(now, mdf.period)
    if not budget.take(session, partner.id, period, currency, amount_minor, allowance):
        left = max(allowance - budget.used(session, partner.id, period, currency), 0)
        raise InvalidInput(
            f"the request ({from_minor_units(amount_minor, currency)} {currency}) passes your MDF budget for "
            f"{period}: {from_minor_units(left, currency)} {currency} left"
        )
    row = MdfRequest(
        partner_id=partner.id,
        idempotency_key=idempotency_key,
        activity=fields["activity"],
        description=fields.get("description"),
        amount_minor=amount_minor,
        currency=currency,
        period=period,
        status=PENDING,
        claimed_minor=0,
        requested_by=by,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    record_activity(session, partner, at=now)
    session.flush()
    return row, True


def _audit(
    session: Session, actor: str, action: str, subject: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    session.add(AuditEntry(actor=actor, action=action, subject=subject, before=before, after=after, at=utcnow()))


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("give a reason")
    return text[:2000]


def decide_request(
    session: Session,
    request_id: int,
    *,
    approve_it: bool,
    actor: str,
    reason: str,
    now: datetime,
    mail_settings: SendGridSettings | None = None,
) -> MdfRequest:
    """A person's decision on a pending request, audited; a rejection gives the amount back. The
    partner is told (``mdf_decided``, once per decision)."""
    reason = _reason(reason)
    row = session.get(MdfRequest, request_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no MDF request #{request_id}")
    if row.status != PENDING:
        raise InvalidState(f"MDF request #{request_id} is {row.status}")
    before = {"status": row.status}
    row.status = APPROVED if approve_it else REJECTED
    row.reason, row.decided_by, row.decided_at, row.updated_at = reason, actor, now, now
    if not approve_it:
        budget.give_back(session, row.partner_id, row.period, row.currency, row.amount_minor)
    _audit(
        session,
        actor,
        "mdf_request.approve" if approve_it else "mdf_request.reject",
        f"mdf_request:{row.id}",
        before,
        {"status": row.status, "reason": reason},
    )
    _tell(
        session,
        mail_settings,
        "request",
        row.id,
        row.partner_id,
        row.activity,
        row.amount_minor,
        row.currency,
        row.status,
        reason,
    )
    return row


def _tell(
    session: Session,
    mail_settings: SendGridSettings | None,
    what: str,
    row_id: int,
    partner_id: int,
    activity: str,
    amount_minor: int,
    currency: str,
    status: str,
    reason: str,
) -> None:
    partner = session.get(Partner, partner_id)
    if partner is None:
        return
    notify(
        session,
        mail_settings=mail_settings,
        kind="mdf_decided",
        to_email=partner.email,
        partner_id=partner.id,
        natural_key=f"mdf-{what}-{status}:{row_id}",
        context={
            "partner_name": partner.name,
            "partner_manager": partner.partner_manager,
            "segment": partner.segment,
            "locale": partner.locale,
            "what": what,
            "activity": activity,
            "amount": format_money(amount_minor, currency),
            "status": status,
            "reason": reason,
        },
    )


def submit_claim(
    session: Session,
    program: Program,
    partner_id: int,
    request_id: int,
    fields: dict[str, Any],
    files: Sequence[proofs.Upload],
    *,
    idempotency_key: str | None,
    by: str | None,
    now: datetime,
) -> tuple[MdfClaim, bool]:
    """A pending claim with its proof files (caller's transaction): (row, created). ``fields``:
    amount (decimal text, in the request's currency), description."""
    mdf = program.mdf
    partner = session.get(Partner, partner_id, with_for_update=True)  # one partner's claims in turn (quota)
    request = session.get(MdfRequest, request_id)
    if partner is None or request is None or request.partner_id != partner_id:
        raise NotFound(f"no MDF request #{request_id}")
    amount_minor = exact_minor(str(fields["amount"]), request.currency)
    if idempotency_key:
        existing = session.scalars(
            select(MdfClaim).where(MdfClaim.partner_id == partner_id, MdfClaim.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            if (existing.request_id, existing.amount_minor) != (request_id, amount_minor):
                raise IdempotencyConflict("this Idempotency-Key was used with a different MDF claim")
            return existing, False
    if request.status != APPROVED:
        raise InvalidState(f"MDF request #{request_id} is {request.status}: only an approved request takes claims")
    checked = proofs.check(files, mdf.uploads)
    taken = session.execute(
        update(MdfRequest)
        .where(
            MdfRequest.id == request_id,
            MdfRequest.status == APPROVED,
            MdfRequest.claimed_minor + amount_minor <= MdfRequest.amount_minor,
        )
        .values(claimed_minor=MdfRequest.claimed_minor + amount_minor, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        session.refresh(request)
        left = max(request.amount_minor - request.claimed_minor, 0)
        raise InvalidInput(
            f"the claim ({from_minor_units(amount_minor, request.currency)} {request.currency}) passes the approved "
            f"request: {from_minor_units(left, request.currency)} {request.currency} left to claim"
        )
    claim = MdfClaim(
        request_id=request_id,
        partner_id=partner_id,
        idempotency_key=idempotency_key,
        amount_minor=amount_minor,
        currency=request.currency,
        description=fields.get("description"),
        status=PENDING,
        submitted_by=by,
        created_at=now,
        updated_at=now,
    )
    session.add(claim)
    session.flush()
    proofs.store(session, partner_id, claim.id, checked, mdf.uploads, by=by, now=now)
    record_activity(session, partner, at=now)
    return claim, True


def decide_claim(
    session: Session,
    program: Program,
    claim_id: int,
    *,
    approve_it: bool,
    actor: str,
    reason: str,
    now: datetime,
    mail_settings: SendGridSettings | None = None,
) -> MdfClaim:
    """A person's decision on a pending claim, audited. Approved: a payable ledger entry (once,
    by its natural key); rejected: the amount returns to the request. The partner is told."""
    reason = _reason(reason)
    claim = session.get(MdfClaim, claim_id, with_for_update=True)
    if claim is None:
        raise NotFound(f"no MDF claim #{claim_id}")
    if claim.status != PENDING:
        raise InvalidState(f"MDF claim #{claim_id} is {claim.status}")
    before = {"status": claim.status}
    claim.reason, claim.decided_by, claim.decided_at, claim.updated_at = reason, actor, now, now
    if approve_it:
        entry = LedgerEntry(
            natural_key=f"mdf:claim:{claim.id}",
            partner_id=claim.partner_id,
            kind=LEDGER_KIND,
            amount_minor=claim.amount_minor,
            currency=claim.currency,
            status=LedgerStatus.APPROVED,
            rule_snapshot={
                "rule_name": "MDF claim",
                "mdf_request_id": claim.request_id,
                "mdf_claim_id": claim.id,
                "approved_by": actor,
            },
            source_key=f"mdf_claim:{claim.id}",
            approve_after=now,
            expected_payment_date=program.payouts.expected_date(now.date()),
            created_at=now,
            updated_at=now,
        )
        session.add(entry)
        session.flush()
        claim.status, claim.ledger_entry_id = APPROVED, entry.id
    else:
        claim.status = REJECTED
        session.execute(
            update(MdfRequest)
            .where(MdfRequest.id == claim.request_id)
            .values(claimed_minor=MdfRequest.claimed_minor - claim.amount_minor, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    _audit(
        session,
        actor,
        "mdf_claim.approve" if approve_it else "mdf_claim.reject",
        f"mdf_claim:{claim.id}",
        before,
        {"status": claim.status, "reason": reason, "ledger_entry_id": claim.ledger_entry_id},
    )
    request = session.get(MdfRequest, claim.request_id)
    activity = request.activity if request is not None else f"request #{claim.request_id}"
    _tell(
        session,
        mail_settings,
        "claim",
        claim.id,
        claim.partner_id,
        activity,
        claim.amount_minor,
        claim.currency,
        claim.status,
        reason,
    )
    return claim


# -- reading -------------------------------------------------------------------------------------


def proof_dict(p: MdfProof) -> dict[str, Any]:
    return {
        "name": p.name,
        "content_type": p.content_type,
        "size_bytes": p.size_bytes,
        "original_name": p.original_name,
        "erased": p.erased_at is not None,
        "created_at": p.created_at,
    }


def claim_dict(c: MdfClaim, files: Sequence[MdfProof] = ()) -> dict[str, Any]:
    return {
        "id": c.id,
        "request_id": c.request_id,
        "partner_id": c.partner_id,
        "amount_minor": c.amount_minor,
        "amount": from_minor_units(c.amount_minor, c.currency),
        "currency": c.currency,
        "description": c.description,
        "status": c.status,
        "reason": c.reason,
        "decided_by": c.decided_by,
        "ledger_entry_id": c.ledger_entry_id,
        "created_at": c.created_at,
        "proofs": [proof_dict(p) for p in files],
    }


def request_dict(r: MdfRequest, claims: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "id": r.id,
        "partner_id": r.partner_id,
        "activity": r.activity,
        "description": r.description,
        "amount_minor": r.amount_minor,
        "amount": from_minor_units(r.amount_minor, r.currency),
        "currency": r.currency,
        "period": r.period,
        "status": r.status,
        "claimed_minor": r.claimed_minor,
        "left_to_claim_minor": max(r.amount_minor - r.claimed_minor, 0) if r.status == APPROVED else 0,
        "reason": r.reason,
        "decided_by": r.decided_by,
        "created_at": r.created_at,
        "claims": list(claims),
    }


def requests_of(session: Session, partner_id: int | None = None, *, status: str | None = None) -> list[dict[str, Any]]:
    """Requests (one partner's, or all) newest first, each with its claims and their files (three
    queries)."""
    query = select(MdfRequest).order_by(MdfRequest.id.desc()).limit(500)
    if partner_id is not None:
        query = query.where(MdfRequest.partner_id == partner_id)
    if status is not None:
        query = query.where(MdfRequest.status == status)
    rows = list(session.scalars(query))
    ids = [r.id for r in rows]
    claims = (
        list(session.scalars(select(MdfClaim).where(MdfClaim.request_id.in_(ids)).order_by(MdfClaim.id))) if ids else []
    )
    files = _files(session, [c.id for c in claims])
    by_request: dict[int, list[dict[str, Any]]] = {}
    for c in claims:
        by_request.setdefault(c.request_id, []).append(claim_dict(c, files.get(c.id, [])))
    return [request_dict(r, by_request.get(r.id, [])) for r in rows]


def _files(session: Session, claim_ids: Sequence[int]) -> dict[int, list[MdfProof]]:
    out: dict[int, list[MdfProof]] = {}
    if claim_ids:
        for p in session.scalars(select(MdfProof).where(MdfProof.claim_id.in_(list(claim_ids))).order_by(MdfProof.id)):
            out.setdefault(p.claim_id, []).append(p)
    return out


def claims_of(session: Session, *, status: str | None = None, partner_id: int | None = None) -> list[dict[str, Any]]:
    query = select(MdfClaim).order_by(MdfClaim.id.desc()).limit(500)
    if status is not None:
        query = query.where(MdfClaim.status == status)
    if partner_id is not None:
        query = query.where(MdfClaim.partner_id == partner_id)
    rows = list(session.scalars(query))
    files = _files(session, [c.id for c in rows])
    return [claim_dict(c, files.get(c.id, [])) for c in rows]


def files_of(session: Session, claim_ids: Sequence[int]) -> dict[int, list[MdfProof]]:
    return _files(session, claim_ids)


def overview(session: Session, program: Program, partner: Partner, now: datetime) -> dict[str, Any]:
    """What the partner's MDF page and ``GET /api/v1/mdf`` show: open or not (and each unmet
    part of ``mdf.requires``), the budget this period, the upload limits, the requests."""
    mdf = program.mdf
    unmet = conditions.unmet(mdf.requires, conditions.facts_for(session, partner, now)) if mdf.requires else []
    return {
        "enabled": mdf.enabled,
        "open": mdf.enabled and not unmet,
        "unmet": unmet,
        **budget.overview(session, mdf, partner.id, partner.tier, now),
        "uploads": {
            "max_bytes": mdf.uploads.max_bytes,
            "max_files": mdf.uploads.max_files,
            "types": list(mdf.uploads.types),
            "quota_bytes": mdf.uploads.quota_bytes,
            "used_bytes": proofs.stored_bytes(session, partner.id),
        },
        "requests": requests_of(session, partner.id),
    }
