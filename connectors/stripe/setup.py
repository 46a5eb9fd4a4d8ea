"""``partnerhub webhooks register stripe``: the two webhook endpoints the hub needs, created
with the pinned API version, found by URL when they exist (running it twice creates nothing).

* the platform endpoint: payments, refunds, customers and transfer reversals of the company's
  own account;
* the Connect endpoint (``connect=true``): ``account.updated`` of the partners' connected
  accounts, which reach no other endpoint (``shared/PROVIDERS.md`` §7).

Both call the hub's Stripe receiver, the Connect one with ``?endpoint=connect`` so that the two
are told apart by URL (Stripe's endpoint object does not say whether it is a Connect endpoint).
Each has its own signing secret, which Stripe shows once in
the dashboard — both go into ``PARTNERHUB_STRIPE__WEBHOOK_SECRETS``. The hub never prints them.
"""

from __future__ import annotations

from typing import Any

from connectors.stripe.client import API_VERSION, StripeApi
from connectors.stripe.objects import CONNECT_EVENTS, PLATFORM_EVENTS


def _endpoints(api: StripeApi) -> list[dict[str, Any]]:
    return list(api.list_all("/v1/webhook_endpoints"))


def register_webhooks(api: StripeApi, base_url: str) -> list[str]:
    receiver = f"{base_url.rstrip('/')}/webhooks/stripe"
    existing = _endpoints(api)
    lines = []
    for connect, events, label in ((False, PLATFORM_EVENTS, "platform"), (True, CONNECT_EVENTS, "connect")):
        url = receiver + ("?endpoint=connect" if connect else "")
        found = next((e for e in existing if e.get("url") == url), None)
        if found is None:
            made = api.post(
                "/v1/webhook_endpoints",
                {
                    "url": url,
                    "enabled_events": list(events),
                    "api_version": API_VERSION,
                    "connect": connect,
                    "description": f"partnerhub ({label})",
                    "metadata": {"partnerhub": label},
                },
            )
            lines.append(
                f"{label}: created {made['id']} -> {url} (API {API_VERSION}); add its signing "
                "secret (Stripe dashboard > Developers > Webhooks) to PARTNERHUB_STRIPE__WEBHOOK_SECRETS"
            )
            continue
        enabled = set(found.get("enabled_events") or [])
        missing = [e for e in events if e not in enabled and "*" not in enabled]
        note = ""
        if missing:
            api.post(f"/v1/webhook_endpoints/{found['id']}", {"enabled_events": sorted(enabled | set(events))})
            note = f"; subscribed to {', '.join(missing)}"
        if found.get("api_version") != API_VERSION:
            note += (
                f"; WARNING its API version is {found.get('api_version') or 'the account default'}, not "
                f"{API_VERSION}: delete it in Stripe and run this again (the version cannot be changed)"
            )
        lines.append(f"{label}: found {found['id']} -> {url}{note}")
    return lines
