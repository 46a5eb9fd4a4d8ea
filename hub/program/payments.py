"""Payment providers' events applied to the partner records, in the engine's transaction.

A payment connector (``payment_changes``, see ``connectors.payments``) says what an event means;
this module applies it, provider-neutrally:

* ``CustomerSeen``: the customer row (``payment_customers``) through the connector's ``customer``
  mapping file, newest provider version wins; then its attribution, sticky like a deal's
  (``hub.attribution``): the tracking id or partner id it carries, else the CRM deal it is linked
  to (the deal id it carries, or a deal whose ``payment_customer_id`` names it) and that deal's
  partner, else a referral matching its email or domain. When a customer is attributed, its
  earlier revenue facts learn the partner;
* ``Revenue`` / ``Refund``: a revenue fact (``hub.facts.record_fact``) carrying the customer's
  partner and deal; a customer the hub has not seen yet is read through the API first (events
  arrive in any order);
* ``Dispute``: a revenue fact of kind ``refund`` keyed on the dispute, taking back the disputed
  amount once the dispute is ``lost`` (nothing before), so a lost dispute reverses the commission
  like a refund; refunds and disputes then feed the partner's loss rates (``hub.program.fraud``);
* ``PayoutAccount``: ``Partner.payouts_enabled`` of the partner linked to that account, and its
  payout details (bank-account fingerprints, payout e-mail): a change stamps
  ``payout_account_changed_at`` (payouts within 30 days wait for a person) and details shared
  with another partner hold both partners' unpaid commissions;
* ``TransferReversed``: ``hub.facts.record_transfer_reversal``.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.capabilities import PaymentEvents, PayoutAccounts
from connectors.errors import ConfigurationError
from connectors.payments import (
    CustomerSeen,
    Dispute,
    PaymentChange,
    PayoutAccount,
    Refund,
    Revenue,
    TransferReversed,
)
from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.pipeline.models import InboxEvent
from hub.pipeline.store import utcnow
from hub.program import clock, facts, fraud
from hub.program.attribution import Attributed, attribute, find_attribution
from hub.program.context import ProgramContext
from hub.program.errors import InvalidInput, InvalidState, NotFound
from hub.program.models import AuditEntry, Deal, Partner, PaymentCustomer, RevenueFact

#: revenue fact columns carried over when a fact learns its partner
_FACT_STATE = ("recurrence", "customer_id", "revenue_key", "product", "period_start", "period_end")


def is_payment_connector(connector: Any) -> bool:
    return isinstance(connector, PaymentEvents)


def process(session: Session, hub: ProgramContext, event: InboxEvent) -> str:
    """Apply one payment event; returns the outcome recorded on the inbox row."""
    connector = hub.connectors[event.connector]
    if not isinstance(connector, PaymentEvents):
        raise ConfigurationError(f"{event.connector} is not a payment connector")
    changes = connector.payment_changes(event.payload)
    if not changes:
        return "ignored"
    outcomes = [apply(session, hub, event.connector, change) for change in changes]
    return ",".join(dict.fromkeys(outcomes))[:64]


def apply(session: Session, hub: ProgramContext, source: str, change: PaymentChange) -> str:
    if isinstance(change, CustomerSeen):
        customer = upsert_customer(session, hub, source, change)
        return "customer:attributed" if customer.partner_id is not None else "customer"
    if isinstance(change, (Revenue, Refund, Dispute)):
        return _record(session, hub, source, change)
    if isinstance(change, PayoutAccount):
        partner = session.scalars(
            select(Partner).where(Partner.stripe_account_id == change.account_id).with_for_update()
        ).first()
        if partner is None:
            return "account:no_partner"
        partner.payouts_enabled = change.payouts_enabled
        _payout_details(session, hub, partner, change)
        return "account:ready" if change.payouts_enabled else "account:not_ready"
    if isinstance(change, TransferReversed):
        facts.record_transfer_reversal(
            session,
            hub,
            payout_id=change.payout_id,
            transfer_id=change.transfer_id,
            amount_reversed_minor=change.amount_reversed_minor,
            currency=change.currency,
            event_id=change.event_id,
        )
        return "transfer_reversed"
    raise TypeError(f"unknown payment change {type(change).__name__}")


# -- customers ----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _mapped(hub: ProgramContext, source: str, record: dict[str, Any]) -> dict[str, Any]:
    """The customer mapping file's fields for this provider record (no file: id, email, name)."""
    plan = hub.mappings.current.for_source(source, "customer")
    if plan is None:
        return {"external_id": str(record.get("id")), "email": record.get("email"), "name": record.get("name")}
    change = plan.inbound(record)
    return dict(change.fields) if change is not None else {}


