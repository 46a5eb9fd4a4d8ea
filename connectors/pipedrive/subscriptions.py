"""The hub's webhooks at Pipedrive: created through the API with their Basic credentials
(``partnerhub webhooks register pipedrive``), and watched.

Pipedrive bans a webhook for 30 minutes after 10 failed deliveries (events meanwhile are lost)
and deletes it after 3 days without a success (``shared/PROVIDERS.md`` §3.3). ``check`` lists the
webhooks (v1 ``GET /webhooks``: ``is_active``, ``last_http_status``), re-creates a missing or
inactive one, and returns every problem it saw, which the scheduler turns into an alert.
"""

from __future__ import annotations

from typing import Any

from connectors.errors import ConfigurationError
from connectors.pipedrive.client import PipedriveApi
from connectors.pipedrive.settings import PipedriveSettings

NAME_PREFIX = "partnerhub"


def endpoint(base_url: str) -> str:
    return base_url.rstrip("/") + "/webhooks/pipedrive"


def _ours(api: PipedriveApi, url: str) -> dict[str, list[dict[str, Any]]]:
    response = api.send("GET", "v1", "/webhooks")
    out: dict[str, list[dict[str, Any]]] = {}
    for hook in api.json(response).get("data") or []:
        if isinstance(hook, dict) and hook.get("subscription_url") == url:
            out.setdefault(str(hook.get("event_object")), []).append(hook)
    return out


def _create(api: PipedriveApi, settings: PipedriveSettings, url: str, entity: str) -> int:
    if settings.webhook_password is None:
        raise ConfigurationError(
            "PARTNERHUB_PIPEDRIVE__WEBHOOK_PASSWORD is not set: Pipedrive webhooks must carry HTTP Basic credentials"
        )
    response = api.send(
        "POST",
        "v1",
        "/webhooks",
        body={
            "subscription_url": url,
            "event_action": "*",
            "event_object": entity,
            "version": "2.0",
            "name": f"{NAME_PREFIX} {entity}",
            "http_auth_user": settings.webhook_user,
            "http_auth_password": settings.webhook_password.get_secret_value(),
        },
    )
    return int((api.json(response).get("data") or {}).get("id") or 0)


def _healthy(hook: dict[str, Any]) -> bool:
    return str(hook.get("is_active", 1)) in ("1", "True", "true") and str(hook.get("version")) == "2.0"


def register(api: PipedriveApi, settings: PipedriveSettings, base_url: str) -> list[str]:
    """One line per webhook created, found or replaced; running it twice creates nothing new."""
    url = endpoint(base_url)
    existing = _ours(api, url)
    lines = []
    for entity in settings.webhook_objects:
        hooks = existing.get(entity, [])
        good = [h for h in hooks if _healthy(h)]
        if good:
            lines.append(f"pipedrive {entity}: webhook {good[0].get('id')} -> {url} (present)")
            continue
        for hook in hooks:  # inactive or v1: replaced
            api.send("DELETE", "v1", "/webhooks/{id}", path_params={"id": hook["id"]}, allow=(404, 410))
        hook_id = _create(api, settings, url, entity)
        lines.append(f"pipedrive {entity}: webhook {hook_id} -> {url} (created)")
    return lines


def check(api: PipedriveApi, settings: PipedriveSettings, base_url: str) -> list[str]:
    """Problems seen (each missing or inactive webhook is re-created); ``[]``: all healthy."""
    url = endpoint(base_url)
    existing = _ours(api, url)
    problems = []
    for entity in settings.webhook_objects:
        hooks = existing.get(entity, [])
        good = [h for h in hooks if _healthy(h)]
        if not hooks:
            hook_id = _create(api, settings, url, entity)
            problems.append(
                f"pipedrive {entity} webhook was gone (Pipedrive deletes a webhook after 3 days "
                f"without a successful delivery); re-registered as {hook_id}"
            )
        elif not good:
            for hook in hooks:
                api.send("DELETE", "v1", "/webhooks/{id}", path_params={"id": hook["id"]}, allow=(404, 410))
            hook_id = _create(api, settings, url, entity)
            problems.append(
                f"pipedrive {entity} webhook {hooks[0].get('id')} was inactive (banned after failed "
                f"deliveries; events in a ban are lost: run a sync); re-registered as {hook_id}"
            )
        else:
            status = good[0].get("last_http_status")
            if status is not None and not 200 <= int(status) < 300:
                problems.append(
                    f"pipedrive {entity} webhook {good[0].get('id')}: last delivery answered "
                    f"{status} (10 failures ban it for 30 minutes)"
                )
    return problems
