"""The CRM's parties as hub records: contacts (HubSpot and Salesforce contacts, Pipedrive persons),
companies (HubSpot companies, Salesforce Accounts, Pipedrive organizations) and their
associations with deals.

* ``apply_change``: a mapped ``contact`` or ``company`` change written field by field under the
  version guard, as deals are (``hub.program.deals``): an older version never overwrites a newer
  one; ``deleted`` marks the record deleted (a later version may bring it back).
* ``record_deal_parties``: a deal's contacts and companies, by provider id, from what the deal's
  record carried (its mapped ``contact_ids``/``company_ids``) or from the CRM's answer when the
  hub read the deal's parties.
* ``merge``: a CRM merge of contacts or companies: the merged-away records point to the survivor
  (marked deleted and ``merged_into``), and so do the deal associations.
* ``local_parties`` and ``find_conflicts``: attribution and the conflict checks ask these records
  first. A local answer that finds a conflict is enough; a local "nothing" is always confirmed
  with the CRM (a stale local copy never lets a referral for an existing customer through).

A chunk of inbox events reads the links of its deals (``preload_links``) and the party records
they name (``preload_records``) in one statement each before its events run
(``DomainHandlers.prefetch``), so ``record_deal_parties`` and ``local_parties`` select nothing
per event. What the chunk read is only trusted while it holds: ``record_deal_parties`` drops the
deal's links from it when it writes them (a later event of that deal reads them again, so a
savepoint rolled back leaves nothing stale), a merge drops all of it (``forget_preloaded``), and a
record the read did not find, or that no longer is what it was, is selected as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, and_, cast, delete, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from connectors.values import CrmMatch, DealParties
from hub.mapping import Canonical
from hub.pipeline.engine import READ_AHEAD
from hub.pipeline.store import utcnow
from hub.program.merges import MERGED_INTO
from hub.program.models import CrmCompany, CrmContact, CrmDealParty, Deal

if TYPE_CHECKING:
    from connectors.capabilities import CrmConnector

#: the hub target -> its record
MODELS: dict[str, type[CrmContact] | type[CrmCompany]] = {"contact": CrmContact, "company": CrmCompany}
#: mapped field -> column, per target (every mapped field is also kept in ``properties``)
COLUMNS: dict[str, tuple[str, ...]] = {
    "contact": ("email", "first_name", "last_name", "country", "lifecycle_stage", "company_ids"),
    "company": ("name", "domain", "country", "region", "industry", "lifecycle_stage"),
}
#: a deal's mapped fields naming its parties -> the party type
DEAL_PARTY_FIELDS = {"contact_ids": "contact", "company_ids": "company"}
#: deal statuses that are not an open deal
_CLOSED = ("closed_won", "closed_lost")
#: ``session.info[READ_AHEAD]`` keys: the chunk's deal links, (source, deal id) -> {(party type,
#: party id)} (``preload_links``); the party records they name, (party type, source, party id)
#: -> the record (``preload_records``; a record the hub does not hold is absent)
LINKS_AHEAD = "deal_party_links"
RECORDS_AHEAD = "party_records"

Link = tuple[str, str]  # (party type, party id)


def web_domain(value: Any) -> str | None:
    """``"https://www.Acme.com/about"`` -> ``"acme.com"``: a URL's host (a bare domain stays)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    return text or None