def upsert_customer(session: Session, hub: ProgramContext, source: str, seen: CustomerSeen) -> PaymentCustomer:
    now = utcnow()
    insert_ignoring_conflicts(
        session,
        PaymentCustomer,
        [
            {
                "source": source,
                "external_id": seen.customer_id,
                "properties": {},
                "version_ms": -1,
                "deleted": False,
                "created_at": now,
                "updated_at": now,
            }
        ],
        ("source", "external_id"),
    )
    customer = session.scalars(
        select(PaymentCustomer)
        .where(PaymentCustomer.source == source, PaymentCustomer.external_id == seen.customer_id)
        .with_for_update()
    ).one()
    if seen.version_ms >= customer.version_ms:  # an older event never overwrites a newer one
        fields = _mapped(hub, source, dict(seen.record))
        customer.properties = json.loads(json.dumps(fields, default=_jsonable))
        customer.email = fields.get("email") or None
        customer.name = fields.get("name") or None
        customer.deleted = bool(seen.deleted or fields.get("deleted"))
        customer.version_ms = seen.version_ms
        customer.updated_at = now
    session.flush()
    if attribute_customer(session, hub, customer):
        _facts_learn_partner(session, hub, customer)
    return customer


def _linked_deal(session: Session, hub: ProgramContext, customer: PaymentCustomer) -> Deal | None:
    """The CRM deal the customer belongs to: the deal id it carries, else a deal that names it."""
    crm_deal_id = (customer.properties or {}).get("crm_deal_id")
    if crm_deal_id:
        deal = session.scalars(
            select(Deal).where(Deal.external_id == str(crm_deal_id)).order_by(Deal.source != hub.settings.crm, Deal.id)
        ).first()
        if deal is not None:
            return deal
    return session.scalars(
        select(Deal).where(Deal.properties["payment_customer_id"].as_string() == customer.external_id).order_by(Deal.id)
    ).first()


def attribute_customer(session: Session, hub: ProgramContext, customer: PaymentCustomer) -> bool:
    """Attribute an unattributed customer (sticky: an attributed one is never moved here; only an
    admin changes it). True when it was attributed now."""
    if customer.partner_id is not None:
        return False
    props = customer.properties or {}
    rules = hub.program.attribution
    created = _created_at(props) or customer.created_at
    found = find_attribution(
        session,
        rules,
        tracking_id=props.get("tracking_id"),
        partner_id=props.get("partner_id"),
        deal_created_at=created,
    )
    deal = _linked_deal(session, hub, customer)
    if found is None and deal is not None and deal.partner_id is not None:
        found = Attributed(deal.partner_id, deal.referral_id, "deal")
    if found is None and customer.email:
        found = find_attribution(
            session, rules, tracking_id=None, partner_id=None, deal_created_at=created, contact_emails=[customer.email]
        )
    if deal is None and found is not None and found.referral_id is not None:
        deal = session.scalars(select(Deal).where(Deal.referral_id == found.referral_id).order_by(Deal.id)).first()
    if deal is not None and customer.deal_id is None:
        customer.deal_id = deal.id
    return attribute(session, customer, found)


def _created_at(props: dict[str, Any]) -> datetime | None:
    raw = props.get("created_at")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except (TypeError, ValueError):
        return None


