"""The partner flow's CRM surface on HubSpot (``connectors.capabilities.CrmConnector``): conflicts for a
referral's email or domain, and the outbox actions that create the referral's deal and update it.

Idempotent writes need a property with ``hasUniqueValue: true``: ``partnerhub_tracking_id`` on
deals (``crm setup`` creates it). Contacts are unique by ``email`` (batch read with
``idProperty=email`` is consistent, unlike search, which lags behind new records).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from hubspot.crm.objects import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObject,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInputForCreate,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.errors import FatalError, RetriableError, first_error
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.objects import TRACKING_ID, api_object
from connectors.hubspot.sdk import OBJECTS_SDK, decode
from connectors.hubspot.values import texts
from connectors.values import CrmMatch, DealParties

# HubSpot-defined association type ids, used when a record is created already associated with
# the deal (atomically, so a re-run finds it through the deal): contact->deal, company->deal.
_CONTACT_TO_DEAL = 4
_COMPANY_TO_DEAL = 6


# -- the partner flow's outbox payloads (pydantic at the edge) ---------------------------------


class _Properties(BaseModel):
    model_config = ConfigDict(extra="ignore")

    properties: dict[str, Any] = Field(default_factory=dict)


class _ReferralContact(_Properties):
    email: str = Field(min_length=3)


class _ReferralCompany(_Properties):
    domain: str = Field(min_length=1)


class _ReferralDeal(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tracking_id: str = Field(min_length=1)
    contact: _ReferralContact | None = None
    company: _ReferralCompany | None = None
    deal: _Properties
    owner_id: str | int | None = None


class _DealUpdate(_Properties):
    deal_id: str | int | None = None
    tracking_id: str | None = None


# -- the partner flow: conflicts --------------------------------------------------------


def find_conflicts(api: HubSpotApi, *, email: str | None, domain: str | None) -> list[CrmMatch]:
    """Open deals and customers behind a contact with this email or a company with this
    domain (CRM search), plus the contact itself when it is neither."""
    found: dict[tuple[str, str, str], CrmMatch] = {}

    def add(match: CrmMatch) -> None:
        found.setdefault((match.kind, match.object_type, match.object_id), match)

    if email and email.strip():
        contacts = api.search(
            "contacts", "email", email.strip().lower(), ["email", "firstname", "lastname", "lifecyclestage"]
        )
        for match in _matches(api, "contact", contacts, "email"):
            add(match)
    if domain and domain.strip():
        companies = api.search("companies", "domain", domain.strip().lower(), ["name", "domain", "lifecyclestage"])
        for match in _matches(api, "company", companies, "domain"):
            add(match)
    return list(found.values())


def deal_parties(api: HubSpotApi, deal_id: str) -> DealParties:
    """The emails of the deal's contacts and the domains of its companies (v4 associations, then
    one batch read each)."""
    contact_ids = api.associated("deals", "contacts", [deal_id]).get(str(deal_id), [])
    company_ids = api.associated("deals", "companies", [deal_id]).get(str(deal_id), [])
    emails = (
        {
            str((r.properties or {}).get("email") or "").strip().lower()
            for r in api.read_objects("contacts", contact_ids, ["email"])
        }
        if contact_ids
        else set()
    )
    domains = (
        {
            str((r.properties or {}).get("domain") or "").strip().lower()
            for r in api.read_objects("companies", company_ids, ["domain"])
        }
        if company_ids
        else set()
    )
    return DealParties(
        emails=tuple(sorted(e for e in emails if e)),
        domains=tuple(sorted(d for d in domains if d)),
        contact_ids=tuple(str(i) for i in contact_ids),
        company_ids=tuple(str(i) for i in company_ids),
    )


def _matches(api: HubSpotApi, obj: str, records: list[Any], matched_on: Literal["email", "domain"]) -> list[CrmMatch]:
    if not records:
        return []
    deals_of = api.associated(api_object(obj), "deals", [r.id for r in records])
    deal_ids = sorted({d for ids in deals_of.values() for d in ids}, key=_id_order)
    deals = {
        d.id: d
        for d in api.read_objects("deals", deal_ids, ["dealname", "dealstage", "hs_is_closed", "hs_is_closed_won"])
    }
    matches: list[CrmMatch] = []
    for record in records:
        props = record.properties or {}
        name = _display_name(obj, props)
        conflict = False
        if str(props.get("lifecyclestage") or "").lower() == "customer":
            matches.append(CrmMatch("customer", obj, str(record.id), name, matched_on))
            conflict = True
        for deal_id in deals_of.get(str(record.id), []):
            deal = deals.get(deal_id)
            if deal is None:
                continue
            dprops = deal.properties or {}
            dname = dprops.get("dealname") or None
            if not _is_true(dprops.get("hs_is_closed")):
                matches.append(CrmMatch("open_deal", "deal", str(deal.id), dname, matched_on))
                conflict = True
            elif _is_true(dprops.get("hs_is_closed_won")):
                matches.append(CrmMatch("customer", "deal", str(deal.id), dname, matched_on))
                conflict = True
        if obj == "contact" and not conflict:
            matches.append(CrmMatch("contact", "contact", str(record.id), name, matched_on))
    return matches


# -- the partner flow: outbox actions ---------------------------------------------------


def create_referral_deal(api: HubSpotApi, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """Create (or complete) the referral's deal, contact and company; safe to run twice.

    The deal is found by its unique tracking id (a consistent read, unlike search) and
    created by upsert on it, so two runs make one deal; an existing deal only gets the
    properties it lacks. A contact is found by email (also consistent), a company by domain
    (search); an existing one is associated and never written. A new contact or company is
    created already associated with the deal, so a re-run finds it through the deal's
    associations even before search has indexed it. HubSpot has no idempotency key: the
    tracking id plays that part (``idempotency_key`` is accepted for the outbox protocol).
    """
    try:
        ask = _ReferralDeal.model_validate(payload)
    except ValidationError as exc:
        raise FatalError(f"create_referral_deal: bad payload: {first_error(exc)}") from None
    written: dict[str, dict[str, dict[str, str]]] = {}
    created: dict[str, list[str]] = {}

    deal_props = texts(ask.deal.properties)
    deal_props[TRACKING_ID] = ask.tracking_id
    if ask.owner_id not in (None, ""):
        deal_props["hubspot_owner_id"] = str(ask.owner_id)
    deal_id, deal_new, deal_written = _upsert_deal(api, ask.tracking_id, deal_props)
    if deal_written:
        written["deal"] = {deal_id: deal_written}
    if deal_new:
        created["deal"] = [deal_id]
    linked = (
        {"contacts": [], "companies": []}
        if deal_new
        else {to: api.associated("deals", to, [deal_id]).get(deal_id, []) for to in ("contacts", "companies")}
    )

    contact_id: str | None = None
    contact_created = False
    if ask.contact is not None:
        contact_id, contact_created, contact_written = _ensure_contact(api, ask.contact, deal_id, linked["contacts"])
        if contact_created:
            written["contact"] = {contact_id: contact_written}
            created["contact"] = [contact_id]

    company_id: str | None = None
    company_created = False
    if ask.company is not None:
        company_id, company_created, company_written = _ensure_company(api, ask.company, deal_id, linked["companies"])
        if company_created:
            written["company"] = {company_id: company_written}
            created["company"] = [company_id]

    return {
        "deal_id": deal_id,
        "contact_id": contact_id,
        "company_id": company_id,
        "deal_created": deal_new,
        "contact_created": contact_created,
        "company_created": company_created,
        "written": written,
        "created": created,
    }


def update_deal(api: HubSpotApi, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """Set properties on one deal, by ``deal_id`` or by ``tracking_id``."""
    try:
        ask = _DealUpdate.model_validate(payload)
    except ValidationError as exc:
        raise FatalError(f"update_deal: bad payload: {first_error(exc)}") from None
    if ask.deal_id in (None, "") and not ask.tracking_id:
        raise FatalError("update_deal: the payload names neither deal_id nor tracking_id")
    props = texts(ask.properties)
    if ask.deal_id not in (None, ""):
        item = SimplePublicObjectBatchInput(id=str(ask.deal_id), properties=props)
    else:
        item = SimplePublicObjectBatchInput(id=ask.tracking_id, id_property=TRACKING_ID, properties=props)
    body = OBJECTS_SDK.sanitize_for_serialization(BatchInputSimplePublicObjectBatchInput(inputs=[item]))
    response = api.send("POST", "/crm/v3/objects/deals/batch/update", body)
    answer: Any = decode(OBJECTS_SDK, response, BatchResponseSimplePublicObjectWithErrors)
    if not answer.results:
        raise FatalError(f"update_deal: HubSpot updated nothing ({_batch_errors(answer)})")
    deal_id = str(answer.results[0].id)
    return {"deal_id": deal_id, "written": {"deal": {deal_id: props}} if props else {}}


def _upsert_deal(api: HubSpotApi, tracking_id: str, props: dict[str, str]) -> tuple[str, bool, dict[str, str]]:
    """(deal id, created, what was written)."""
    existing = api.read_objects("deals", [tracking_id], sorted(props), id_property=TRACKING_ID)
    if existing:
        deal = existing[0]
        current = deal.properties or {}
        gaps = {k: v for k, v in props.items() if v != "" and current.get(k) in (None, "")}
        if gaps:
            item = SimplePublicObjectBatchInput(id=str(deal.id), properties=gaps)
            body = OBJECTS_SDK.sanitize_for_serialization(BatchInputSimplePublicObjectBatchInput(inputs=[item]))
            api.send("POST", "/crm/v3/objects/deals/batch/update", body)
        return str(deal.id), False, gaps
    item = SimplePublicObjectBatchInputUpsert(id=tracking_id, id_property=TRACKING_ID, properties=props)
    body = OBJECTS_SDK.sanitize_for_serialization(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[item]))
    response = api.send("POST", "/crm/v3/objects/deals/batch/upsert", body)
    answer: Any = decode(OBJECTS_SDK, response, BatchResponseSimplePublicUpsertObject)
    if not answer.results:
        raise FatalError("create_referral_deal: HubSpot's upsert returned no deal")
    result = answer.results[0]
    return str(result.id), bool(result.new), props


def _ensure_contact(
    api: HubSpotApi, contact: _ReferralContact, deal_id: str, linked: list[str]
) -> tuple[str, bool, dict[str, str]]:
    email = contact.email.strip().lower()
    found = api.read_objects("contacts", [email], ["email"], id_property="email")
    if found:
        contact_id = str(found[0].id)
        if contact_id not in linked:
            api.associate_default("deals", "contacts", [(deal_id, contact_id)])
        return contact_id, False, {}
    props = {**texts(contact.properties), "email": email}
    response = api.send(
        "POST",
        "/crm/v3/objects/contacts",
        OBJECTS_SDK.sanitize_for_serialization(
            SimplePublicObjectInputForCreate(properties=props, associations=[_to_deal(deal_id, _CONTACT_TO_DEAL)])
        ),
        allow=(409,),
    )
    if response.status_code == 409:  # created meanwhile by someone else: use that one
        found = api.read_objects("contacts", [email], ["email"], id_property="email")
        if not found:
            raise RetriableError("hubspot: contact exists (409) but cannot be read yet")
        contact_id = str(found[0].id)
        api.associate_default("deals", "contacts", [(deal_id, contact_id)])
        return contact_id, False, {}
    answer: Any = decode(OBJECTS_SDK, response, SimplePublicObject)
    return str(answer.id), True, props


def _ensure_company(
    api: HubSpotApi, company: _ReferralCompany, deal_id: str, linked: list[str]
) -> tuple[str, bool, dict[str, str]]:
    domain = company.domain.strip().lower()
    if linked:  # a company this action created (atomically associated) or linked before
        return min(linked, key=_id_order), False, {}
    found = api.search("companies", "domain", domain, ["domain", "name"])
    if found:
        company_id = min((str(c.id) for c in found), key=_id_order)
        api.associate_default("deals", "companies", [(deal_id, company_id)])
        return company_id, False, {}
    props = {**texts(company.properties), "domain": domain}
    response = api.send(
        "POST",
        "/crm/v3/objects/companies",
        OBJECTS_SDK.sanitize_for_serialization(
            SimplePublicObjectInputForCreate(properties=props, associations=[_to_deal(deal_id, _COMPANY_TO_DEAL)])
        ),
    )
    answer: Any = decode(OBJECTS_SDK, response, SimplePublicObject)
    return str(answer.id), True, props


def _to_deal(deal_id: str, type_id: int) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(
        to=PublicObjectId(id=deal_id),
        types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)],
    )


def _is_true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (1 << 62, value)


def _display_name(obj: str, props: Mapping[str, Any]) -> str | None:
    if obj == "contact":
        full = f"{props.get('firstname') or ''} {props.get('lastname') or ''}".strip()
        return full or props.get("email") or None
    return props.get("name") or props.get("domain") or None


def _batch_errors(answer: Any) -> str:
    errors = getattr(answer, "errors", None) or []
    return "; ".join(str(getattr(e, "message", e))[:200] for e in errors) or "no errors given"
