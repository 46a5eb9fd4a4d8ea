"""The partner flow's CRM surface on Pipedrive (``connectors.capabilities.CrmConnector``): conflicts for a
referral's email or domain, the outbox actions (referral deal, deal update, task as an activity),
and a deal's parties.

Pipedrive has no upsert and no idempotency key, so every create is a lookup first: the deal by
its ``partnerhub_tracking_id`` custom field, the person by email, the organisation by its
``partnerhub_company_domain`` custom field (search API, exact match), and a task by the hub's
marker in the activity's note. A re-run finds what the first run made and completes it. Search
is near-real-time at Pipedrive: a re-run within seconds of a lost answer may not see a record
created by the first run (documented in the README).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.errors import FatalError, first_error
from connectors.pipedrive.client import PipedriveApi
from connectors.pipedrive.fields import FieldKeys
from connectors.pipedrive.objects import COMPANY_DOMAIN, TRACKING_ID, api_object
from connectors.pipedrive.records import as_changes, present, write_body
from connectors.values import CrmMatch, DealParties


class _Fields(BaseModel):
    model_config = ConfigDict(extra="allow")


class _ReferralContact(_Fields):
    email: str = Field(min_length=3)


class _ReferralCompany(_Fields):
    domain: str = Field(min_length=1)


class _ReferralDeal(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tracking_id: str = Field(min_length=1)
    contact: _ReferralContact | None = None
    company: _ReferralCompany | None = None
    deal: dict[str, Any] = Field(default_factory=dict)
    owner_id: str | int | None = None


class _Task(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: str = Field(min_length=1)
    body: str | None = None
    owner_id: str | int | None = None
    due_at: str | None = None
    deal_id: str | int | None = None


class Crm:
    """The CRM actions, over one API client and its custom-field names."""

    def __init__(self, api: PipedriveApi, fields: FieldKeys):
        self.api = api
        self.fields = fields

    # -- look-ups ---------------------------------------------------------------------------

    def _search(self, obj: str, term: str, field: str) -> list[int]:
        spec = api_object(obj)
        response = self.api.send(
            "GET",
            "v2",
            spec.path + "/search",
            params={"term": term, "fields": field, "exact_match": "true", "limit": 100},
        )
        items = (self.api.json(response).get("data") or {}).get("items") or []
        return [int(i["item"]["id"]) for i in items if isinstance(i, dict) and (i.get("item") or {}).get("id")]

    def _get(self, obj: str, ids: list[int], **params: Any) -> list[dict[str, Any]]:
        if not ids and not params:
            return []
        spec = api_object(obj)
        query = {"limit": 100, **params}
        if ids:
            query["ids"] = ",".join(str(i) for i in ids[:100])
        response = self.api.send("GET", "v2", spec.path, params=query)
        return [present(self.fields, obj, r) for r in self.api.json(response).get("data") or []]

    def find_deal(self, tracking_id: str) -> dict[str, Any] | None:
        ids = self._search("deal", tracking_id, "custom_fields")
        deals = [d for d in self._get("deal", ids) if (d.get("custom_fields") or {}).get(TRACKING_ID) == tracking_id]
        return min(deals, key=lambda d: int(d["id"])) if deals else None

    def find_person(self, email: str) -> dict[str, Any] | None:
        people = [p for p in self._get("contact", self._search("contact", email, "email")) if _emails(p) & {email}]
        return min(people, key=lambda p: int(p["id"])) if people else None

    def find_organization(self, domain: str) -> dict[str, Any] | None:
        orgs = [
            o
            for o in self._get("company", self._search("company", domain, "custom_fields"))
            if str((o.get("custom_fields") or {}).get(COMPANY_DOMAIN) or "").lower() == domain
        ]
        return min(orgs, key=lambda o: int(o["id"])) if orgs else None

    # -- conflicts --------------------------------------------------------------------------

    def find_conflicts(self, *, email: str | None, domain: str | None) -> list[CrmMatch]:
        found: dict[tuple[str, str, str], CrmMatch] = {}

        def add(match: CrmMatch) -> None:
            found.setdefault((match.kind, match.object_type, match.object_id), match)

        if email and email.strip():
            person = self.find_person(email.strip().lower())
            if person is not None:
                deals = self._get("deal", [], person_id=person["id"])
                self._deal_matches(deals, "email", add)
                if not any(d.get("status") in ("open", "won") for d in deals):
                    add(CrmMatch("contact", "contact", str(person["id"]), person.get("name"), "email"))
        if domain and domain.strip():
            org = self.find_organization(domain.strip().lower())
            if org is not None:
                deals = self._get("deal", [], org_id=org["id"])
                self._deal_matches(deals, "domain", add)
        return list(found.values())

    @staticmethod
    def _deal_matches(deals: list[dict[str, Any]], on: Any, add: Any) -> None:
        for deal in deals:
            if deal.get("status") == "open":
                add(CrmMatch("open_deal", "deal", str(deal["id"]), deal.get("title"), on))
            elif deal.get("status") == "won":
                add(CrmMatch("customer", "deal", str(deal["id"]), deal.get("title"), on))

    def deal_parties(self, deal_id: str) -> DealParties:
        deals = self._get("deal", [int(deal_id)])
        if not deals:
            return DealParties()
        deal = deals[0]
        emails: set[str] = set()
        domains: set[str] = set()
        if deal.get("person_id"):
            for person in self._get("contact", [int(deal["person_id"])]):
                emails |= _emails(person)
        if deal.get("org_id"):
            for org in self._get("company", [int(deal["org_id"])]):
                domain = str((org.get("custom_fields") or {}).get(COMPANY_DOMAIN) or "").strip().lower()
                if domain:
                    domains.add(domain)
        return DealParties(
            tuple(sorted(emails)),
            tuple(sorted(domains)),
            contact_ids=(str(deal["person_id"]),) if deal.get("person_id") else (),
            company_ids=(str(deal["org_id"]),) if deal.get("org_id") else (),
        )

    # -- outbox actions ---------------------------------------------------------------------

    def create_referral_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        try:
            ask = _ReferralDeal.model_validate(payload)
        except ValidationError as exc:
            raise FatalError(f"create_referral_deal: bad payload: {first_error(exc)}") from None
        written: dict[str, dict[str, dict[str, Any]]] = {}
        created: dict[str, list[str]] = {}
        deal = self.find_deal(ask.tracking_id)

        company_id, company_new = None, False
        if deal is not None and deal.get("org_id"):
            company_id = int(deal["org_id"])
        elif ask.company is not None:
            domain = ask.company.domain.strip().lower()
            org = self.find_organization(domain)
            if org is not None:
                company_id = int(org["id"])
            else:
                values = ask.company.model_dump(exclude={"domain"})
                values.setdefault("name", domain)
                values["custom_fields"] = {**(values.get("custom_fields") or {}), COMPANY_DOMAIN: domain}
                company_id, body = self._create("company", values)
                company_new = True
                written["company"] = {str(company_id): as_changes(body)}
                created["company"] = [str(company_id)]

        contact_id, contact_new = None, False
        if deal is not None and deal.get("person_id"):
            contact_id = int(deal["person_id"])
        elif ask.contact is not None:
            email = ask.contact.email.strip().lower()
            person = self.find_person(email)
            if person is not None:
                contact_id = int(person["id"])
            else:
                values = ask.contact.model_dump(exclude={"email"})
                values["primary_email"] = email
                if company_id is not None:
                    values["org_id"] = company_id
                contact_id, body = self._create("contact", values)
                contact_new = True
                written["contact"] = {str(contact_id): as_changes(body)}
                created["contact"] = [str(contact_id)]

        wanted = dict(ask.deal)
        wanted["custom_fields"] = {**(wanted.get("custom_fields") or {}), TRACKING_ID: ask.tracking_id}
        wanted.setdefault("title", ask.tracking_id)
        if ask.owner_id not in (None, ""):
            wanted["owner_id"] = int(ask.owner_id) if str(ask.owner_id).isdigit() else ask.owner_id
        if contact_id is not None:
            wanted["person_id"] = contact_id
        if company_id is not None:
            wanted["org_id"] = company_id
        deal_new = deal is None
        if deal is None:
            deal_id, body = self._create("deal", wanted)
            created["deal"] = [str(deal_id)]
        else:
            deal_id = int(deal["id"])
            body = self._fill_gaps("deal", deal, wanted)
        if body:
            written["deal"] = {str(deal_id): as_changes(body)}
        return {
            "deal_id": str(deal_id),
            "contact_id": str(contact_id) if contact_id is not None else None,
            "company_id": str(company_id) if company_id is not None else None,
            "deal_created": deal_new,
            "contact_created": contact_new,
            "company_created": company_new,
            "written": written,
            "created": created,
        }

    def update_deal(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        values = dict(
            payload.get("properties")
            or {k: v for k, v in payload.items() if k not in ("deal_id", "tracking_id", "referral_id")}
        )
        deal_id = payload.get("deal_id")
        if deal_id in (None, ""):
            tracking_id = payload.get("tracking_id")
            if not tracking_id:
                raise FatalError("update_deal: the payload names neither deal_id nor tracking_id")
            deal = self.find_deal(str(tracking_id))
            if deal is None:
                raise FatalError(f"update_deal: no Pipedrive deal has tracking id {tracking_id}")
            deal_id = deal["id"]
        body = write_body(self.fields, "deal", values)
        if body:
            self.api.send("PATCH", "v2", "/deals/{id}", path_params={"id": deal_id}, body=body)
        return {"deal_id": str(deal_id), "written": {"deal": {str(deal_id): as_changes(body)}} if body else {}}

    def create_task(self, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """A Pipedrive activity of type ``task``; the note carries the hub's marker, looked up
        among the owner's (and deal's) activities before any create."""
        try:
            ask = _Task.model_validate(payload)
        except ValidationError as exc:
            raise FatalError(f"create_task: bad payload: {first_error(exc)}") from None
        marker = f"[partnerhub:{idempotency_key}]"
        params: dict[str, Any] = {"sort_by": "add_time", "sort_direction": "desc", "limit": 100}
        if ask.owner_id not in (None, ""):
            params["owner_id"] = int(ask.owner_id)
        if ask.deal_id not in (None, ""):
            params["deal_id"] = int(ask.deal_id)
        response = self.api.send("GET", "v2", "/activities", params=params)
        for activity in self.api.json(response).get("data") or []:
            if marker in str(activity.get("note") or ""):
                return {"task_id": str(activity["id"]), "written": {}, "created": {}}
        body: dict[str, Any] = {"subject": ask.subject, "type": "task", "note": f"{ask.body or ''}\n\n{marker}".strip()}
        if ask.owner_id not in (None, ""):
            body["owner_id"] = int(ask.owner_id)
        if ask.deal_id not in (None, ""):
            body["deal_id"] = int(ask.deal_id)
        if ask.due_at:
            day, _, clock = ask.due_at.replace("Z", "").partition("T")
            body["due_date"] = day
            if clock:
                body["due_time"] = clock[:5]
        response = self.api.send("POST", "v2", "/activities", body=body)
        task_id = str((self.api.json(response).get("data") or {}).get("id"))
        return {
            "task_id": task_id,
            "written": {"activity": {task_id: as_changes(body)}},
            "created": {"activity": [task_id]},
        }

    # -- building blocks --------------------------------------------------------------------

    def _create(self, obj: str, values: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        spec = api_object(obj)
        body = write_body(self.fields, obj, values)
        response = self.api.send("POST", spec.api, spec.path, body=body)
        data = self.api.json(response).get("data") or {}
        if not data.get("id"):
            raise FatalError(f"pipedrive: creating a {obj} returned no id")
        return int(data["id"]), body

    def _fill_gaps(self, obj: str, current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
        """Write only what the existing record lacks (an existing value is never overwritten)."""
        have_custom = current.get("custom_fields") or {}
        gaps: dict[str, Any] = {}
        for name, value in wanted.items():
            if name == "custom_fields":
                missing = {k: v for k, v in (value or {}).items() if have_custom.get(k) in (None, "")}
                if missing:
                    gaps["custom_fields"] = missing
            elif current.get(name) in (None, "") and value not in (None, ""):
                gaps[name] = value
        if not gaps:
            return {}
        body = write_body(self.fields, obj, gaps)
        spec = api_object(obj)
        self.api.send("PATCH", spec.api, spec.path + "/{id}", path_params={"id": current["id"]}, body=body)
        return body


def _emails(person: Mapping[str, Any]) -> set[str]:
    return {
        str(e.get("value")).strip().lower()
        for e in person.get("emails") or []
        if isinstance(e, dict) and e.get("value")
    }
