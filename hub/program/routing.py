"""Routing a new referral deal to its owner: what the program file's owner rules
(``owners.rules``, ``Owners.route``) are given about the deal.

* the partner's ``region`` and ``segment``;
* the referred company's ``country``, ``company_region`` and ``industry``, each taken from the
  referral or deal-registration form when the partner gave it, otherwise from the hub's record of
  the company in the CRM (``crm_companies``, kept by the sync: HubSpot ``country``/``state``/
  ``industry``, Salesforce ``BillingCountry``/``BillingState``/``Industry``, Pipedrive
  ``address.country``/``address.admin_area_level_1``/``industry``, through the mapping files)
  found by the referral's company domain. A CRM country is free text ("Germany", "DE",
  "Deutschland"): it becomes an ISO code through ``COUNTRY_NAMES`` and the program file's
  ``owners.country_names``; a name neither knows is unknown, and matches no ``country`` rule.
  The record's region only counts when the form gave no other country (a state of the record's
  country says nothing about a company the partner says is elsewhere).

Pure reads; ``hub.program.referrals.send_to_crm`` writes the owner onto the CRM deal and mails
them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.program.models import CrmCompany, Partner, Referral
from hub.program.program_file import Owners, Route, Routed

#: country names and common spellings a CRM holds -> ISO 3166-1 alpha-2 (lower-cased keys)
COUNTRY_NAMES: dict[str, str] = {
    "germany": "DE", "deutschland": "DE", "federal republic of germany": "DE",
    "austria": "AT", "österreich": "AT", "oesterreich": "AT", "switzerland": "CH", "schweiz": "CH", "suisse": "CH",
    "france": "FR", "italy": "IT", "italia": "IT", "spain": "ES", "españa": "ES", "espana": "ES",
    "portugal": "PT", "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "nederland": "NL",
    "belgium": "BE", "belgië": "BE", "belgique": "BE", "luxembourg": "LU", "ireland": "IE",
    "united kingdom": "GB", "uk": "GB", "u.k.": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "denmark": "DK", "danmark": "DK", "sweden": "SE", "sverige": "SE",
    "norway": "NO", "norge": "NO", "finland": "FI", "suomi": "FI", "iceland": "IS", "poland": "PL", "polska": "PL",
    "czech republic": "CZ", "czechia": "CZ", "slovakia": "SK", "hungary": "HU", "romania": "RO", "bulgaria": "BG",
    "greece": "GR", "croatia": "HR", "slovenia": "SI", "serbia": "RS", "estonia": "EE", "latvia": "LV",
    "lithuania": "LT", "ukraine": "UA", "turkey": "TR", "türkiye": "TR", "turkiye": "TR", "israel": "IL",
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.": "US", "u.s.a.": "US",
    "us": "US", "america": "US", "canada": "CA", "mexico": "MX", "méxico": "MX", "brazil": "BR", "brasil": "BR",
    "argentina": "AR", "chile": "CL", "colombia": "CO", "peru": "PE", "australia": "AU", "new zealand": "NZ",
    "japan": "JP", "china": "CN", "people's republic of china": "CN", "hong kong": "HK", "taiwan": "TW",
    "south korea": "KR", "korea, republic of": "KR", "republic of korea": "KR", "india": "IN", "singapore": "SG",
    "malaysia": "MY", "indonesia": "ID", "thailand": "TH", "vietnam": "VN", "viet nam": "VN", "philippines": "PH",
    "united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA", "qatar": "QA", "egypt": "EG",
    "south africa": "ZA", "nigeria": "NG", "kenya": "KE", "morocco": "MA",
}  # fmt: skip


def country_code(value: str | None, extra: dict[str, str] | None = None) -> str | None:
    """A country as a CRM or a form holds it -> its ISO code, or None when not recognised. A
    two-letter value is taken as the code itself (``"de"`` -> ``"DE"``; ``"UK"`` -> ``"GB"``)."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    for name, code in (extra or {}).items():
        if name.casefold() == text.casefold():
            return code
    known = COUNTRY_NAMES.get(text.casefold())
    if known is not None:
        return known
    if len(text) == 2 and text.isascii() and text.isalpha():
        return text.upper()
    return None


def crm_company(session: Session, source: str, domain: str | None) -> CrmCompany | None:
    """The hub's record of the referred company in ``source`` (by its web domain), or None."""
    if not domain:
        return None
    return session.scalars(
        select(CrmCompany)
        .where(CrmCompany.source == source, CrmCompany.domain == domain.lower(), CrmCompany.deleted.is_(False))
        .order_by(CrmCompany.id)
    ).first()


def routed(
    session: Session, owners: Owners, referral: Referral, partner: Partner, *, source: str, domain: str | None
) -> Routed:
    """What the owner rules see of this referral: each company fact from the form when given,
    else from the CRM record (``domain``: the company domain, None for a free-mail one)."""
    country, region, industry = referral.company_country, None, referral.company_industry
    record = crm_company(session, source, domain)
    if record is not None:
        crm_country = country_code(record.country, owners.country_names)
        # the record's region is a place in the record's country: not when the form says otherwise
        if country is None or country == crm_country:
            region = record.region
        country = country or record.country
        industry = industry or record.industry
    return Routed(
        region=partner.region,
        segment=partner.segment,
        country=country_code(country, owners.country_names),
        company_region=region,
        industry=industry,
    )


def route(
    session: Session, owners: Owners, referral: Referral, partner: Partner, *, source: str, domain: str | None
) -> tuple[Route, Routed]:
    """The owner of this referral's new CRM deal, and what the rules were given."""
    facts = routed(session, owners, referral, partner, source=source, domain=domain)
    return owners.route(facts, turn=referral.id), facts
