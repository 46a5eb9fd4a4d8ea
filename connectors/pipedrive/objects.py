"""The Pipedrive objects the hub reads and writes: the hub's name for each, the API that serves
it (v2 for deals, persons and organizations; v1 for leads, which exist nowhere else), the webhook
entity name, and what a mapping file may name.

A record, as mapping files address it, is the API's own JSON with two conveniences the connector
adds (both documented in docs/mappings.md):

* ``custom_fields`` keyed by field *name* (``custom_fields.partnerhub_tracking_id``), never by the
  40-character hash key Pipedrive uses; the connector resolves names to keys (``fields``);
* a few derived fields: ``primary_email`` on persons (the primary entry of ``emails``; writing it
  writes ``emails``) and ``stage_or_outcome`` on deals (the ``stage_id`` as text while the deal is
  open, ``won`` or ``lost`` once it is closed), so one value map gives the referral status.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.errors import ConfigurationError
from connectors.values import ObjectSpec

#: the custom field deals are keyed on (created by ``crm setup``), by name
TRACKING_ID = "partnerhub_tracking_id"
PARTNER_ID = "partnerhub_partner_id"
COMPANY_DOMAIN = "partnerhub_company_domain"


@dataclass(frozen=True, slots=True)
class ApiObject:
    """How one hub object lives at Pipedrive."""

    hub: str  # the hub's object name (deal, contact, company, lead)
    entity: str  # the webhook ``meta.entity`` / ``event_object`` (deal, person, organization, lead)
    path: str  # the collection path (/deals, /persons, /organizations, /leads)
    api: str  # "v2" or "v1"
    fields_path: str  # where its field definitions are listed (custom fields)


API_OBJECTS: dict[str, ApiObject] = {
    "deal": ApiObject("deal", "deal", "/deals", "v2", "/dealFields"),
    "contact": ApiObject("contact", "person", "/persons", "v2", "/personFields"),
    "company": ApiObject("company", "organization", "/organizations", "v2", "/organizationFields"),
    # leads share the deals' custom fields
    "lead": ApiObject("lead", "lead", "/leads", "v1", "/dealFields"),
}
#: webhook entity -> hub object name
BY_ENTITY = {o.entity: o.hub for o in API_OBJECTS.values()}


def api_object(obj: str) -> ApiObject:
    try:
        return API_OBJECTS[obj]
    except KeyError:
        raise ConfigurationError(f"pipedrive: no API object for {obj!r}") from None


_COMMON = {
    "id": "id",
    "add_time": "datetime",
    "update_time": "datetime",
    "owner_id": "id",
    "is_deleted": "bool",
    "custom_fields": "object",
}
OBJECTS: dict[str, ObjectSpec] = {
    "deal": ObjectSpec(
        name="deal",
        fields={
            **_COMMON,
            "title": "string",
            "person_id": "id",
            "org_id": "id",
            "pipeline_id": "id",
            "stage_id": "id",
            "status": "enum",
            "stage_or_outcome": "enum",
            "value": "number",
            "currency": "string",
            "close_time": "datetime",
            "won_time": "datetime",
            "lost_time": "datetime",
            "expected_close_date": "date",
            "is_archived": "bool",
            f"custom_fields.{TRACKING_ID}": "string",
            f"custom_fields.{PARTNER_ID}": "string",
            "custom_fields.partnerhub_source": "string",
        },
        version_field="update_time",
    ),
    "contact": ObjectSpec(
        name="contact",
        fields={
            **_COMMON,
            "name": "string",
            "first_name": "string",
            "last_name": "string",
            "org_id": "id",
            "emails": "list",
            "phones": "list",
            "primary_email": "string",
            "job_title": "string",
            f"custom_fields.{TRACKING_ID}": "string",
            f"custom_fields.{PARTNER_ID}": "string",
        },
        version_field="update_time",
    ),
    "company": ObjectSpec(
        name="company",
        fields={
            **_COMMON,
            "name": "string",
            "website": "string",
            "industry": "string",
            "employee_count": "number",
            "address": "object",
            "address.country": "string",
            "address.admin_area_level_1": "string",
            f"custom_fields.{PARTNER_ID}": "string",
            f"custom_fields.{COMPANY_DOMAIN}": "string",
        },
        version_field="update_time",
    ),
    "lead": ObjectSpec(
        name="lead",
        fields={
            "id": "id",
            "title": "string",
            "owner_id": "id",
            "person_id": "id",
            "organization_id": "id",
            "value": "object",
            "value.amount": "number",
            "value.currency": "string",
            "is_archived": "bool",
            "is_deleted": "bool",
            "expected_close_date": "date",
            "add_time": "datetime",
            "update_time": "datetime",
            "source_name": "string",
            "custom_fields": "object",
            f"custom_fields.{TRACKING_ID}": "string",
            f"custom_fields.{PARTNER_ID}": "string",
            "custom_fields.partnerhub_source": "string",
        },
        version_field="update_time",
    ),
}