def _facts_learn_partner(session: Session, hub: ProgramContext, customer: PaymentCustomer) -> None:
    """Revenue facts recorded before the customer was attributed now carry its partner."""
    earlier = session.scalars(
        select(RevenueFact).where(
            RevenueFact.source == customer.source,
            RevenueFact.customer_id == customer.external_id,
            RevenueFact.partner_id.is_(None),
        )
    ).all()
    for fact in earlier:
        facts.record_fact(
            session,
            hub,
            natural_key=fact.natural_key,
            source=fact.source,
            kind=fact.kind,
            amount_minor=fact.amount_minor,
            currency=fact.currency,
            occurred_at=fact.occurred_at,
            status=fact.status,
            partner_id=customer.partner_id,
            deal_id=customer.deal_id,
            **{name: getattr(fact, name) for name in _FACT_STATE},
        )


def _customer(session: Session, hub: ProgramContext, source: str, customer_id: str | None) -> PaymentCustomer | None:
    if not customer_id:
        return None
    customer = session.scalars(
        select(PaymentCustomer).where(PaymentCustomer.source == source, PaymentCustomer.external_id == customer_id)
    ).first()
    if customer is not None:
        return customer
    connector = hub.connectors[source]
    if not isinstance(connector, PaymentEvents):
        raise ConfigurationError(f"{source} is not a payment connector")
    seen = connector.read_customer(customer_id)  # the payment arrived before the customer
    return upsert_customer(session, hub, source, seen) if seen is not None else None


# -- revenue facts -----------------------------------------------------------------------------


def _payout_details(session: Session, hub: ProgramContext, partner: Partner, change: PayoutAccount) -> None:
    """Keep the account's payout details; a change is stamped (and audited), and details shared
    with another partner hold both partners' unpaid commissions."""
    before = {"payout_fingerprints": partner.payout_fingerprints, "payout_email": partner.payout_email}
    if change.fingerprints is not None:
        fingerprints = sorted(change.fingerprints)
        if fingerprints != sorted(partner.payout_fingerprints or []) or partner.payout_fingerprints is None:
            partner.payout_fingerprints = fingerprints
    if change.email is not None and change.email.strip().lower() != (partner.payout_email or ""):
        partner.payout_email = change.email.strip().lower()
    after = {"payout_fingerprints": partner.payout_fingerprints, "payout_email": partner.payout_email}
    if after == before:
        return
    now = clock.now(hub)
    partner.payout_account_changed_at = now
    session.add(
        AuditEntry(
            actor=f"{ACCOUNTS_CONNECTOR}:account.updated",
            action="partner.payout_details",
            subject=f"partner:{partner.id}",
            # fingerprints identify bank accounts without revealing them; the e-mail is the account's
            before={
                "fingerprints": len(before["payout_fingerprints"] or []),
                "email_set": bool(before["payout_email"]),
            },
            after={"fingerprints": len(after["payout_fingerprints"] or []), "email_set": bool(after["payout_email"])},
            at=utcnow(),
        )
    )
    session.flush()
    fraud.on_payout_details(session, hub.program, partner, now=now)


