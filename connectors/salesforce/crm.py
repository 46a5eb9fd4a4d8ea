"""The partner flow's CRM surface on Salesforce (``connectors.capabilities.CrmConnector``): conflicts for
a referral's email or domain, who a deal is with, and the outbox actions.

Writes go through sObject Collections. Accounts, Contacts and Opportunities the hub creates are
upserted by the External ID field ``Partnerhub_Tracking_Id__c``, so a re-run finds or updates the
same record instead of making a second; an existing record the hub did not create is never
overwritten (an existing Opportunity only gets the fields it lacks). Opportunity contact roles
and Tasks have no External ID: a lookup comes before the create (Tasks by ``Partnerhub_Key__c``,
the outbox idempotency key). Every value in a query goes through ``soql``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.errors import FatalError, RetriableError, first_error
from connectors.salesforce import soql
from connectors.salesforce.client import SalesforceApi, result_error
from connectors.salesforce.objects import TASK_KEY, TRACKING_ID
from connectors.salesforce.settings import SalesforceSettings
from connectors.values import CrmMatch, DealParties

#: payload keys that are instructions, not Salesforce fields
_CONTROL = {"deal_id", "tracking_id", "referral_id", "email", "domain", "properties"}


class _Referral(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tracking_id: str = Field(min_length=1, max_length=64)
    contact: dict[str, Any] | None = None
    company: dict[str, Any] | None = None
    deal: dict[str, Any] = Field(default_factory=dict)
    owner_id: str | None = None


class _Task(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: str = Field(min_length=1, max_length=255)
    body: str | None = None
    owner_id: str | None = None
    due_at: str | None = None


# -- values ------------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    """A value as Salesforce's JSON takes it (dates ISO 8601, the rest as is)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _fields(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Salesforce fields of a payload part (the mapping's outbound output), names checked."""
    out = {}
    for key, value in (data or {}).items():
        if key in _CONTROL:
            continue
        out[soql.name(str(key))] = _value(value)
    return out


def host_of(website: Any) -> str:
    text = str(website or "").strip().lower()
    if not text:
        return ""
    host = urlsplit(text if "://" in text else "//" + text).hostname or ""
    return host.removeprefix("www.")


def _same_domain(website: Any, domain: str) -> bool:
    host = host_of(website)
    return bool(host) and (host == domain or host.endswith("." + domain))


def _name(row: Mapping[str, Any]) -> str | None:
    full = f"{row.get('FirstName') or ''} {row.get('LastName') or ''}".strip()
    return row.get("Name") or full or row.get("Email") or None


def _only(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in rows if not r.get("IsDeleted")]


# -- conflicts and parties --------------------------------------------------------------------


def find_conflicts(api: SalesforceApi, *, email: str | None, domain: str | None) -> list[CrmMatch]:
    """Open opportunities and customers behind a Contact with this email or an Account with
    this website domain, plus the Contact (or unconverted Lead) itself when it is neither."""
    found: dict[tuple[str, str, str], CrmMatch] = {}

    def add(match: CrmMatch) -> None:
        found.setdefault((match.kind, match.object_type, match.object_id), match)

    contacts: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    email = (email or "").strip().lower() or None
    domain = (domain or "").strip().lower() or None
    if email:
        contacts = api.records(
            soql.select(
                ("Id", "FirstName", "LastName", "Email", "AccountId"),
                "Contact",
                f"Email = {soql.quote(email)}",
                limit=100,
            )
        )
    if domain:
        rows = api.records(
            soql.select(
                ("Id", "Name", "Website", "Type"), "Account", f"Website LIKE {soql.like_contains(domain)}", limit=200
            )
        )
        accounts = [a for a in rows if _same_domain(a.get("Website"), domain)]
    account_ids = {str(a["Id"]) for a in accounts} | {str(c["AccountId"]) for c in contacts if c.get("AccountId")}
    roles: list[dict[str, Any]] = []
    if contacts:
        roles = api.records(
            soql.select(
                ("OpportunityId", "ContactId"),
                "OpportunityContactRole",
                f"ContactId IN {soql.quote_list(str(c['Id']) for c in contacts)}",
            )
        )
    opp_ids = {str(r["OpportunityId"]) for r in roles}
    opportunities: list[dict[str, Any]] = []
    if account_ids or opp_ids:
        clauses = []
        if account_ids:
            clauses.append(f"AccountId IN {soql.quote_list(sorted(account_ids))}")
        if opp_ids:
            clauses.append(f"Id IN {soql.quote_list(sorted(opp_ids))}")
        opportunities = api.records(
            soql.select(
                ("Id", "Name", "IsClosed", "IsWon", "AccountId"), "Opportunity", " OR ".join(clauses), limit=500
            )
        )

    def opp_matches(opps: Iterable[Mapping[str, Any]], on: Literal["email", "domain"]) -> bool:
        conflict = False
        for opp in opps:
            if not opp.get("IsClosed"):
                add(CrmMatch("open_deal", "deal", str(opp["Id"]), opp.get("Name"), on))
                conflict = True
            elif opp.get("IsWon"):
                add(CrmMatch("customer", "deal", str(opp["Id"]), opp.get("Name"), on))
                conflict = True
        return conflict

    for account in accounts:
        if str(account.get("Type") or "").lower().startswith("customer"):
            add(CrmMatch("customer", "company", str(account["Id"]), _name(account), "domain"))
        opp_matches([o for o in opportunities if o.get("AccountId") == account["Id"]], "domain")
    for contact in contacts:
        mine = {str(r["OpportunityId"]) for r in roles if r.get("ContactId") == contact["Id"]}
        opps = [
            o
            for o in opportunities
            if str(o["Id"]) in mine or (contact.get("AccountId") and o.get("AccountId") == contact["AccountId"])
        ]
        if not opp_matches(opps, "email"):
            add(CrmMatch("contact", "contact", str(contact["Id"]), _name(contact), "email"))
    if email and not contacts:
        leads = api.records(
            soql.select(
                ("Id", "FirstName", "LastName", "Email"),
                "Lead",
                f"Email = {soql.quote(email)} AND IsConverted = false",
                limit=100,
            )
        )
        for lead in leads:
            add(CrmMatch("contact", "lead", str(lead["Id"]), _name(lead), "email"))
    return list(found.values())


def deal_parties(api: SalesforceApi, deal_id: str) -> DealParties:
    """The emails of the Opportunity's contact roles and the website domain of its Account."""
    opps = api.records(soql.select(("Id", "AccountId"), "Opportunity", f"Id = {soql.quote(deal_id)}"))
    roles = api.records(soql.select(("ContactId",), "OpportunityContactRole", f"OpportunityId = {soql.quote(deal_id)}"))
    emails: set[str] = set()
    contact_ids = sorted({str(r["ContactId"]) for r in roles if r.get("ContactId")})
    if contact_ids:
        for row in api.records(soql.select(("Id", "Email"), "Contact", f"Id IN {soql.quote_list(contact_ids)}")):
            if row.get("Email"):
                emails.add(str(row["Email"]).strip().lower())
    domains: set[str] = set()
    account_id = opps[0].get("AccountId") if opps else None
    if account_id:
        for row in api.records(soql.select(("Id", "Website"), "Account", f"Id = {soql.quote(str(account_id))}")):
            if host_of(row.get("Website")):
                domains.add(host_of(row.get("Website")))
    return DealParties(
        emails=tuple(sorted(emails)),
        domains=tuple(sorted(domains)),
        contact_ids=tuple(contact_ids),
        company_ids=(str(account_id),) if account_id else (),
    )


