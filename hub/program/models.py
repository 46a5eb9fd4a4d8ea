"""The partner program's records: partners (and their tier history), referrals, deals (with
their attribution), the commission ledger, payouts, program runs, re-engagement sequences, deal registrations,
notifications and e-mail preferences, the audit log, revenue facts and payment customers, and the
CRM's contacts and companies with their deal associations.

Money is integer minor units plus an ISO 4217 currency, never a float."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

#: an auto-incrementing 64-bit key (SQLite only auto-increments INTEGER PRIMARY KEY)
from hub.pipeline.store import Base, BigId, StateColumn, UTCDateTime
from hub.program.states import LedgerStatus, PayoutStatus, ReferralStatus


def _segment_given(context: Any) -> Any:
    """A partner inserted with a segment and no segment attribute keeps that segment as its own."""
    return context.get_current_parameters().get("segment")


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    region: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(64))
    partner_manager: Mapped[str | None] = mapped_column(String(320))
    api_key_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: BCP 47 language tag for the partner's emails (``de``, ``en-CA``); unset: the default
    locale: Mapped[str | None] = mapped_column(String(16))
    #: ISO 3166-1 alpha-2
    country: Mapped[str | None] = mapped_column(String(2))
    #: the partner's Stripe Connect account, and whether Stripe says it can receive transfers
    stripe_account_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    #: ok | bounced | spam_report: a bounced address gets no more mail until a person fixes it
    email_status: Mapped[str] = mapped_column(String(16), default="ok")
    #: why a person should look at this partner (a bounce, re-engagement exhausted); NULL: fine
    flag_reason: Mapped[str | None] = mapped_column(Text)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the partner's last sign of life: a referral, an API call, a reply to our email
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the partner's payout account last changed (an operator linked another Connect account,
    #: or Stripe reported other bank accounts or another payout e-mail): payouts within 30 days
    #: of it wait for a person (``hub.program.payouts.needs_review``)
    payout_account_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the bank-account (or card) fingerprints of the Connect account's external accounts, as
    #: ``account.updated`` last reported them; two partners sharing one is a fraud signal
    payout_fingerprints: Mapped[list[str] | None] = mapped_column(JSON)
    #: the e-mail of the partner's payout account (the Connect account's ``email``)
    payout_email: Mapped[str | None] = mapped_column(String(320), index=True)
    #: attributes the program's conditions and segment rules read (``hub.program.lifecycle_file``)
    company_size: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(64))
    specialization: Mapped[str | None] = mapped_column(String(64))
    partner_type: Mapped[str | None] = mapped_column(String(32))
    #: the partner's own segment attribute: the segment when no segment rule matches (the
    #: free-text segment partners had before segment rules are kept here by the migration);
    #: ``segment`` above is the segment in force, set by ``hub.program.segments``
    segment_attribute: Mapped[str | None] = mapped_column(String(64), default=_segment_given)
    #: when the last onboarding step was completed (NULL: onboarding not complete)
    onboarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("partner_id", "idempotency_key"),
        #: cover the KPIs' grouped passes (``hub.program.kpis``): per partner (all time), per
        #: month and recent window (by ``created_at``), won and held (by ``status``: the badge too)
        Index("ix_referrals_partner_created_status", "partner_id", "created_at", "status"),
        Index("ix_referrals_created_partner", "created_at", "partner_id"),
        Index("ix_referrals_status_partner", "status", "partner_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tracking_id: Mapped[str] = mapped_column(String(32), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    company_name: Mapped[str] = mapped_column(String(200))
    company_domain: Mapped[str | None] = mapped_column(String(253), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    #: the referred company's ISO country and industry as the partner gave them (owner routing)
    company_country: Mapped[str | None] = mapped_column(String(2))
    company_industry: Mapped[str | None] = mapped_column(String(64))
    #: received -> held_for_review | declined | submitted (deal in the CRM) -> the deal's statuses
    status: Mapped[ReferralStatus] = mapped_column(StateColumn(ReferralStatus, 32))
    status_reason: Mapped[str | None] = mapped_column(Text)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    crm: Mapped[str | None] = mapped_column(String(32))  # the CRM connector holding its deal
    crm_deal_id: Mapped[str | None] = mapped_column(String(128))
    crm_contact_id: Mapped[str | None] = mapped_column(String(128))
    owner_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Deal(Base):
    """A CRM deal as the hub knows it, with its (sticky) partner attribution."""

    __tablename__ = "deals"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # connector name
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(255))
    stage: Mapped[str | None] = mapped_column(String(64))
    pipeline: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: newest provider version applied per property (events arrive out of order)
    property_versions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    version_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(default=False)
    #: the referral status the deal's stage stands for (from the mapping file's value map)
    status: Mapped[str | None] = mapped_column(String(32))
    tracking_id: Mapped[str | None] = mapped_column(String(32), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    attribution_source: Mapped[str | None] = mapped_column(String(32))
    attributed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        #: covers the KPIs' commission totals (``hub.program.kpis``)
        Index("ix_ledger_entries_totals", "currency", "status", "created_at", "amount_minor"),
        #: covers a partner's balances and next payment date (the portal's home and money pages)
        Index(
            "ix_ledger_entries_partner_money",
            "partner_id",
            "status",
            "currency",
            "amount_minor",
            "expected_payment_date",
        ),
        #: the few held commissions (the review queue and its badge), without a pass over the ledger
        Index(
            "ix_ledger_entries_held",
            "held_at",
            sqlite_where=text("hold_reason IS NOT NULL"),
            postgresql_where=text("hold_reason IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    natural_key: Mapped[str] = mapped_column(String(255), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    kind: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: pending -> approved -> in_payout -> paid; cancelled (before approval); reversed
    status: Mapped[LedgerStatus] = mapped_column(StateColumn(LedgerStatus, 16))
    rule_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: the entry a reversing entry undoes
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    expected_payment_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: what earned it: ``deal:<id>``, ``fact:<revenue fact id>``, ``referral:<id>`` (NULL: manual)
    source_key: Mapped[str | None] = mapped_column(String(255), index=True)
    #: end of the holding period: the scheduled pass approves a pending entry from then on
    approve_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the payout the entry is (being) paid in
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    #: why a fraud signal holds this commission for a person (``hub.program.fraud``); NULL: no
    #: hold. A held entry is never in an auto-approved payout, and its payout cannot be approved
    #: until a person releases the hold (``hold_released_by``/``_at``; the reason stays)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_released_by: Mapped[str | None] = mapped_column(String(200))
    hold_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payout(Base):
    """Approved ledger entries of one partner in one currency, paid together.

    ``status`` (``PayoutStatus``): review (waits for an admin: see ``payouts.needs_review``) | approved (to
    send; ``reason`` says why it waits, e.g. no payouts-enabled Stripe account) | sending (transfer
    owed) | unknown (the transfer's outcome is unknown: a lookup or a person settles it) | paid |
    failed | rejected."""

    __tablename__ = "payouts"
    __table_args__ = (UniqueConstraint("partner_id", "currency", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    #: the run that made it (``2026-11``: the run of that month)
    period: Mapped[str] = mapped_column(String(16))
    status: Mapped[PayoutStatus] = mapped_column(StateColumn(PayoutStatus, 16))
    method: Mapped[str | None] = mapped_column(String(16))  # stripe | manual
    reason: Mapped[str | None] = mapped_column(Text)
    transfer_id: Mapped[str | None] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PartnerTierChange(Base):
    """A partner's tier history: one row per change (``hub.program.tiers.set_tier``), so a
    hypothetical recomputation (``partnerhub program diff``) uses the tier a partner had at the
    time. ``tier_before`` answers for times before the first change; the migration that made the
    table wrote each partner's tier then as effective since the partner's creation."""

    __tablename__ = "partner_tier_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    tier_before: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(64))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class ProgramRun(Base):
    """A scheduled program pass that must run once per period (payout run, tier review)."""

    __tablename__ = "program_runs"
    __table_args__ = (UniqueConstraint("kind", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReengagementSequence(Base):
    """One re-engagement sequence of a quiet partner, started from its last sign of life
    (``anchor_at``). step 1: first email sent, 2: second sent, 3: flagged and CRM task owed.
    state: active | stopped (activity, or an admin) | done."""

    __tablename__ = "reengagement_sequences"
    __table_args__ = (UniqueConstraint("partner_id", "anchor_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    anchor_at: Mapped[datetime] = mapped_column(UTCDateTime)
    step: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DealRegistration(Base):
    """A partner's claim on a deal: checked against the CRM and other partners' registrations,
    then approved (a referral and its CRM deal, protected until ``protected_until``), held for
    review, or declined with the reason.

    status: received | held_for_review | approved | declined."""

    __tablename__ = "deal_registrations"
    __table_args__ = (
        UniqueConstraint("partner_id", "idempotency_key"),
        #: the lifecycle KPIs (``hub.program.lifecycle_kpis``): decided in a period, and by whom
        Index("ix_deal_registrations_decided", "decided_at", "decided_by", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    company_name: Mapped[str] = mapped_column(String(200))
    #: the company name normalized (case, punctuation, legal suffixes) for matching
    company_key: Mapped[str] = mapped_column(String(200), index=True)
    company_domain: Mapped[str | None] = mapped_column(String(253), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    #: the company's ISO country and industry as the partner gave them (``hub.program.routing``)
    company_country: Mapped[str | None] = mapped_column(String(2))
    company_industry: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    protected_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the first decision (approved or declined) and who made it: ``program`` (the automatic
    #: check) or the person (``hub.program.lifecycle_kpis``: processing time, automated share)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(Base):
    __tablename__ = "notifications"
    #: the lifecycle KPIs count one kind's mails in a period (``hub.program.lifecycle_kpis``)
    __table_args__ = (Index("ix_notifications_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    natural_key: Mapped[str] = mapped_column(String(255), unique=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    #: indexed: the console shows each sign-in address's newest mail (``partner_directory``)
    to_email: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(128), index=True)
    #: why the status is what it is (a bounce's reason, "address bounced" for a suppressed mail)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the first open or click the e-mail provider reported (the health score's e-mail engagement)
    engaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailPreference(Base):
    """A partner's choice about one unsubscribe group (``asm_group_id``; 0: every group, a
    global unsubscribe), as the e-mail provider reported it. ``changed_at`` is the provider's
    event time, so an older event never overwrites a newer choice."""

    __tablename__ = "email_preferences"
    __table_args__ = (UniqueConstraint("partner_id", "asm_group_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    asm_group_id: Mapped[int] = mapped_column(Integer)
    opted_out: Mapped[bool] = mapped_column(default=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    #: the lifecycle KPIs count decisions by action in a period (``hub.program.lifecycle_kpis``)
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at", "actor"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RevenueFact(Base):
    """Money that reached the company from a customer, or went back: the program engine turns
    these into commissions. One row per provider object (``natural_key``: ``stripe:invoice:in_1``,
    ``stripe:refund:re_1``); a later event for the same object updates the row (a refund's
    amount or status changes) and sets ``processed_at`` back to NULL so the engine looks again.

    ``amount_minor`` is signed: revenue positive, refunds negative (the refunded amount of that
    one refund, never a cumulative figure). ``revenue_key`` on a refund names the revenue fact it
    takes back, so a partial refund reduces that revenue's commission in proportion.
    """

    __tablename__ = "revenue_facts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    natural_key: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(32))  # connector name
    #: revenue | refund
    kind: Mapped[str] = mapped_column(String(16))
    #: recurring (an invoice of a subscription) | one_time
    recurrence: Mapped[str] = mapped_column(String(16), default="one_time")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    customer_id: Mapped[str | None] = mapped_column(String(128), index=True)
    #: the revenue fact a refund takes back
    revenue_key: Mapped[str | None] = mapped_column(String(255), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    #: what the fact is for (a product or price id), for per-product commission rules
    product: Mapped[str | None] = mapped_column(String(128))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: provider status of the object (paid, succeeded, pending, failed, canceled)
    status: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentCustomer(Base):
    """A paying customer at a payment provider (a Stripe customer), with its (sticky) partner
    attribution: every revenue fact of the customer carries its partner and deal."""

    __tablename__ = "payment_customers"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # connector name
    external_id: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    #: what the customer mapping file produced (tracking id, partner id, CRM deal id, …)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the provider version (event ``created``) of ``properties``; older events do not overwrite
    version_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(default=False)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    attribution_source: Mapped[str | None] = mapped_column(String(32))
    attributed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Application(Base):
    """A public application to join the program (``hub.program.applications``): unconfirmed
    until the applicant opens the e-mailed link (only the token's SHA-256 is stored), then
    pending until a person approves or declines it."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    contact_name: Mapped[str] = mapped_column(String(200))
    company_name: Mapped[str] = mapped_column(String(200))
    company_domain: Mapped[str | None] = mapped_column(String(253), index=True)
    website: Mapped[str | None] = mapped_column(String(500))
    country: Mapped[str | None] = mapped_column(String(2))
    company_size: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(64))
    specialization: Mapped[str | None] = mapped_column(String(64))
    partner_type: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    #: unconfirmed -> pending -> approved | declined; unconfirmed -> expired
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: why a person should look twice (same e-mail or company domain as a partner or application)
    duplicate_of: Mapped[str | None] = mapped_column(Text)
    recommended: Mapped[bool] = mapped_column(default=False)
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirm_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Credential(Base):
    """A certification or a signed partner agreement, valid until ``expires_at`` (NULL: no
    expiry). A renewal updates the row (new version, new expiry)."""

    __tablename__ = "partner_credentials"
    __table_args__ = (UniqueConstraint("partner_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # certification | agreement
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: who accepted (an agreement: the partner user; a certification: the LMS, an operator)
    accepted_by: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OnboardingTask(Base):
    """One step of a partner's onboarding track (``hub.program.onboarding``)."""

    __tablename__ = "onboarding_steps"
    __table_args__ = (
        UniqueConstraint("partner_id", "step"),
        #: the lifecycle KPIs: reminders and escalations in a period (``hub.program.lifecycle_kpis``)
        Index("ix_onboarding_steps_reminded", "reminded_at"),
        Index("ix_onboarding_steps_escalated", "escalated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    track: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    module: Mapped[str | None] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(320))
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PartnerHealth(Base):
    """A partner's health score on one UTC day (``hub.program.health``): 0..100 and its parts
    (per signal: the value 0..100, the weight and the facts it came from). One row per partner
    per day; the daily pass writing it twice changes nothing."""

    __tablename__ = "partner_health"
    __table_args__ = (UniqueConstraint("partner_id", "day"), Index("ix_partner_health_day", "day"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    day: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    parts: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AtRiskTask(Base):
    """One at-risk spell of a partner: opened when its score fell below the program's threshold
    (an item in the console's ``at_risk`` queue, a CRM task owed, maybe a support e-mail), closed
    when it rose back. ``open_partner_id`` is the partner's id while open and NULL once closed: a
    unique column, so a partner has at most one open task whatever runs twice."""

    __tablename__ = "at_risk_tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    open_partner_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_score: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_score: Mapped[int | None] = mapped_column(Integer)
    #: how it closed: the score recovered (the CRM task is closed by a person: no connector completes tasks)
    closed_note: Mapped[str | None] = mapped_column(Text)


# -- who signs in to the pages (hub.program.access) ----------------------------------------------


class PartnerUser(Base):
    """A person who signs in to a partner company's portal. A company has several; the partner's
    own address becomes its first user on first sign-in. ``active`` false: removed (its sessions
    are revoked at once)."""

    __tablename__ = "partner_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    invited_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Operator(Base):
    """A person who signs in to the operator console. role: admin | viewer (read-only)."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigninToken(Base):
    """A one-time sign-in link. Only the token's SHA-256 is stored; the token itself is an HMAC of
    the row's id and ``nonce`` under the web secret, so the mail that carries it is rendered when
    it is sent and no row holds a usable link. principal: ``partner_user`` | ``operator``."""

    __tablename__ = "signin_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    principal: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser. The cookie carries the session id (signed); only its SHA-256 is stored.
    Idle expiry: ``last_seen_at`` + the idle limit; absolute: ``expires_at``. ``revoked_at`` set:
    signed out, or the person was removed or deactivated."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_principal", "principal", "principal_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# -- CRM parties (hub.program.parties) ------------------------------------------------------


class CrmContact(Base):
    """A person in a CRM (a HubSpot or Salesforce contact, a Pipedrive person) as the hub last
    saw it, kept current by webhooks and polling under the version guard (``hub.program.parties``).
    Attribution and the conflict checks look here before they ask the CRM."""

    __tablename__ = "crm_contacts"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # connector name
    external_id: Mapped[str] = mapped_column(String(128))
    #: lower-cased
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(64))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(64))
    #: the provider ids of the person's companies
    company_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: every mapped field, as the mapping file produced it
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: newest provider version applied per field (events arrive out of order)
    property_versions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    version_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CrmCompany(Base):
    """An organisation in a CRM (a HubSpot company, a Salesforce Account, a Pipedrive
    organization) as the hub last saw it; see ``CrmContact``."""

    __tablename__ = "crm_companies"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(255))
    #: the web domain, lower-cased, without scheme, ``www.`` or path (``acme.com``)
    domain: Mapped[str | None] = mapped_column(String(253), index=True)
    country: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(128))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    property_versions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    version_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CrmDealParty(Base):
    """A CRM deal's association with a contact or a company, by provider ids (either side may
    not be a hub record yet). Written from what the deal's own record carries (its contact and
    company ids) or from the CRM's answer when the hub read the deal's parties."""

    __tablename__ = "crm_deal_parties"
    __table_args__ = (UniqueConstraint("source", "deal_id", "party_type", "party_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    #: the deal's provider id
    deal_id: Mapped[str] = mapped_column(String(128))
    #: contact | company
    party_type: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- the owner rule's memory (hub.program.writeback) ------------------------------------------


class SyncBase(Base):
    """Per synced field of a CRM record, the last value both sides agreed on (``value``) and the
    hub's own value when it last synced (``hub_value``): the owner rule's memory
    (``hub.program.writeback``). Written when a write-back succeeds and when an inbound value
    is taken."""

    __tablename__ = "sync_bases"
    __table_args__ = (UniqueConstraint("source", "target", "record_key", "field"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # the CRM connector
    target: Mapped[str] = mapped_column(String(32))  # the record kind: deal
    record_key: Mapped[str] = mapped_column(String(128))  # the CRM's id of the record
    field: Mapped[str] = mapped_column(String(64))  # the record field (mapping file name)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    hub_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FieldHistory(Base):
    """A record field's value that lost under the owner rule (both sides changed it since the
    sync base): what it was, on which side, and the value that won."""

    __tablename__ = "field_history"
    __table_args__ = (Index("ix_field_history_record", "source", "target", "record_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(32))
    record_key: Mapped[str] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(64))
    lost: Mapped[Any] = mapped_column(JSON, nullable=True)  # the losing value
    lost_side: Mapped[str] = mapped_column(String(16))  # provider | hub
    won: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