def _ids(value: Any) -> list[str]:
    """A mapped id list (a list, or one provider id where the provider keeps one) as text."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return sorted({str(i).strip() for i in items if i not in (None, "") and str(i).strip()})


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _column_value(target: str, name: str, value: Any) -> Any:
    if value is None:
        return [] if name == "company_ids" else None
    if name == "company_ids":
        return _ids(value)
    if name == "email":
        return str(value).strip().lower() or None
    if name == "domain":
        return web_domain(value)
    length = MODELS[target].__table__.columns[name].type.length  # type: ignore[attr-defined]
    text = str(value)
    return text[:length] if length else text


def apply_change(session: Session, target: str, source: str, change: Canonical, version: int) -> str:
    """Write one mapped contact or company change; returns ``applied``, ``deleted`` or ``stale``."""
    model = MODELS[target]
    row: Any = session.scalars(
        select(model).where(model.source == source, model.external_id == change.key).with_for_update()
    ).first()
    now = utcnow()
    if row is None:
        row = model(
            source=source,
            external_id=change.key,
            properties={},
            property_versions={},
            version_ms=0,
            deleted=False,
            created_at=now,
            updated_at=now,
        )
        if target == "contact":
            row.company_ids = []
        session.add(row)
    fields = dict(row.properties or {})
    versions = dict(row.property_versions or {})
    applied: dict[str, Any] = {}
    for name, value in change.fields.items():
        if version > versions.get(name, -1):
            applied[name] = value
            fields[name] = json.loads(json.dumps(value, default=_jsonable))
            versions[name] = version
    if not applied and change.fields:
        return "stale"
    row.properties = fields
    row.property_versions = versions
    row.version_ms = max(row.version_ms or 0, version)
    row.updated_at = now
    for name in COLUMNS[target]:
        if name in applied:
            setattr(row, name, _column_value(target, name, applied[name]))
    if "deleted" in applied:
        row.deleted = bool(applied["deleted"])
    session.flush()
    return "deleted" if row.deleted else "applied"


# -- deal associations ----------------------------------------------------------------------------


def preload_links(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[Link]]:
    """The links of these (source, deal id) keys in one statement; a deal with none maps to an
    empty set."""
    wanted: dict[str, set[str]] = {}
    for source, deal_id in keys:
        wanted.setdefault(source, set()).add(deal_id)
    found: dict[tuple[str, str], set[Link]] = {(s, d): set() for s, ids in wanted.items() for d in ids}
    if not found:
        return found
    where = or_(*(and_(CrmDealParty.source == s, CrmDealParty.deal_id.in_(sorted(ids))) for s, ids in wanted.items()))
    rows = session.execute(
        select(CrmDealParty.source, CrmDealParty.deal_id, CrmDealParty.party_type, CrmDealParty.party_id).where(where)
    )
    for source, deal_id, party_type, party_id in rows:
        found[(str(source), str(deal_id))].add((str(party_type), str(party_id)))
    return found


def preload_records(
    session: Session, links: dict[tuple[str, str], set[Link]]
) -> dict[tuple[str, str, str], CrmContact | CrmCompany]:
    """The contact and company records these links name, in one statement per party type."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for (source, _), held in links.items():
        for party_type, party_id in held:
            wanted.setdefault((party_type, source), set()).add(party_id)
    found: dict[tuple[str, str, str], CrmContact | CrmCompany] = {}
    for target, model in MODELS.items():
        by_source = {source: ids for (t, source), ids in wanted.items() if t == target}
        if not by_source:
            continue
        where = or_(*(and_(model.source == s, model.external_id.in_(sorted(ids))) for s, ids in by_source.items()))
        rows: list[Any] = list(session.scalars(select(model).where(where)))
        for row in rows:
            found[(target, row.source, row.external_id)] = row
    return found


def forget_preloaded(session: Session) -> None:
    """Links were re-pointed (a merge): the chunk's read of links and records no longer holds."""
    ahead = session.info.get(READ_AHEAD, {})
    ahead.pop(LINKS_AHEAD, None)
    ahead.pop(RECORDS_AHEAD, None)


def _links(session: Session, source: str, deal_id: str) -> set[Link]:
    """The deal's links: from the chunk's read when it covers the deal, else selected."""
    ahead = session.info.get(READ_AHEAD, {}).get(LINKS_AHEAD)
    if ahead is not None and (source, deal_id) in ahead:
        return set(ahead[(source, deal_id)])
    return {
        (str(t), str(p))
        for t, p in session.execute(
            select(CrmDealParty.party_type, CrmDealParty.party_id).where(
                CrmDealParty.source == source, CrmDealParty.deal_id == deal_id
            )
        )
    }