def _record(session: Session, hub: ProgramContext, source: str, change: Revenue | Refund | Dispute) -> str:
    customer = _customer(session, hub, source, change.customer_id)
    partner_id = customer.partner_id if customer is not None else None
    deal_id = customer.deal_id if customer is not None else None
    extra: dict[str, Any]
    amount_minor, status, details = change.amount_minor, change.status, dict(change.details)
    if isinstance(change, Dispute):
        # a lost dispute took the disputed amount back, like a refund; before that, nothing
        amount_minor = -change.amount_minor if change.status == fraud.LOST else 0
        details = {**details, "dispute": details.get("dispute") or change.key}
    if isinstance(change, (Refund, Dispute)):
        kind = "refund"
        extra = {"revenue_key": change.revenue_key}
        if partner_id is None and change.revenue_key:
            revenue = session.scalars(select(RevenueFact).where(RevenueFact.natural_key == change.revenue_key)).first()
            if revenue is not None:
                partner_id, deal_id = revenue.partner_id, revenue.deal_id
    else:
        kind = "revenue"
        extra = {
            "recurrence": change.recurrence,
            "product": change.product,
            "period_start": change.period_start,
            "period_end": change.period_end,
        }
    _, changed = facts.record_fact(
        session,
        hub,
        natural_key=change.key,
        source=source,
        kind=kind,
        amount_minor=amount_minor,
        currency=change.currency,
        occurred_at=change.occurred_at,
        status=status,
        details=details,
        customer_id=change.customer_id,
        partner_id=partner_id,
        deal_id=deal_id,
        **extra,
    )
    if changed and kind == "refund":  # money went back: the partner's loss rates may have crossed
        fraud.on_money_back(session, hub.program, partner_id, now=clock.now(hub))
    label = "dispute" if isinstance(change, Dispute) else kind
    return label if changed else f"{label}:unchanged"


# -- partner accounts ----------------------------------------------------------------------------

ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9]{1,60}$")
#: the payment connector partners' accounts belong to (``Partner.stripe_account_id``)
ACCOUNTS_CONNECTOR = "stripe"


def link_partner_account(
    hub: ProgramContext, partner_ref: str | int, account_id: str | None, *, actor: str
) -> dict[str, Any]:
    """Link a partner (by email or id) to their Connect account (``None``: unlink), audited.
    Whether the account can receive transfers is read from Stripe now when the hub has a key
    (else it waits for the account's next ``account.updated``)."""
    if account_id is not None and not ACCOUNT_ID.match(account_id):
        raise InvalidInput(f"{account_id!r} is not a Stripe account id (acct_…)")
    ready = None
    if account_id is not None:
        connector = hub.connectors.get(ACCOUNTS_CONNECTOR)
        if isinstance(connector, PayoutAccounts) and connector.api_ready:
            ready = connector.account_ready(account_id)
            if ready is None:
                raise NotFound(f"Stripe knows no connected account {account_id}")
    with hub.sessions() as session, session.begin():
        ref = str(partner_ref).strip()
        query = (
            select(Partner).where(Partner.id == int(ref))
            if ref.isdigit()
            else select(Partner).where(Partner.email == ref.lower())
        )
        partner = session.scalars(query.with_for_update()).first()
        if partner is None:
            raise NotFound(f"no partner {ref}")
        if account_id is not None:
            other = session.scalars(
                select(Partner).where(Partner.stripe_account_id == account_id, Partner.id != partner.id)
            ).first()
            if other is not None:
                raise InvalidState(f"{account_id} is linked to partner {other.id} already")
        link_account(session, partner, account_id, actor=actor, ready=ready)
        return {
            "partner_id": partner.id,
            "email": partner.email,
            "stripe_account_id": partner.stripe_account_id,
            "payouts_enabled": partner.payouts_enabled,
        }


def link_account(
    session: Session, partner: Partner, account_id: str | None, *, actor: str, ready: bool | None = None
) -> None:
    """An admin links a partner to their payment provider account (``None``: unlinks), audited.
    ``ready``: whether the provider says the account can receive transfers now (``None``: not
    known until its next ``account.updated``)."""
    before = {"stripe_account_id": partner.stripe_account_id, "payouts_enabled": partner.payouts_enabled}
    if account_id != partner.stripe_account_id:
        partner.payouts_enabled = False
        # another account pays out elsewhere: payouts within 30 days wait for a person
        partner.payout_account_changed_at = utcnow()
        partner.payout_fingerprints = None
        partner.payout_email = None
    partner.stripe_account_id = account_id
    if ready is not None and account_id is not None:
        partner.payouts_enabled = ready
    session.add(
        AuditEntry(
            actor=actor,
            action="partner.stripe_account",
            subject=f"partner:{partner.id}",
            before=before,
            after={"stripe_account_id": account_id, "payouts_enabled": partner.payouts_enabled},
            at=utcnow(),
        )
    )
