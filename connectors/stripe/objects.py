"""The Stripe objects the hub receives, as mapping files may name them (API version
``client.API_VERSION``), and the events the hub subscribes to."""

from __future__ import annotations

from connectors.values import ObjectSpec

#: events of the platform account the hub acts on (the platform webhook endpoint subscribes to these)
PLATFORM_EVENTS: tuple[str, ...] = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "invoice.paid",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "transfer.reversed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
#: events of connected accounts (partners' accounts); they reach only a Connect endpoint
CONNECT_EVENTS: tuple[str, ...] = ("account.updated",)

# A Stripe customer as events (``data.object``) and ``GET /v1/customers/{id}`` carry it.
OBJECTS: dict[str, ObjectSpec] = {
    "customer": ObjectSpec(
        name="customer",
        fields={
            "id": "id",
            "object": "string",
            "email": "string",
            "name": "string",
            "description": "string",
            "phone": "string",
            "created": "datetime",  # Unix seconds
            "deleted": "bool",
            "livemode": "bool",
            "metadata": "object",  # string values set by the company (tracking id, partner id, deal id)
            "address": "object",
        },
    ),
}