def _records(session: Session, target: str, source: str, ids: list[str]) -> list[Any]:
    """The hub's records of these party ids: from the chunk's read where it still holds, the
    rest selected (one created in this chunk, or one the read did not find)."""
    model = MODELS[target]
    ahead = session.info.get(READ_AHEAD, {}).get(RECORDS_AHEAD) or {}
    found: list[Any] = []
    missing = []
    for party_id in ids:
        row = ahead.get((target, source, party_id))
        if row is not None:
            state = inspect(row)
            if not (state.transient or state.detached) and (row.source, row.external_id) == (source, party_id):
                found.append(row)
                continue
        missing.append(party_id)
    if missing:
        found += session.scalars(select(model).where(model.source == source, model.external_id.in_(missing)))
    return found


def record_deal_parties(
    session: Session,
    source: str,
    deal_id: str,
    *,
    contact_ids: Iterable[Any] | None = None,
    company_ids: Iterable[Any] | None = None,
) -> None:
    """Set the deal's contacts and/or companies (``None``: that side was not said, kept as is):
    the links it holds read once (from the chunk's read when there is one), the ones no longer
    said deleted in one statement, the new ones inserted in one."""
    sides = [
        (t, set(_ids(list(given))))
        for t, given in (("contact", contact_ids), ("company", company_ids))
        if given is not None
    ]
    if not sides:
        return
    held = _links(session, source, deal_id)
    gone: list[Link] = []
    new: list[Link] = []
    for party_type, wanted in sides:
        have = {p for t, p in held if t == party_type}
        gone += [(party_type, p) for p in sorted(have - wanted)]
        new += [(party_type, p) for p in sorted(wanted - have)]
    if not gone and not new:
        return
    for party_type in sorted({t for t, _ in gone}):
        session.execute(
            delete(CrmDealParty).where(
                CrmDealParty.source == source,
                CrmDealParty.deal_id == deal_id,
                CrmDealParty.party_type == party_type,
                CrmDealParty.party_id.in_([p for t, p in gone if t == party_type]),
            )
        )
    if new:
        now = utcnow()
        session.execute(
            insert(CrmDealParty),
            [{"source": source, "deal_id": deal_id, "party_type": t, "party_id": p, "created_at": now} for t, p in new],
        )
    # the chunk's read of this deal's links no longer holds (and would not after a rollback)
    session.info.get(READ_AHEAD, {}).get(LINKS_AHEAD, {}).pop((source, deal_id), None)


def record_from_deal(session: Session, source: str, deal_id: str, applied: dict[str, Any]) -> bool:
    """Store the associations a deal change carried (its mapped ``contact_ids``/``company_ids``);
    True when it carried any. A null value says nothing (a HubSpot batch read carries no
    associations; a Pipedrive deal without a person): what the hub holds stays."""
    carried = {kind: applied[name] for name, kind in DEAL_PARTY_FIELDS.items() if applied.get(name) is not None}
    if not carried:
        return False
    record_deal_parties(
        session,
        source,
        deal_id,
        contact_ids=_ids(carried["contact"]) if "contact" in carried else None,
        company_ids=_ids(carried["company"]) if "company" in carried else None,
    )
    return True


def local_parties(session: Session, deal: Deal) -> tuple[DealParties, bool]:
    """The deal's contacts' emails and companies' domains from the hub's records, and whether
    that answer is complete: the deal's record carried both its contacts and its companies
    (its mapping maps ``contact_ids`` and ``company_ids`` and both had a value) and the hub holds
    a record of every one of them. An incomplete answer may still match a referral; only a complete one may be
    taken as "nobody to match"."""
    links = _links(session, deal.source, deal.external_id)
    contact_ids = sorted({p for t, p in links if t == "contact"})
    company_ids = sorted({p for t, p in links if t == "company"})
    contacts = _records(session, "contact", deal.source, contact_ids) if contact_ids else []
    companies = _records(session, "company", deal.source, company_ids) if company_ids else []
    carried = all((deal.properties or {}).get(name) is not None for name in DEAL_PARTY_FIELDS)
    complete = carried and len(contacts) == len(contact_ids) and len(companies) == len(company_ids)
    emails = sorted({c.email for c in contacts if c.email and not c.deleted})
    domains = sorted({c.domain for c in companies if c.domain and not c.deleted})
    found = DealParties(
        emails=tuple(emails), domains=tuple(domains), contact_ids=tuple(contact_ids), company_ids=tuple(company_ids)
    )
    return found, complete


