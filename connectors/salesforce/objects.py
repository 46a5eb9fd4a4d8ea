"""The Salesforce objects the hub reads and writes: their sObject names, what a mapping file may
name for each (the REST API's own field names), what polling and reads always select, and the
External ID fields writes are keyed on."""

from __future__ import annotations

from connectors.errors import ConfigurationError
from connectors.values import ObjectSpec

#: the External ID field referral records are keyed on (``crm setup`` checks it)
TRACKING_ID = "Partnerhub_Tracking_Id__c"
PARTNER_ID = "Partnerhub_Partner_Id__c"
SOURCE = "Partnerhub_Source__c"
#: partner data for sales reps on an Opportunity, written by the hub (``crm setup`` checks them)
DEAL_PARTNER_FIELDS = (
    "Partnerhub_Partner_Name__c",
    "Partnerhub_Attribution__c",
    "Partnerhub_Commission_Amount__c",
    "Partnerhub_Commission_Currency__c",
    "Partnerhub_Commission_State__c",
)
#: the Task field holding the outbox idempotency key (a lookup before create)
TASK_KEY = "Partnerhub_Key__c"

#: hub object type -> sObject
SOBJECTS = {"deal": "Opportunity", "contact": "Contact", "company": "Account", "lead": "Lead",
            "task": "Task"}  # fmt: skip
HUB_OBJECTS = {v: k for k, v in SOBJECTS.items()}

_SYSTEM = {"Id": "id", "IsDeleted": "bool", "CreatedDate": "datetime", "SystemModstamp": "datetime",
           "LastModifiedDate": "datetime", "attributes": "object"}  # fmt: skip

#: fields every read selects, per object (present in every org once ``crm setup`` is done);
#: mapping files add what else they name (e.g. ``CurrencyIsoCode`` in multi-currency orgs)
SELECT: dict[str, tuple[str, ...]] = {
    "deal": ("Id", "IsDeleted", "CreatedDate", "SystemModstamp", "Name", "StageName", "Amount",
             "CloseDate", "OwnerId", "AccountId", "IsClosed", "IsWon", TRACKING_ID, PARTNER_ID, SOURCE),
    "contact": ("Id", "IsDeleted", "CreatedDate", "SystemModstamp", "Email", "FirstName", "LastName",
                "AccountId", "OwnerId", TRACKING_ID, PARTNER_ID),
    "company": ("Id", "IsDeleted", "CreatedDate", "SystemModstamp", "Name", "Website", "Type",
                "OwnerId", TRACKING_ID, PARTNER_ID),
    "lead": ("Id", "IsDeleted", "CreatedDate", "SystemModstamp", "Email", "FirstName", "LastName",
             "Company", "Website", "Status", "IsConverted", "OwnerId", TRACKING_ID, PARTNER_ID),
}  # fmt: skip

OBJECTS: dict[str, ObjectSpec] = {
    "deal": ObjectSpec(
        name="deal",
        fields={**_SYSTEM, "Name": "string", "StageName": "enum", "Amount": "number",
                "CurrencyIsoCode": "string", "CloseDate": "date", "OwnerId": "id", "AccountId": "id",
                "IsClosed": "bool", "IsWon": "bool", "Probability": "number", "Type": "enum",
                "LeadSource": "enum", "RecordTypeId": "id", "Description": "string",
                TRACKING_ID: "string", PARTNER_ID: "string", SOURCE: "string",
                **dict.fromkeys(DEAL_PARTNER_FIELDS, "string")},
        key_field="Id", version_field="SystemModstamp",
    ),
    "contact": ObjectSpec(
        name="contact",
        fields={**_SYSTEM, "Email": "string", "FirstName": "string", "LastName": "string",
                "Phone": "string", "Title": "string", "AccountId": "id", "OwnerId": "id",
                "MailingCountry": "string",
                TRACKING_ID: "string", PARTNER_ID: "string"},
        key_field="Id", version_field="SystemModstamp",
    ),
    "company": ObjectSpec(
        name="company",
        fields={**_SYSTEM, "Name": "string", "Website": "string", "Type": "enum", "Industry": "enum",
                "BillingCountry": "string", "BillingState": "string", "NumberOfEmployees": "number",
                "OwnerId": "id",
                TRACKING_ID: "string", PARTNER_ID: "string"},
        key_field="Id", version_field="SystemModstamp",
    ),
    "lead": ObjectSpec(
        name="lead",
        fields={**_SYSTEM, "Email": "string", "FirstName": "string", "LastName": "string",
                "Company": "string", "Website": "string", "Status": "enum", "IsConverted": "bool",
                "ConvertedOpportunityId": "id", "OwnerId": "id", TRACKING_ID: "string",
                PARTNER_ID: "string"},
        key_field="Id", version_field="SystemModstamp",
    ),
}  # fmt: skip


def sobject(obj: str) -> str:
    """The sObject name of a hub object type (``deal`` -> ``Opportunity``)."""
    try:
        return SOBJECTS[obj]
    except KeyError:
        raise ConfigurationError(f"salesforce: no sObject for {obj!r}") from None


def select_fields(obj: str, paths: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The fields a read selects: the object's own list plus the top-level fields of ``paths``."""
    fields = list(SELECT.get(obj, ("Id", "IsDeleted", "SystemModstamp")))
    for path in paths:
        top = path.split(".", 1)[0]
        if top and top != "attributes" and top not in fields:
            fields.append(top)
    return fields
