"""What each Stripe event means to the partner program (``connectors.payments``), re-reading
objects through the API where the event alone cannot be trusted.

Shapes are those of API version ``client.API_VERSION`` (2023-08-16): an ``invoice`` carries
``subscription``, ``charge``, ``amount_paid``, ``status_transitions.paid_at`` and ``lines``;
a ``charge`` carries ``invoice``, ``payment_intent`` and the cumulative ``amount_refunded``
(its ``refunds`` list is not included by default); a ``refund`` carries its own ``amount``,
``status`` and ``charge``.

Order is not guaranteed and events repeat, so:

* every refund becomes its own fact keyed on the refund id (``stripe:refund:re_…``), with that
  refund's amount as Stripe reports it *now* (re-read): ``charge.refunded`` lists the charge's
  refunds instead of using its cumulative ``amount_refunded``, so two partial refunds arriving in
  any order, each also reported by ``charge.refunded``, sum to what was refunded;
* ``account.updated`` re-reads the account (an older event must not switch transfers back off)
  and reports the fingerprints of its external accounts (``external_accounts.data[].fingerprint``)
  and its e-mail, so the hub can tell when a partner's payout details change or match another's;
* ``charge.dispute.*`` re-reads the dispute: its current status says whether the money was lost
  (``lost``: taken back like a refund of the charge's revenue, keyed on the dispute id);
* a checkout in ``subscription`` mode gives no fact: its money is the first invoice's
  (``invoice.paid``), which would otherwise count twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.payments import (
    CustomerSeen,
    Dispute,
    PaymentChange,
    PayoutAccount,
    Refund,
    Revenue,
    TransferReversed,
)
from connectors.stripe.client import StripeApi

SOURCE = "stripe"
PAYOUT_GROUP_PREFIX = "payout_"


def _at(seconds: Any) -> datetime | None:
    return datetime.fromtimestamp(int(seconds), tz=UTC) if seconds not in (None, "") else None


def _id(value: Any) -> str | None:
    """An expandable field holds an id or the expanded object."""
    if isinstance(value, Mapping):
        return str(value.get("id")) if value.get("id") else None
    return str(value) if value else None


def invoice_key(invoice_id: str) -> str:
    return f"{SOURCE}:invoice:{invoice_id}"


def checkout_key(session_id: str) -> str:
    return f"{SOURCE}:checkout:{session_id}"


def refund_key(refund_id: str) -> str:
    return f"{SOURCE}:refund:{refund_id}"


def dispute_key(dispute_id: str) -> str:
    return f"{SOURCE}:dispute:{dispute_id}"


def payout_id_of(transfer: Mapping[str, Any]) -> int | None:
    """The hub payout a transfer was made for: ``metadata.payout_id``, else its
    ``transfer_group`` ``payout_<id>``; ``None`` for a transfer the hub did not make."""
    raw = (transfer.get("metadata") or {}).get("payout_id")
    if raw is None:
        group = str(transfer.get("transfer_group") or "")
        raw = group[len(PAYOUT_GROUP_PREFIX) :] if group.startswith(PAYOUT_GROUP_PREFIX) else None
    return int(raw) if raw is not None and str(raw).isdigit() else None


class Meaning:
    """``changes(event)`` for one Stripe event; ``api`` is used only when it has a key."""

    def __init__(self, api: StripeApi):
        self.api = api

    def changes(self, event: Mapping[str, Any]) -> list[PaymentChange]:
        kind = str(event.get("type") or "")
        obj = (event.get("data") or {}).get("object") or {}
        created_ms = int(event.get("created") or 0) * 1000
        if kind in ("customer.created", "customer.updated", "customer.deleted"):
            return [CustomerSeen(str(obj["id"]), dict(obj), created_ms, deleted=kind == "customer.deleted")]
        if kind == "invoice.paid":
            return self._invoice(obj)
        if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            return self._checkout(obj, _at(event.get("created")))
        if kind in ("refund.created", "refund.updated"):
            refund = self._current(f"/v1/refunds/{obj['id']}", obj)
            return [self._refund(refund)] if refund is not None else []
        if kind == "charge.refunded":
            return [self._refund(r, charge=obj) for r in self._refunds_of(obj)]
        if kind == "account.updated":
            account = self._current(f"/v1/accounts/{obj['id']}", obj) or obj
            return [
                PayoutAccount(
                    str(obj["id"]),
                    transfers_ready(account),
                    fingerprints=payout_fingerprints(account),
                    email=str(account["email"]) if account.get("email") else None,
                )
            ]
        if kind.startswith("charge.dispute."):
            dispute = self._current(f"/v1/disputes/{obj['id']}", obj)
            return [self._dispute(dispute)] if dispute is not None else []
        if kind == "transfer.reversed":
            payout_id = payout_id_of(obj)
            if payout_id is None:
                return []
            return [
                TransferReversed(
                    payout_id,
                    str(obj["id"]),
                    int(obj.get("amount_reversed") or 0),
                    str(obj.get("currency") or ""),
                    str(event.get("id")),
                )
            ]
        return []

    def read_customer(self, customer_id: str) -> CustomerSeen | None:
        """The customer as Stripe holds it now (a payment can arrive before its customer's event)."""
        if not self.api.ready:
            return None
        found = self.api.get_or_none(f"/v1/customers/{customer_id}")
        if found is None:
            return None
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return CustomerSeen(customer_id, found, now_ms, deleted=bool(found.get("deleted")))

    # -- helpers ----------------------------------------------------------------------------

    def _current(self, path: str, fallback: Mapping[str, Any]) -> dict[str, Any] | None:
        """The object re-read through the API (``None``: gone), or the event's copy without a key."""
        if not self.api.ready:
            return dict(fallback)
        return self.api.get_or_none(path)

    def _invoice(self, invoice: Mapping[str, Any]) -> list[PaymentChange]:
        amount = int(invoice.get("amount_paid") or 0)
        if amount <= 0:
            return []  # a trial or fully credited invoice: no money moved
        lines = (invoice.get("lines") or {}).get("data") or []
        first = lines[0] if lines else {}
        price = first.get("price") or {}
        period = first.get("period") or {}
        subscription = _id(invoice.get("subscription"))
        paid_at = (invoice.get("status_transitions") or {}).get("paid_at") or invoice.get("created")
        return [
            Revenue(
                key=invoice_key(str(invoice["id"])),
                customer_id=_id(invoice.get("customer")),
                amount_minor=amount,
                currency=str(invoice.get("currency") or ""),
                occurred_at=_at(paid_at) or datetime.now(UTC),
                status="paid",
                recurrence="recurring" if subscription else "one_time",
                product=_id(price) or None,
                period_start=_at(period.get("start") or invoice.get("period_start")),
                period_end=_at(period.get("end") or invoice.get("period_end")),
                details={
                    "invoice": invoice["id"],
                    "subscription": subscription,
                    "charge": _id(invoice.get("charge")),
                    "payment_intent": _id(invoice.get("payment_intent")),
                    "product": _id(price.get("product")),
                    "billing_reason": invoice.get("billing_reason"),
                },
            )
        ]

    def _checkout(self, session: Mapping[str, Any], at: datetime | None) -> list[PaymentChange]:
        if session.get("mode") == "subscription" or session.get("payment_status") != "paid":
            return []  # subscription money arrives as invoice.paid; unpaid: nothing received yet
        amount = int(session.get("amount_total") or 0)
        if amount <= 0:
            return []
        price = None
        if self.api.ready:
            items = self.api.get(f"/v1/checkout/sessions/{session['id']}/line_items", {"limit": 1})
            data = items.get("data") or []
            price = _id((data[0] if data else {}).get("price"))
        return [
            Revenue(
                key=checkout_key(str(session["id"])),
                customer_id=_id(session.get("customer")),
                amount_minor=amount,
                currency=str(session.get("currency") or ""),
                occurred_at=at or datetime.now(UTC),
                status="paid",
                product=price,
                details={"checkout_session": session["id"], "payment_intent": _id(session.get("payment_intent"))},
            )
        ]

    def _refunds_of(self, charge: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every refund of a charge, each with its own id and amount (never the cumulative
        ``amount_refunded``)."""
        if self.api.ready:
            return list(self.api.list_all("/v1/refunds", {"charge": charge["id"]}))
        return list(((charge.get("refunds") or {}).get("data")) or [])

    def _refund(self, refund: Mapping[str, Any], charge: Mapping[str, Any] | None = None) -> Refund:
        charge_id = _id(refund.get("charge"))
        if charge is None and charge_id and self.api.ready:
            charge = self.api.get_or_none(f"/v1/charges/{charge_id}")
        charge = charge or {}
        return Refund(
            key=refund_key(str(refund["id"])),
            revenue_key=self._revenue_key(charge, charge_id),
            customer_id=_id(charge.get("customer")),
            # a failed or canceled refund gave nothing back
            amount_minor=0 if refund.get("status") in ("failed", "canceled") else -int(refund.get("amount") or 0),
            currency=str(refund.get("currency") or charge.get("currency") or ""),
            occurred_at=_at(refund.get("created")) or datetime.now(UTC),
            status=str(refund.get("status") or "pending"),
            details={
                "refund": refund["id"],
                "charge": charge_id,
                "reason": refund.get("reason"),
                "requested_minor": int(refund.get("amount") or 0),
            },
        )

    def _dispute(self, dispute: Mapping[str, Any]) -> Dispute:
        charge_id = _id(dispute.get("charge"))
        expanded = dispute.get("charge")
        charge: Mapping[str, Any] = expanded if isinstance(expanded, Mapping) else {}
        if not charge and charge_id and self.api.ready:
            charge = self.api.get_or_none(f"/v1/charges/{charge_id}") or {}
        return Dispute(
            key=dispute_key(str(dispute["id"])),
            revenue_key=self._revenue_key(charge, charge_id),
            customer_id=_id(charge.get("customer")),
            amount_minor=int(dispute.get("amount") or 0),
            currency=str(dispute.get("currency") or charge.get("currency") or ""),
            occurred_at=_at(dispute.get("created")) or datetime.now(UTC),
            status=str(dispute.get("status") or "needs_response"),
            details={"dispute": dispute["id"], "charge": charge_id, "reason": dispute.get("reason")},
        )

    def _revenue_key(self, charge: Mapping[str, Any], charge_id: str | None) -> str | None:
        """The revenue fact a refunded charge belongs to: its invoice's, else the checkout
        session that made its payment intent."""
        invoice = _id(charge.get("invoice"))
        if invoice:
            return invoice_key(invoice)
        intent = _id(charge.get("payment_intent"))
        if intent and self.api.ready:
            sessions = self.api.get("/v1/checkout/sessions", {"payment_intent": intent, "limit": 1}).get("data") or []
            if sessions:
                return checkout_key(str(sessions[0]["id"]))
        return f"{SOURCE}:charge:{charge_id}" if charge_id else None


def transfers_ready(account: Mapping[str, Any]) -> bool:
    """A connected account can receive transfers when its ``transfers`` capability is active
    (accounts without that capability listed: when Stripe says payouts are enabled)."""
    capabilities = account.get("capabilities") or {}
    if "transfers" in capabilities:
        return capabilities.get("transfers") == "active"
    return bool(account.get("payouts_enabled"))


def payout_fingerprints(account: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The fingerprints of the bank accounts and cards a connected account pays out to
    (``external_accounts.data[].fingerprint``), sorted; ``None`` when the account object does
    not list its external accounts (then nothing is known about them)."""
    listed = account.get("external_accounts")
    if not isinstance(listed, Mapping) or not isinstance(listed.get("data"), list):
        return None
    return tuple(
        sorted({str(x["fingerprint"]) for x in listed["data"] if isinstance(x, Mapping) and x.get("fingerprint")})
    )