# -- merges ---------------------------------------------------------------------------------------


def merge(session: Session, target: str, source: str, from_ids: Sequence[str], into_id: str) -> None:
    """The CRM merged contacts (or companies): the merged-away records are marked deleted and
    ``merged_into`` the survivor (an unknown survivor takes over the first merged-away record,
    whose id changes), and their deal associations (and a contact's company ids) move to it.
    Safe to run twice."""
    forget_preloaded(session)
    model = MODELS[target]
    into_id = str(into_id)
    wanted = [str(i) for i in from_ids if str(i) != into_id]
    if not wanted:
        return
    gone: list[Any] = list(
        session.scalars(
            select(model)
            .where(model.source == source, model.external_id.in_(wanted))
            .order_by(model.id)
            .with_for_update()
        )
    )
    gone = [r for r in gone if (r.properties or {}).get(MERGED_INTO) != into_id]
    survivor: Any = session.scalars(
        select(model).where(model.source == source, model.external_id == into_id).with_for_update()
    ).first()
    now = utcnow()
    if survivor is None and gone:
        survivor = gone.pop(0)
        old_id = survivor.external_id
        survivor.external_id = into_id
        survivor.deleted = False
        survivor.properties = {**(survivor.properties or {}), "merged_from": [old_id]}
        survivor.updated_at = now
    for row in gone:
        row.deleted = True
        row.properties = {**(row.properties or {}), MERGED_INTO: into_id}
        row.updated_at = now
        if survivor is not None:
            survivor.properties = {
                **(survivor.properties or {}),
                "merged_from": sorted({*(survivor.properties or {}).get("merged_from", []), row.external_id}),
            }
    _repoint_links(session, source, target, wanted, into_id)
    if target == "company":
        naming = or_(*(cast(CrmContact.company_ids, Text).contains(json.dumps(i)) for i in wanted))
        for contact in session.scalars(select(CrmContact).where(CrmContact.source == source, naming)):
            ids = list(contact.company_ids or [])
            if set(ids) & set(wanted):
                contact.company_ids = sorted({into_id if i in wanted else i for i in ids})
    session.flush()


def merge_deal_links(session: Session, source: str, from_ids: Sequence[str], into_id: str) -> None:
    """A CRM merge of deals: the merged-away deals' associations become the survivor's."""
    forget_preloaded(session)
    into_id = str(into_id)
    wanted = [str(i) for i in from_ids if str(i) != into_id]
    if not wanted:
        return
    rows = list(
        session.scalars(select(CrmDealParty).where(CrmDealParty.source == source, CrmDealParty.deal_id.in_(wanted)))
    )
    held = {
        (str(t), str(p))
        for t, p in session.execute(
            select(CrmDealParty.party_type, CrmDealParty.party_id).where(
                CrmDealParty.source == source, CrmDealParty.deal_id == into_id
            )
        )
    }
    for row in rows:
        if (row.party_type, row.party_id) in held:
            session.delete(row)
        else:
            row.deal_id = into_id
            held.add((row.party_type, row.party_id))
    session.flush()


def _repoint_links(session: Session, source: str, party_type: str, from_ids: list[str], into_id: str) -> None:
    rows = list(
        session.scalars(
            select(CrmDealParty).where(
                CrmDealParty.source == source,
                CrmDealParty.party_type == party_type,
                CrmDealParty.party_id.in_(from_ids),
            )
        )
    )
    if not rows:
        return
    deals_of_survivor = set(
        session.scalars(
            select(CrmDealParty.deal_id).where(
                CrmDealParty.source == source, CrmDealParty.party_type == party_type, CrmDealParty.party_id == into_id
            )
        )
    )
    for row in rows:
        if row.deal_id in deals_of_survivor:
            session.delete(row)
        else:
            session.execute(update(CrmDealParty).where(CrmDealParty.id == row.id).values(party_id=into_id))
            deals_of_survivor.add(row.deal_id)