# -- outbox actions -----------------------------------------------------------------------------


def create_referral_deal(
    api: SalesforceApi, settings: SalesforceSettings, payload: Mapping[str, Any]
) -> dict[str, Any]:
    """Find or create the referral's Account (by website domain) and Contact (by email), create or
    complete its Opportunity (by tracking id), and link the Contact to it; safe to run twice."""
    try:
        ask = _Referral.model_validate(payload)
    except ValidationError as exc:
        raise FatalError(f"create_referral_deal: bad payload: {first_error(exc)}") from None
    tracking = ask.tracking_id
    written: dict[str, dict[str, dict[str, Any]]] = {}
    created: dict[str, list[str]] = {}

    def note(obj: str, record_id: str, fields: dict[str, Any], new: bool) -> None:
        if fields:
            written.setdefault(obj, {})[record_id] = fields
        if new:
            created.setdefault(obj, []).append(record_id)

    account_id = None
    account_new = False
    if ask.company and str(ask.company.get("domain") or "").strip():
        domain = str(ask.company["domain"]).strip().lower()
        rows = api.records(
            soql.select(
                ("Id", "Website", TRACKING_ID),
                "Account",
                f"{TRACKING_ID} = {soql.quote(tracking)} OR Website LIKE {soql.like_contains(domain)}",
                order_by="CreatedDate ASC, Id ASC",
                limit=200,
            )
        )
        ours = [r for r in rows if r.get(TRACKING_ID) == tracking]
        theirs = [r for r in rows if _same_domain(r.get("Website"), domain)]
        if ours or theirs:
            account_id = str((ours or theirs)[0]["Id"])
        else:
            fields = {"Name": domain, "Website": domain, **_fields(ask.company), TRACKING_ID: tracking}
            account_id, account_new = _upsert_one(api, "Account", fields)
            note("company", account_id, fields, account_new)

    contact_id = None
    contact_new = False
    if ask.contact and str(ask.contact.get("email") or "").strip():
        email = str(ask.contact["email"]).strip().lower()
        rows = api.records(
            soql.select(
                ("Id", "Email", TRACKING_ID),
                "Contact",
                f"{TRACKING_ID} = {soql.quote(tracking)} OR Email = {soql.quote(email)}",
                order_by="CreatedDate ASC, Id ASC",
                limit=100,
            )
        )
        ours = [r for r in rows if r.get(TRACKING_ID) == tracking]
        if ours or rows:
            contact_id = str((ours or rows)[0]["Id"])
        else:
            fields = {"LastName": email.split("@", 1)[0], **_fields(ask.contact), "Email": email, TRACKING_ID: tracking}
            if account_id:
                fields["AccountId"] = account_id
            contact_id, contact_new = _upsert_one(api, "Contact", fields)
            note("contact", contact_id, fields, contact_new)

    deal_fields = _fields(ask.deal)
    deal_fields.setdefault(
        "Name", str((ask.company or {}).get("Name") or (ask.company or {}).get("domain") or tracking)
    )
    deal_fields.setdefault("StageName", "Prospecting")
    deal_fields.setdefault(
        "CloseDate", (datetime.now(UTC).date() + timedelta(days=settings.default_close_days)).isoformat()
    )
    if ask.owner_id:
        deal_fields["OwnerId"] = ask.owner_id
    if account_id:
        deal_fields["AccountId"] = account_id
    deal_fields[TRACKING_ID] = tracking
    existing = api.records(
        soql.select(
            ["Id", *sorted(k for k in deal_fields if k != "Id")],
            "Opportunity",
            f"{TRACKING_ID} = {soql.quote(tracking)}",
            limit=1,
        )
    )
    if existing:
        deal_id = str(existing[0]["Id"])
        gaps = {k: v for k, v in deal_fields.items() if v not in (None, "") and existing[0].get(k) in (None, "")}
        if gaps:
            _check(api.update("Opportunity", [{"Id": deal_id, **gaps}]), "update the Opportunity")
        note("deal", deal_id, gaps, False)
        deal_new = False
    else:
        deal_id, deal_new = _upsert_one(api, "Opportunity", deal_fields)
        note("deal", deal_id, deal_fields, deal_new)

    if contact_id:
        roles = api.records(
            soql.select(
                ("Id",),
                "OpportunityContactRole",
                f"OpportunityId = {soql.quote(deal_id)} AND ContactId = {soql.quote(contact_id)}",
                limit=1,
            )
        )
        if not roles:
            _check(
                api.create(
                    "OpportunityContactRole", [{"OpportunityId": deal_id, "ContactId": contact_id, "IsPrimary": True}]
                ),
                "link the Contact",
            )
    return {
        "deal_id": deal_id,
        "contact_id": contact_id,
        "company_id": account_id,
        "deal_created": deal_new,
        "contact_created": contact_new,
        "company_created": account_new,
        "written": written,
        "created": created,
    }


