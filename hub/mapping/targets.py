"""The hub's records as mapping files name them: each target, its fields and their types.

This is the vocabulary on the hub's side of a mapping file. A field's type decides which
transforms may feed it (a ``money`` field needs the ``money`` transform) and, for ``enum`` fields,
which values a value map may produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: a referral's life, in the partner program's words
REFERRAL_STATUSES: tuple[str, ...] = (
    "submitted",
    "contacted",
    "demo_scheduled",
    "proposal_sent",
    "closed_won",
    "closed_lost",
)

#: SendGrid Event Webhook event types the hub records (delivery and engagement events)
EMAIL_EVENTS: tuple[str, ...] = (
    "processed",
    "dropped",
    "delivered",
    "deferred",
    "bounce",
    "open",
    "click",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
    "group_resubscribe",
)

#: the type words a target field may carry
FIELD_TYPES: tuple[str, ...] = (
    "string",  # text
    "id",  # an identifier, kept as text
    "email",  # a normalized e-mail address (text)
    "int",
    "decimal",
    "money",  # integer minor units of the currency held in the record's ``currency`` field
    "currency",  # ISO 4217 code
    "bool",
    "date",
    "datetime",  # aware, UTC
    "enum",  # text from a closed set (``TargetField.values``)
    "list",
)


@dataclass(frozen=True, slots=True)
class TargetField:
    name: str
    type: str
    values: tuple[str, ...] = ()  # the closed set of an ``enum`` field
    description: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """A kind of hub record a mapping file can produce.

    ``version_field`` is the field whose datetime orders changes (``Canonical.version_ms``).
    ``keyed`` is false for records that are events without a natural identity (an inbound
    e-mail); their key is a digest of their content.
    """

    name: str
    fields: Mapping[str, TargetField]
    version_field: str | None = None
    keyed: bool = True
    description: str = ""
    _order: tuple[str, ...] = field(default=(), repr=False)


def _target(
    name: str,
    description: str,
    *fields: TargetField,
    version_field: str | None = None,
    keyed: bool = True,
) -> Target:
    return Target(
        name=name,
        fields=MappingProxyType({f.name: f for f in fields}),
        version_field=version_field,
        keyed=keyed,
        description=description,
        _order=tuple(f.name for f in fields),
    )


F = TargetField

TARGETS: Mapping[str, Target] = MappingProxyType(
    {
        "deal": _target(
            "deal",
            "A CRM deal (opportunity) and the referral status it stands for.",
            F("external_id", "id", description="The provider's id of the deal."),
            F("name", "string"),
            F("stage", "string", description="The provider's own stage id, as is."),
            F("status", "enum", REFERRAL_STATUSES, "The referral status the stage stands for."),
            F("pipeline", "string"),
            F("amount", "money", description="Integer minor units of `currency`."),
            F("currency", "currency", description="ISO 4217 code."),
            F("close_date", "datetime"),
            F("created_at", "datetime"),
            F("modified_at", "datetime", description="The provider's modification stamp."),
            F("owner_id", "id"),
            F("partner_id", "string"),
            F("tracking_id", "string"),
            F("source", "string", description="How the deal reached the CRM (e.g. partner)."),
            F("partner_name", "string", description="The name of the partner the deal is attributed to (hub's)."),
            F(
                "attribution",
                "string",
                description="How the deal was attributed: tracking_id, partner_id, email, domain, admin (hub's).",
            ),
            F("commission_amount", "money", description="The deal's commission, minor units of `commission_currency`."),
            F("commission_currency", "currency", description="ISO 4217 code of the commission."),
            F(
                "commission_state",
                "string",
                description="The commission's state: pending, approved, in_payout, paid, cancelled, reversed.",
            ),
            F("contact_ids", "list"),
            F("company_ids", "list"),
            F("deleted", "bool"),
            F(
                "payment_customer_id",
                "id",
                description="The payment provider's customer this deal became (e.g. a Stripe cus_ id).",
            ),
            version_field="modified_at",
        ),
        "contact": _target(
            "contact",
            "A person in the CRM.",
            F("external_id", "id"),
            F("email", "email"),
            F("first_name", "string"),
            F("last_name", "string"),
            F("company_name", "string"),
            F("company_domain", "string"),
            F("phone", "string"),
            F("partner_id", "string"),
            F("tracking_id", "string"),
            F("owner_id", "id"),
            F("country", "string"),
            F(
                "lifecycle_stage",
                "string",
                description="The CRM's stage of the person; one starting with `customer` makes a customer.",
            ),
            F("company_ids", "list", description="The provider ids of the person's companies."),
            F("modified_at", "datetime"),
            F("deleted", "bool"),
            version_field="modified_at",
        ),
        "company": _target(
            "company",
            "An organisation in the CRM.",
            F("external_id", "id"),
            F("name", "string"),
            F("domain", "string", description="The web domain referrals are matched on (a URL's host counts)."),
            F("country", "string"),
            F("industry", "string"),
            F("employees", "int"),
            F("region", "string", description="A state, province or sales region."),
            F(
                "lifecycle_stage",
                "string",
                description="The CRM's stage or type of the company; one starting with `customer` makes a customer.",
            ),
            F("partner_id", "string"),
            F("owner_id", "id"),
            F("modified_at", "datetime"),
            F("deleted", "bool"),
            version_field="modified_at",
        ),
        "notification_event": _target(
            "notification_event",
            "What happened to an e-mail the hub sent (delivered, bounced, opened, ...).",
            F("notification_id", "string", description="The hub's notification, a custom arg."),
            F("email", "email"),
            F("event", "enum", EMAIL_EVENTS),
            F("reason", "string"),
            F("status", "string"),
            F("occurred_at", "datetime"),
            F("provider_event_id", "id"),
            F("provider_message_id", "id"),
            F("asm_group_id", "int"),
            F("partner_id", "string", description="The hub's partner, a custom arg."),
            F("bounce_type", "string", description="bounce (hard) or blocked, on bounce events."),
            version_field="occurred_at",
        ),
        "payment_customer": _target(
            "payment_customer",
            "A paying customer at a payment provider, and what attributes it to a partner.",
            F("external_id", "id", description="The provider's customer id."),
            F("email", "email"),
            F("name", "string"),
            F("tracking_id", "string", description="A referral's tracking id the customer carries."),
            F("partner_id", "string", description="The hub partner id the customer carries."),
            F("crm_deal_id", "id", description="The CRM deal the customer belongs to."),
            F("created_at", "datetime"),
            F("deleted", "bool"),
        ),
        "inbound_email": _target(
            "inbound_email",
            "An e-mail received through the provider's inbound parse.",
            F("sender", "email"),
            F("sender_domain", "string"),
            F("recipients", "list"),
            F("subject", "string"),
            F("text", "string"),
            F("html", "string"),
            F("spf", "string"),
            F("dkim", "string"),
            F("message_headers", "string"),
            F("cc", "list"),
            F("delivered_to", "list", description="The hub's own addresses that received it."),
            F("message_id", "string", description="The Message-ID header."),
            F("route", "string", description="referral | reply | other: which hub address it reached."),
            F("reply_notification_id", "string", description="The notification a reply answers."),
            keyed=False,
        ),
    }
)


def field_order(target: Target) -> tuple[str, ...]:
    """The target's fields in their declared order (for stable output)."""
    return target._order or tuple(target.fields)