# -- conflicts ------------------------------------------------------------------------------------


def _is_customer(stage: str | None) -> bool:
    return bool(stage) and str(stage).strip().lower().startswith("customer")


def local_conflicts(session: Session, source: str, *, email: str | None, domain: str | None) -> list[CrmMatch]:
    """``CrmConnector.find_conflicts`` answered from the hub's records of ``source``: open deals
    and customers behind a contact with this email or a company with this domain, plus the
    contact itself when it is neither."""
    email = (email or "").strip().lower() or None
    domain = web_domain(domain)
    found: dict[tuple[str, str, str], CrmMatch] = {}

    def add(match: CrmMatch) -> None:
        found.setdefault((match.kind, match.object_type, match.object_id), match)

    contacts = (
        list(
            session.scalars(
                select(CrmContact).where(
                    CrmContact.source == source, CrmContact.email == email, CrmContact.deleted.is_(False)
                )
            )
        )
        if email
        else []
    )
    companies = (
        list(
            session.scalars(
                select(CrmCompany).where(
                    CrmCompany.source == source, CrmCompany.domain == domain, CrmCompany.deleted.is_(False)
                )
            )
        )
        if domain
        else []
    )
    for company in companies:
        if _is_customer(company.lifecycle_stage):
            add(CrmMatch("customer", "company", company.external_id, company.name, "domain"))
        for match in _deal_matches(session, source, "company", [company.external_id], "domain"):
            add(match)
    for contact in contacts:
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p) or None
        conflict = False
        if _is_customer(contact.lifecycle_stage):
            add(CrmMatch("customer", "contact", contact.external_id, name, "email"))
            conflict = True
        matches = _deal_matches(session, source, "contact", [contact.external_id], "email")
        matches += _deal_matches(session, source, "company", list(contact.company_ids or []), "email")
        for match in matches:
            add(match)
            conflict = True
        if not conflict:
            add(CrmMatch("contact", "contact", contact.external_id, name, "email"))
    return list(found.values())


def _deal_matches(session: Session, source: str, party_type: str, party_ids: list[str], on: Any) -> list[CrmMatch]:
    if not party_ids:
        return []
    deal_ids = select(CrmDealParty.deal_id).where(
        CrmDealParty.source == source, CrmDealParty.party_type == party_type, CrmDealParty.party_id.in_(party_ids)
    )
    matches = []
    for deal in session.scalars(
        select(Deal)
        .where(Deal.source == source, Deal.external_id.in_(deal_ids), Deal.deleted.is_(False))
        .order_by(Deal.id)
    ):
        if deal.status == "closed_won":
            matches.append(CrmMatch("customer", "deal", deal.external_id, deal.name, on))
        elif deal.status not in _CLOSED:
            matches.append(CrmMatch("open_deal", "deal", deal.external_id, deal.name, on))
    return matches


def find_conflicts(
    session: Session,
    crm: CrmConnector,
    *,
    email: str | None,
    domain: str | None,
    enough: Callable[[list[CrmMatch]], bool] = bool,
) -> list[CrmMatch]:
    """The conflicts of an email and a domain: the hub's records first; when what they found is
    not ``enough`` for the caller's decision (by default: nothing found), the CRM is asked too
    and both answers count. So a local "no conflict" is always confirmed by the CRM."""
    local = local_conflicts(session, crm.name, email=email, domain=domain)
    if enough(local):
        return local
    seen = {(m.kind, m.object_type, m.object_id) for m in local}
    remote = [
        m for m in crm.find_conflicts(email=email, domain=domain) if (m.kind, m.object_type, m.object_id) not in seen
    ]
    return [*local, *remote]
