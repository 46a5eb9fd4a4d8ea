"""Stripe: payments, refunds and customers in (signed webhooks, and ``GET /v1/events`` as the
safety net), Connect transfers out to partners, pinned to one API version.

One module per concept:

* ``settings``: ``StripeSettings`` (``PARTNERHUB_STRIPE__*``);
* ``client``: ``StripeApi``, every call authenticated, ``Stripe-Version`` pinned, form-encoded,
  errors classified (``OutcomeUnknown`` when money may have moved);
* ``webhooks``: the ``Stripe-Signature`` check (several secrets) and events as inbox changes;
* ``objects``: the events subscribed to and the customer fields mapping files may name;
* ``meaning``: what each event means to the partner program (``connectors.payments``);
* ``transfers``: ``create_transfer`` (looked up before it is made) and ``find_transfers``;
* ``polling``: ``GET /v1/events`` from a ``created`` cursor;
* ``setup``: the platform and Connect webhook endpoints;
* ``connector``: ``StripeConnector``, composed from the above.
"""

from __future__ import annotations

from connectors.stripe.client import API_VERSION, StripeApi, encode
from connectors.stripe.connector import StripeConnector
from connectors.stripe.objects import CONNECT_EVENTS, OBJECTS, PLATFORM_EVENTS
from connectors.stripe.settings import StripeSettings
from connectors.stripe.webhooks import compute_signature

__all__ = [
    "API_VERSION",
    "CONNECT_EVENTS",
    "OBJECTS",
    "PLATFORM_EVENTS",
    "StripeApi",
    "StripeConnector",
    "StripeSettings",
    "compute_signature",
    "encode",
]
