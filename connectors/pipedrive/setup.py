"""``crm setup`` on Pipedrive: the custom fields the partner flow needs, created (v2 field
endpoints) when missing and checked when present. Fields are found by name (their label in
snake case, ``fields.field_name``), so an admin may also create them by hand."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.errors import ConfigurationError
from connectors.pipedrive.client import PipedriveApi
from connectors.pipedrive.fields import FieldKeys, field_name
from connectors.pipedrive.objects import (
    COMPANY_DOMAIN,
    PARTNER_ID,
    TRACKING_ID,
    api_object,
)

#: field types that Pipedrive's search finds by value (the look-ups before create need that)
_SEARCHABLE = {"varchar", "text", "varchar_auto", "double", "monetary", "phone", "address"}


@dataclass(frozen=True, slots=True)
class CustomField:
    """A custom field the partner flow needs on a Pipedrive object."""

    object_type: str  # hub object: deal, contact, company
    label: str  # the Pipedrive label; its snake case is the name mapping files use
    searchable: bool = False

    @property
    def name(self) -> str:
        return field_name(self.label)


CUSTOM_FIELDS: tuple[CustomField, ...] = (
    CustomField("deal", "Partnerhub tracking ID", searchable=True),
    CustomField("deal", "Partnerhub partner ID"),
    CustomField("deal", "Partnerhub source"),
    CustomField("deal", "Partnerhub partner name"),
    CustomField("deal", "Partnerhub attribution"),
    CustomField("deal", "Partnerhub commission amount"),
    CustomField("deal", "Partnerhub commission currency"),
    CustomField("deal", "Partnerhub commission state"),
    CustomField("contact", "Partnerhub partner ID"),
    CustomField("contact", "Partnerhub tracking ID"),
    CustomField("company", "Partnerhub partner ID"),
    CustomField("company", "Partnerhub company domain", searchable=True),
)
assert {f.name for f in CUSTOM_FIELDS} >= {TRACKING_ID, PARTNER_ID, "partnerhub_source", COMPANY_DOMAIN}


def _state(api: PipedriveApi, fields: FieldKeys, obj: str) -> dict[str, dict[str, object]]:
    return {
        field_name(str(d.get("field_name") or "")): d
        for d in fields.definitions(api_object(obj).fields_path)
        if d.get("is_custom_field")
    }


def missing_setup(api: PipedriveApi, fields: FieldKeys) -> list[str]:
    lines = []
    states: dict[str, dict[str, dict[str, object]]] = {}
    for field in CUSTOM_FIELDS:
        state = states.setdefault(field.object_type, _state(api, fields, field.object_type))
        current = state.get(field.name)
        if current is None:
            lines.append(f"{field.object_type}.custom_fields.{field.name} is missing")
        elif field.searchable and current.get("field_type") not in _SEARCHABLE:
            lines.append(_not_searchable(field, str(current.get("field_type"))))
    return lines


def ensure_setup(api: PipedriveApi, fields: FieldKeys) -> list[str]:
    lines: list[str] = []
    problems: list[str] = []
    states: dict[str, dict[str, dict[str, object]]] = {}
    for field in CUSTOM_FIELDS:
        state = states.setdefault(field.object_type, _state(api, fields, field.object_type))
        current = state.get(field.name)
        where = f"{field.object_type}.custom_fields.{field.name}"
        if current is None:
            api.send(
                "POST",
                "v2",
                api_object(field.object_type).fields_path,
                body={"field_name": field.label, "field_type": "varchar"},
            )
            lines.append(f"{where}: created ({field.label!r}, text)")
        elif field.searchable and current.get("field_type") not in _SEARCHABLE:
            problems.append(_not_searchable(field, str(current.get("field_type"))))
        else:
            lines.append(f"{where}: present")
    fields.forget()
    if problems:
        raise ConfigurationError("; ".join(problems))
    return lines


def _not_searchable(field: CustomField, field_type: str) -> str:
    return (
        f"{field.object_type}.custom_fields.{field.name} is a {field_type!r} field, which Pipedrive's "
        f"search cannot find by value: delete or rename it in Pipedrive and run setup again"
    )
