"""The partner program's named states: what a referral, a ledger entry, a payout can be, and the
events that earn a commission. ``StrEnum``s whose values are the strings stored in the database
(and written in the program file), so a member compares equal to its stored value."""

from __future__ import annotations

from enum import StrEnum


class ReferralStatus(StrEnum):
    """received -> held_for_review | declined | submitted (deal in the CRM) -> the deal's statuses
    (the referral statuses a CRM mapping's value map may produce: ``hub.mapping.targets``)."""

    RECEIVED = "received"
    HELD_FOR_REVIEW = "held_for_review"
    DECLINED = "declined"
    SUBMITTED = "submitted"
    CONTACTED = "contacted"
    DEMO_SCHEDULED = "demo_scheduled"
    PROPOSAL_SENT = "proposal_sent"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class LedgerStatus(StrEnum):
    """pending -> approved -> in_payout -> paid; cancelled (before approval); reversed."""

    PENDING = "pending"
    APPROVED = "approved"
    IN_PAYOUT = "in_payout"
    PAID = "paid"
    CANCELLED = "cancelled"
    REVERSED = "reversed"


class PayoutStatus(StrEnum):
    """review (waits for an admin: see ``payouts.needs_review``) | approved (to send, or waiting for manual
    payment) | sending (transfer owed) | unknown (the transfer's outcome is unknown: a lookup or a
    person settles it) | paid | failed | rejected."""

    REVIEW = "review"
    APPROVED = "approved"
    SENDING = "sending"
    UNKNOWN = "unknown"
    PAID = "paid"
    FAILED = "failed"
    REJECTED = "rejected"


class CommissionEvent(StrEnum):
    """What earns a commission (a program file rule's ``event``)."""

    DEAL_WON = "deal_won"
    REFERRAL_QUALIFIED = "referral_qualified"
    RECURRING_INVOICE_PAID = "recurring_invoice_paid"