def update_deal(api: SalesforceApi, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Set fields on one Opportunity, by ``deal_id`` or by ``tracking_id``."""
    fields = _fields({**payload, **(payload.get("properties") or {})})
    deal_id = str(payload.get("deal_id") or "").strip()
    if not deal_id:
        tracking = str(payload.get("tracking_id") or "").strip()
        if not tracking:
            raise FatalError("update_deal: the payload names neither deal_id nor tracking_id")
        rows = api.records(soql.select(("Id",), "Opportunity", f"{TRACKING_ID} = {soql.quote(tracking)}", limit=1))
        if not rows:
            raise FatalError("update_deal: no Opportunity has this tracking id")
        deal_id = str(rows[0]["Id"])
    if fields:
        _check(api.update("Opportunity", [{"Id": deal_id, **fields}]), "update the Opportunity")
    return {"deal_id": deal_id, "written": {"deal": {deal_id: fields}} if fields else {}}


def create_task(api: SalesforceApi, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """A Task for a person, at most once per ``idempotency_key`` (looked up first, deleted
    ones included, in ``Partnerhub_Key__c``)."""
    try:
        ask = _Task.model_validate(payload)
    except ValidationError as exc:
        raise FatalError(f"create_task: bad payload: {first_error(exc)}") from None
    key = idempotency_key[:255]
    rows = api.records(soql.select(("Id",), "Task", f"{TASK_KEY} = {soql.quote(key)}", limit=1), all_rows=True)
    if rows:
        return {"task_id": str(rows[0]["Id"]), "written": {}, "created": {}}
    fields: dict[str, Any] = {"Subject": ask.subject, "Status": "Not Started", TASK_KEY: key}
    if ask.body:
        fields["Description"] = ask.body
    if ask.owner_id:
        fields["OwnerId"] = ask.owner_id
    if ask.due_at:
        try:
            fields["ActivityDate"] = datetime.fromisoformat(ask.due_at).date().isoformat()
        except ValueError:
            raise FatalError("create_task: due_at is not ISO 8601") from None
    [result] = api.create("Task", [fields])
    if result_error(result):
        raise FatalError(f"create_task: Salesforce refused the Task ({result_error(result)})")
    task_id = str(result["id"])
    return {"task_id": task_id, "written": {"task": {task_id: fields}}, "created": {"task": [task_id]}}


def _upsert_one(api: SalesforceApi, sobject: str, fields: dict[str, Any]) -> tuple[str, bool]:
    [result] = api.upsert(sobject, TRACKING_ID, [fields])
    error = result_error(result)
    if error:
        if "DUPLICATE" in error or "UNABLE_TO_LOCK_ROW" in error:
            raise RetriableError(f"salesforce: {sobject} upsert collided ({error})")
        raise FatalError(f"salesforce: {sobject} upsert refused ({error})")
    return str(result["id"]), bool(result.get("created"))


def _check(results: list[dict[str, Any]], what: str) -> None:
    for result in results:
        error = result_error(result)
        if error:
            raise FatalError(f"salesforce: could not {what} ({error})")
