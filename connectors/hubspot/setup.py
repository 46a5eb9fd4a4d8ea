"""``crm setup`` on HubSpot: the property group and custom properties the partner flow needs,
created when missing and checked when present (a unique property cannot be made unique later)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hubspot.crm.properties import (
    BatchInputPropertyCreate,
    CollectionResponsePropertyGroupNoPaging,
    CollectionResponsePropertyNoPaging,
    PropertyCreate,
    PropertyGroupCreate,
)

from connectors.errors import ConfigurationError
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.objects import TRACKING_ID
from connectors.hubspot.sdk import PROPERTIES_SDK, decode
from connectors.hubspot.tasks import TASK_KEY

#: the property group ``crm setup`` puts the hub's properties in
SETUP_GROUP = "partnerhub"


@dataclass(frozen=True, slots=True)
class CustomProperty:
    """A property the partner flow needs on a HubSpot object (created by ``crm setup``)."""

    object_type: str  # API object path: deals, contacts, companies
    name: str
    label: str
    description: str
    unique: bool = False


CUSTOM_PROPERTIES: tuple[CustomProperty, ...] = (
    CustomProperty(
        "deals",
        TRACKING_ID,
        "Partner referral tracking ID",
        "The partnerhub referral this deal came from (unique).",
        unique=True,
    ),
    CustomProperty("deals", "partnerhub_partner_id", "Partner ID", "The partner this deal is attributed to."),
    CustomProperty("deals", "partnerhub_source", "Partner source", "How the deal reached the partner program."),
    CustomProperty(
        "deals", "partnerhub_partner_status", "Partner referral status", "The referral status partners see."
    ),
    CustomProperty("deals", "partnerhub_partner_name", "Partner", "The partner this deal is attributed to, by name."),
    CustomProperty(
        "deals", "partnerhub_attribution", "Partner attribution", "How the deal was attributed to its partner."
    ),
    CustomProperty("deals", "partnerhub_commission_amount", "Partner commission", "The partner's commission."),
    CustomProperty(
        "deals", "partnerhub_commission_currency", "Partner commission currency", "ISO 4217 code of the commission."
    ),
    CustomProperty(
        "deals", "partnerhub_commission_state", "Partner commission state", "pending, approved, in_payout, paid..."
    ),
    CustomProperty("contacts", "partnerhub_partner_id", "Partner ID", "The partner who referred this contact."),
    CustomProperty(
        "contacts", TRACKING_ID, "Partner referral tracking ID", "The partnerhub referral this contact came from."
    ),
    CustomProperty("companies", "partnerhub_partner_id", "Partner ID", "The partner who referred this company."),
    CustomProperty(
        "tasks", TASK_KEY, "partnerhub task key", "The partnerhub action that made this task (one task per key)."
    ),
)


def missing_setup(api: HubSpotApi) -> list[str]:
    """What ``ensure_setup`` would create or cannot fix; empty when the account is ready."""
    lines: list[str] = []
    for path_obj, needed in _by_object(CUSTOM_PROPERTIES).items():
        has_group, existing = _setup_state(api, path_obj)
        if not has_group:
            lines.append(f"{path_obj}: property group {SETUP_GROUP!r} is missing")
        for prop in needed:
            current = existing.get(prop.name)
            if current is None:
                lines.append(f"{path_obj}.{prop.name} is missing")
            elif prop.unique and not current.has_unique_value:
                lines.append(_not_unique(path_obj, prop.name))
    return lines


def ensure_setup(api: HubSpotApi) -> list[str]:
    """Create the property group and properties the partner flow needs; check the rest."""
    lines: list[str] = []
    problems: list[str] = []
    for path_obj, needed in _by_object(CUSTOM_PROPERTIES).items():
        has_group, existing = _setup_state(api, path_obj)
        if not has_group:
            group = PropertyGroupCreate(name=SETUP_GROUP, label="Partner program", display_order=-1)
            api.send("POST", f"/crm/v3/properties/{path_obj}/groups", PROPERTIES_SDK.sanitize_for_serialization(group))
            lines.append(f"{path_obj}: created property group {SETUP_GROUP!r}")
        to_create = []
        for prop in needed:
            current = existing.get(prop.name)
            if current is None:
                to_create.append(prop)
            elif prop.unique and not current.has_unique_value:
                problems.append(_not_unique(path_obj, prop.name))
            else:
                lines.append(f"{path_obj}.{prop.name}: present" + (" (unique values)" if prop.unique else ""))
        if to_create:
            batch = BatchInputPropertyCreate(
                inputs=[
                    PropertyCreate(
                        name=p.name,
                        label=p.label,
                        description=p.description,
                        type="string",
                        field_type="text",
                        group_name=SETUP_GROUP,
                        has_unique_value=p.unique,
                        form_field=False,
                    )
                    for p in to_create
                ]
            )
            api.send(
                "POST", f"/crm/v3/properties/{path_obj}/batch/create", PROPERTIES_SDK.sanitize_for_serialization(batch)
            )
            lines.extend(f"{path_obj}.{p.name}: created" + (" (unique values)" if p.unique else "") for p in to_create)
    if problems:
        raise ConfigurationError("; ".join(problems))
    return lines


def _setup_state(api: HubSpotApi, path_obj: str) -> tuple[bool, dict[str, Any]]:
    groups: Any = decode(
        PROPERTIES_SDK,
        api.send("GET", f"/crm/v3/properties/{path_obj}/groups"),
        CollectionResponsePropertyGroupNoPaging,
    )
    props: Any = decode(
        PROPERTIES_SDK, api.send("GET", f"/crm/v3/properties/{path_obj}"), CollectionResponsePropertyNoPaging
    )
    has_group = any(g.name == SETUP_GROUP for g in groups.results or [])
    return has_group, {p.name: p for p in props.results or []}


def _by_object(props: Iterable[CustomProperty]) -> dict[str, list[CustomProperty]]:
    out: dict[str, list[CustomProperty]] = {}
    for prop in props:
        out.setdefault(prop.object_type, []).append(prop)
    return out


def _not_unique(path_obj: str, name: str) -> str:
    return (
        f"{path_obj}.{name} exists without unique values (hasUniqueValue); HubSpot cannot change "
        f"that on an existing property: delete or rename it in HubSpot and run setup again"
    )
