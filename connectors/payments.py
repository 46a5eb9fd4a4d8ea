"""What a payment provider's events mean to the partner program, in provider-neutral words.

A payment connector (Stripe) turns each of its inbox events into a list of these with
``payment_changes(payload)`` — re-reading objects through its API where the event alone cannot be
trusted (events arrive out of order) — and ``hub.payments`` applies them: customers and their
attribution, revenue facts (``hub.facts.record_fact``; a lost dispute takes money back like a
refund), partner payout accounts and their bank-account fingerprints, transfer reversals. Amounts are integer minor units with an ISO currency code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CustomerSeen:
    """A paying customer as the provider holds it now. ``record`` is the provider's object, as
    the connector's ``customer`` mapping file reads it; ``version_ms`` orders its changes."""

    customer_id: str
    record: Mapping[str, Any]
    version_ms: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Revenue:
    """Money received for one provider object (an invoice paid, a checkout completed)."""

    key: str  # the revenue fact's natural key, e.g. ``stripe:invoice:in_1``
    customer_id: str | None
    amount_minor: int
    currency: str
    occurred_at: datetime
    status: str
    recurrence: str = "one_time"  # recurring | one_time
    product: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refund:
    """Money given back by one refund (``amount_minor`` negative: that refund's own amount,
    never a cumulative figure); ``revenue_key`` names the revenue it takes back."""

    key: str  # e.g. ``stripe:refund:re_1``
    revenue_key: str | None
    customer_id: str | None
    amount_minor: int
    currency: str
    occurred_at: datetime
    status: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dispute:
    """A customer disputed a payment (a chargeback). ``amount_minor`` is the disputed amount
    (positive); ``status`` the provider's (``needs_response``, ``under_review``, ``won``,
    ``lost``…): a lost dispute took the money back, like a refund of ``revenue_key``."""

    key: str  # e.g. ``stripe:dispute:dp_1``
    revenue_key: str | None
    customer_id: str | None
    amount_minor: int
    currency: str
    occurred_at: datetime
    status: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PayoutAccount:
    """A partner's account at the provider and whether it can receive transfers now.
    ``fingerprints``: what identifies the bank accounts (or cards) it pays out to, and ``email``
    the account's e-mail; ``None`` when the event does not say (nothing is changed then)."""

    account_id: str
    payouts_enabled: bool
    fingerprints: tuple[str, ...] | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class TransferReversed:
    """Money sent to a partner for a payout went back (``amount_reversed_minor`` so far)."""

    payout_id: int
    transfer_id: str
    amount_reversed_minor: int
    currency: str
    event_id: str


PaymentChange = CustomerSeen | Revenue | Refund | Dispute | PayoutAccount | TransferReversed
