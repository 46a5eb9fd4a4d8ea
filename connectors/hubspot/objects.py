"""The HubSpot CRM objects the hub reads and writes: what a mapping file may name for each, the
API path of each, the properties always read, and the unique property deals are keyed on."""

from __future__ import annotations

from connectors.errors import ConfigurationError
from connectors.values import ObjectSpec

#: the unique property deals are keyed on (``hasUniqueValue: true``, created by ``crm setup``)
TRACKING_ID = "partnerhub_tracking_id"

#: API object path per hub object type
_API_OBJECTS = {"contact": "contacts", "company": "companies", "deal": "deals"}

# What a mapping file may name for each object: a CRM record is ``{"id": …, "properties": {…},
# "associations": {…}, "archived": bool}`` as the v3 objects API returns it.
_COMMON = {"id": "id", "archived": "bool", "createdAt": "datetime", "updatedAt": "datetime"}
OBJECTS: dict[str, ObjectSpec] = {
    "deal": ObjectSpec(
        name="deal",
        fields={
            **_COMMON,
            "properties.dealname": "string",
            "properties.dealstage": "enum",
            "properties.pipeline": "enum",
            "properties.amount": "number",
            "properties.deal_currency_code": "string",
            "properties.closedate": "datetime",
            "properties.createdate": "datetime",
            "properties.hs_lastmodifieddate": "datetime",
            "properties.hubspot_owner_id": "id",
            "properties.partnerhub_partner_id": "string",
            "properties.partnerhub_tracking_id": "string",
            "properties.partnerhub_source": "string",
            "properties.partnerhub_partner_status": "string",
            "properties.partnerhub_partner_name": "string",
            "properties.partnerhub_attribution": "string",
            "properties.partnerhub_commission_amount": "number",
            "properties.partnerhub_commission_currency": "string",
            "properties.partnerhub_commission_state": "string",
            "associations.contacts": "list",
            "associations.companies": "list",
        },
        version_field="properties.hs_lastmodifieddate",
    ),
    "contact": ObjectSpec(
        name="contact",
        fields={
            **_COMMON,
            "properties.email": "string",
            "properties.firstname": "string",
            "properties.lastname": "string",
            "properties.company": "string",
            "properties.phone": "string",
            "properties.website": "string",
            "properties.lifecyclestage": "enum",
            "properties.country": "string",
            "properties.associatedcompanyid": "id",
            "properties.hubspot_owner_id": "id",
            "properties.lastmodifieddate": "datetime",
            "properties.partnerhub_partner_id": "string",
            "properties.partnerhub_tracking_id": "string",
        },
        version_field="properties.lastmodifieddate",
    ),
    "company": ObjectSpec(
        name="company",
        fields={
            **_COMMON,
            "properties.name": "string",
            "properties.domain": "string",
            "properties.country": "string",
            "properties.industry": "enum",
            "properties.numberofemployees": "number",
            "properties.state": "string",
            "properties.lifecyclestage": "enum",
            "properties.hubspot_owner_id": "id",
            "properties.hs_lastmodifieddate": "datetime",
            "properties.partnerhub_partner_id": "string",
        },
        version_field="properties.hs_lastmodifieddate",
    ),
}

#: properties always read (the version stamps); the mapping files add what they map
READ_PROPERTIES: dict[str, tuple[str, ...]] = {
    "deal": ("hs_lastmodifieddate",),
    "contact": ("lastmodifieddate",),
    "company": ("hs_lastmodifieddate",),
}


def api_object(obj: str) -> str:
    try:
        return _API_OBJECTS[obj]
    except KeyError:
        raise ConfigurationError(f"hubspot: no API object for {obj!r}") from None
