"""``partnerhub webhooks register sendgrid``: the signed Event Webhook and the Inbound Parse
route, set up through SendGrid's API (``shared/specs/sendgrid/tsg_webhooks_v3.json``).

Idempotent: an Event Webhook already pointing at the hub is found (``GET …/settings/all``) and
only patched when its event selection differs; signing is switched on (``PATCH
…/settings/signed/{id}``), which answers with the public key the hub verifies with; the Parse
setting for ``parse_hostname`` is created or its URL corrected. The public key is not a secret:
it is printed for the admin to set as ``PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY``. The
parse URL's secret segment is never printed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from connectors.errors import ConfigurationError, HubError
from connectors.http import Call
from connectors.sendgrid.client import SendGridApi
from connectors.sendgrid.settings import SendGridSettings

EVENT_SETTINGS = "/v3/user/webhooks/event/settings"
PARSE_SETTINGS = "/v3/user/webhooks/parse/settings"
#: the events the hub records (``mappings/sendgrid/events.yaml``); opens and clicks are not asked for
EVENT_SELECTION: dict[str, bool] = {
    "processed": True, "delivered": True, "deferred": True, "bounce": True, "dropped": True,
    "spam_report": True, "unsubscribe": True, "group_unsubscribe": True, "group_resubscribe": True,
    "open": False, "click": False,
}  # fmt: skip
FRIENDLY_NAME = "partnerhub"


def event_webhook_url(base_url: str) -> str:
    return f"{base_url}/webhooks/sendgrid"


def parse_url(base_url: str, secret: str) -> str:
    return f"{base_url}/webhooks/sendgrid/{quote(secret, safe='')}/parse"


def register(api: SendGridApi, settings: SendGridSettings, base_url: str) -> list[str]:
    return [*_event_webhook(api, settings, base_url), *_parse_route(api, settings, base_url)]


def _event_webhook(api: SendGridApi, settings: SendGridSettings, base_url: str) -> list[str]:
    url = event_webhook_url(base_url)
    listed = _call(api, "GET", f"{EVENT_SETTINGS}/all")
    found = next((w for w in listed.get("webhooks") or [] if w.get("url") == url), None)
    wanted = {"enabled": True, "url": url, **EVENT_SELECTION}
    if found is None:
        found = _call(api, "POST", EVENT_SETTINGS, {**wanted, "friendly_name": FRIENDLY_NAME})
        what = "created"
    elif any(found.get(k) != v for k, v in wanted.items()):
        found = _call(api, "PATCH", f"{EVENT_SETTINGS}/{found['id']}", {**wanted, "friendly_name": FRIENDLY_NAME})
        what = "updated"
    else:
        what = "found"
    webhook_id = str(found.get("id") or "")
    if not webhook_id:
        raise ConfigurationError("sendgrid: the Event Webhook answer carries no id")
    signed = _call(api, "PATCH", f"{EVENT_SETTINGS}/signed/{webhook_id}", {"enabled": True})
    public_key = str(signed.get("public_key") or "")
    lines = [f"sendgrid event webhook {webhook_id} {what}: {url} (signed)"]
    if public_key and public_key == (settings.event_webhook_public_key or "").strip():
        lines.append("sendgrid event webhook public key: PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY matches")
    elif public_key:
        lines.append(f"set PARTNERHUB_SENDGRID__EVENT_WEBHOOK_PUBLIC_KEY={public_key}")
    return lines


def _parse_route(api: SendGridApi, settings: SendGridSettings, base_url: str) -> list[str]:
    if not settings.parse_hostname or settings.parse_secret is None:
        return ["sendgrid inbound parse: skipped (set PARTNERHUB_SENDGRID__PARSE_HOSTNAME and __PARSE_SECRET)"]
    hostname = settings.parse_hostname.lower()
    url = parse_url(base_url, settings.parse_secret.get_secret_value())
    shown = parse_url(base_url, "<secret>")
    listed = _call(api, "GET", PARSE_SETTINGS)
    found = next((p for p in listed.get("result") or [] if str(p.get("hostname", "")).lower() == hostname), None)
    body = {"url": url, "spam_check": False, "send_raw": False}
    if found is None:
        _call(api, "POST", PARSE_SETTINGS, {"hostname": hostname, **body})
        what = "created"
    elif found.get("url") != url or found.get("send_raw"):
        _call(api, "PATCH", f"{PARSE_SETTINGS}/{quote(hostname, safe='')}", body)
        what = "updated"
    else:
        what = "found"
    return [f"sendgrid inbound parse {hostname} {what}: {shown} (MX {hostname} -> mx.sendgrid.net)"]


def _call(api: SendGridApi, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One settings call through the pipeline; any failure is a setup problem for a person."""
    try:
        response = api.execute(Call(method, path, json=body))
    except HubError as exc:
        raise ConfigurationError(f"sendgrid: {method} {path}: {exc}") from None
    if not response.content:
        return {}
    data = response.json()
    return data if isinstance(data, dict) else {}
