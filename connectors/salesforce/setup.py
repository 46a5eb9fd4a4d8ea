"""``crm setup`` on Salesforce: the custom fields the partner flow needs, checked through
describe. The REST API cannot create fields (that takes the Metadata or Tooling API and a person's
decision about field-level security), so for anything missing it says exactly what to create:
object, field label and API name, type, length and the External ID / Unique boxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.errors import ConfigurationError
from connectors.salesforce.client import SalesforceApi
from connectors.salesforce.objects import PARTNER_ID, SOURCE, TASK_KEY, TRACKING_ID


@dataclass(frozen=True, slots=True)
class CustomField:
    sobject: str
    name: str  # API name, with __c
    label: str
    length: int
    external_id: bool = False
    where: str = ""  # Object Manager entry when it differs from the sObject (Task -> Activity)

    def instruction(self) -> str:
        boxes = ", tick 'Unique' and 'External ID'" if self.external_id else ""
        place = self.where or self.sobject
        return (
            f"Setup > Object Manager > {place} > Fields & Relationships > New: Text, "
            f"label '{self.label}', length {self.length}, field name '{self.name[:-3]}' "
            f"(API name {self.name}){boxes}; make it visible and editable for the integration user"
        )


FIELDS: tuple[CustomField, ...] = (
    CustomField("Opportunity", TRACKING_ID, "Partnerhub Tracking Id", 64, external_id=True),
    CustomField("Opportunity", PARTNER_ID, "Partnerhub Partner Id", 64),
    CustomField("Opportunity", SOURCE, "Partnerhub Source", 64),
    CustomField("Opportunity", "Partnerhub_Partner_Name__c", "Partnerhub Partner Name", 200),
    CustomField("Opportunity", "Partnerhub_Attribution__c", "Partnerhub Attribution", 32),
    CustomField("Opportunity", "Partnerhub_Commission_Amount__c", "Partnerhub Commission Amount", 32),
    CustomField("Opportunity", "Partnerhub_Commission_Currency__c", "Partnerhub Commission Currency", 3),
    CustomField("Opportunity", "Partnerhub_Commission_State__c", "Partnerhub Commission State", 16),
    CustomField("Contact", TRACKING_ID, "Partnerhub Tracking Id", 64, external_id=True),
    CustomField("Contact", PARTNER_ID, "Partnerhub Partner Id", 64),
    CustomField("Account", TRACKING_ID, "Partnerhub Tracking Id", 64, external_id=True),
    CustomField("Account", PARTNER_ID, "Partnerhub Partner Id", 64),
    CustomField("Lead", TRACKING_ID, "Partnerhub Tracking Id", 64, external_id=True),
    CustomField("Lead", PARTNER_ID, "Partnerhub Partner Id", 64),
    CustomField("Task", TASK_KEY, "Partnerhub Key", 255, where="Activity"),
)


def _problems(api: SalesforceApi) -> tuple[list[str], list[str]]:
    """(fields present, what to create or fix)."""
    present: list[str] = []
    problems: list[str] = []
    described: dict[str, dict[str, dict[str, Any]]] = {}
    for field in FIELDS:
        if field.sobject not in described:
            answer = api.describe(field.sobject)
            described[field.sobject] = {f["name"]: f for f in answer.get("fields", [])}
        current = described[field.sobject].get(field.name)
        where = f"{field.sobject}.{field.name}"
        if current is None:
            problems.append(f"{where} is missing: {field.instruction()}")
        elif current.get("type") not in ("string", "textarea"):
            problems.append(
                f"{where} has type {current.get('type')!r}, not Text: delete it and create it as: {field.instruction()}"
            )
        elif field.external_id and not (current.get("externalId") and current.get("unique")):
            problems.append(
                f"{where} must be an External ID with unique values: edit the field, tick 'External ID' and 'Unique'"
            )
        elif not current.get("updateable", True):
            problems.append(f"{where} is read-only for the integration user: grant Edit in its field-level security")
        else:
            present.append(f"{where}: present" + (" (External ID, unique)" if field.external_id else ""))
    return present, problems


def missing_setup(api: SalesforceApi) -> list[str]:
    return _problems(api)[1]


def ensure_setup(api: SalesforceApi) -> list[str]:
    present, problems = _problems(api)
    if problems:
        raise ConfigurationError(
            "Salesforce custom fields cannot be created through the REST API; create these, then run "
            "`partnerhub crm setup` again:\n  - " + "\n  - ".join(problems)
        )
    return present
