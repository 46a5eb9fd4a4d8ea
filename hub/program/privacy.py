"""Forgetting a person: a CRM deletion, a CRM privacy request, or ``partnerhub privacy forget``.

What an erasure means here (docs/privacy.md has it table by table): every copy of the person's
address, and of their name where the hub knew it, is erased from the records; no row is deleted,
because rows carry identity other records and the books depend on (a ledger entry, a payout, a
deal, an inbox event's de-duplication key). Money stays: amounts, currencies, statuses and the
links between records are untouched, so statements and totals still add up. The audit entry names
the request by a hash of the address, never the address.

Two passes, in the caller's transaction:

1. **People.** The rows that describe the person, found by their address (case-insensitive) or,
   for a CRM deletion, by the CRM contact id the referrals recorded: a partner (name and address
   replaced, API key revoked, status ``forgotten``), a referral or a deal registration (contact
   address, name and notes blanked), a payment provider's customer (address and name blanked),
   the CRM's contact record (``hub.program.parties``: found by address or by its CRM id, which
   gives the address a CRM deletion event leaves out; address, name and phone blanked, marked
   deleted); the MDF proof files (``hub.program.mdf.proofs``) of a forgotten partner or uploaded
   by the person: their bytes erased, the rows kept.
   Their names join the address as what the second pass looks for.
2. **Every text and JSON column of every table** in ``Base.metadata`` (``personal_columns``), so
   a table added later is covered without a change here: each match of the address or a known
   name inside a text value or anywhere in a JSON document (values and keys) is replaced by
   ``[forgotten]``; a text value that is only the address becomes NULL where the column allows it;
   in a column with a unique constraint the match becomes ``forgotten-<hash>`` so rows stay
   distinct. Primary and foreign keys are never rewritten. A name (3+ characters) is looked for
   only in JSON documents and free-text columns (``Text``, or strings of 100+ characters), never
   in short code columns (a currency, a status, a country), where a short name could match by
   chance.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, TypeEngine

import hub.pipeline
import hub.program
from hub.pipeline.store import Base, utcnow
from hub.program.mdf import proofs as mdf_proofs
from hub.program.models import AuditEntry, CrmContact, DealRegistration, Partner, PaymentCustomer, Referral

FORGOTTEN = "[forgotten]"
#: a name shorter than this is too likely to match something else (``Al`` in ``Alpha``)
MIN_NAME = 3
#: a string column at least this long holds free text (a name may appear in it)
FREE_TEXT_LENGTH = 100
#: the fields of a CRM contact record that describe the person (blanked in its ``properties``)
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "company_domain")


@dataclass
class Forgotten:
    """What one request anonymized: rows changed, by table (counts only)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


# -- where the walk looks -------------------------------------------------------------------------


def _load_models() -> None:
    """Import every ``models`` module of the layers that own tables, so ``Base.metadata`` holds
    all of them whichever process asks (a table added in a new ``models`` module is found)."""
    for package in (hub.pipeline, hub.program):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.rsplit(".", 1)[-1] == "models":
                importlib.import_module(info.name)


def _base_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


def column_kind(column: Column[Any]) -> str | None:
    """``json``, ``text`` or None (not a place for personal data: numbers, dates, flags, keys)."""
    if column.primary_key or column.foreign_keys:
        return None
    type_ = _base_type(column.type)
    if isinstance(type_, JSON):
        return "json"
    if isinstance(type_, String):
        return "text"
    return None


def personal_columns(metadata: MetaData | None = None) -> list[Column[Any]]:
    """Every text and JSON column of every table (primary and foreign keys aside): where
    ``forget`` looks for the person."""
    if metadata is None:
        _load_models()
        metadata = Base.metadata
    return [c for table in metadata.sorted_tables for c in table.columns if column_kind(c)]


def _is_unique(column: Column[Any]) -> bool:
    if column.unique:
        return True
    table = column.table
    assert isinstance(table, Table)
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and column.name in constraint.columns:
            return True
    return any(index.unique and column.name in index.columns for index in table.indexes)


def _takes_names(column: Column[Any]) -> bool:
    if column_kind(column) == "json":
        return True
    length = getattr(_base_type(column.type), "length", None)
    return length is None or length >= FREE_TEXT_LENGTH


# -- replacing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Needles:
    emails: tuple[str, ...]
    names: tuple[str, ...]

    def for_column(self, column: Column[Any]) -> tuple[str, ...]:
        return self.emails + self.names if _takes_names(column) else self.emails

    def pattern(self, needles: tuple[str, ...]) -> re.Pattern[str]:
        ordered = sorted(needles, key=len, reverse=True)  # the full name before a part of it
        return re.compile("|".join(re.escape(n) for n in ordered), re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str], token: str = FORGOTTEN) -> tuple[Any, bool]:
    """``value`` (a string or a JSON document) with every match replaced; (new value, changed)."""
    if isinstance(value, str):
        new = pattern.sub(token, value)
        return new, new != value
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            new_key, key_hit = _scrub(key, pattern, token) if isinstance(key, str) else (key, False)
            while key_hit and (new_key in out or new_key in value):  # two keys must not become one
                new_key += "_"
            out[new_key], hit = _scrub(item, pattern, token)
            changed |= hit or key_hit
        return out, changed
    if isinstance(value, list):
        items = [_scrub(item, pattern, token) for item in value]
        return [item for item, _ in items], any(hit for _, hit in items)
    return value, False


def _scrub_text(column: Column[Any], value: str, needles: tuple[str, ...], pattern: re.Pattern[str]) -> str | None:
    if value.strip().lower() in needles and column.nullable and not _is_unique(column):
        return None
    if _is_unique(column):
        new = pattern.sub(lambda m: "forgotten-" + email_digest(m.group(0)), value)
    else:
        new = pattern.sub(FORGOTTEN, value)
    length = getattr(_base_type(column.type), "length", None)
    return new[:length] if length else new


def _mentions(column: Column[Any], needles: tuple[str, ...]) -> Iterator[ColumnElement[bool]]:
    text = func.lower(cast(column, Text))
    for needle in needles:
        yield text.contains(needle, autoescape=True)
        if column_kind(column) == "json":
            escaped = json.dumps(needle)[1:-1]  # how a JSON column stores a non-ASCII character
            if escaped != needle:
                yield text.contains(escaped.lower(), autoescape=True)


def _scrub_table(session: Session, table: Table, columns: list[Column[Any]], needles: _Needles) -> set[tuple[Any, ...]]:
    """Rows of ``table`` whose text or JSON columns mention a needle, scrubbed; returns their keys."""
    mention = or_(*(m for column in columns for m in _mentions(column, needles.for_column(column))))
    key = list(table.primary_key.columns)
    scrubbed: set[tuple[Any, ...]] = set()
    for row in session.execute(select(table).where(mention)).mappings().all():
        changes: dict[str, Any] = {}
        for column in columns:
            value = row[column.name]
            if value is None:
                continue
            found = needles.for_column(column)
            pattern = needles.pattern(found)
            if column_kind(column) == "json":
                new, hit = _scrub(value, pattern)
                if hit:
                    changes[column.name] = new
            elif isinstance(value, str) and pattern.search(value):
                changes[column.name] = _scrub_text(column, value, found, pattern)
        if changes:
            session.execute(table.update().where(and_(*(k == row[k.name] for k in key))).values(**changes))
            scrubbed.add(tuple(row[k.name] for k in key))
    return scrubbed


# -- the request ----------------------------------------------------------------------------------


def _names(*values: str | None) -> set[str]:
    return {v.strip().lower() for v in values if v and len(v.strip()) >= MIN_NAME}


def forget(
    session: Session,
    *,
    email: str | None,
    actor: str,
    crm: str | None = None,
    contact_id: str | None = None,
    reason: str = "request",
) -> Forgotten:
    """Anonymize one person, in the caller's transaction. ``email`` and/or (``crm``,
    ``contact_id``) say who. Safe to run twice (the second run finds nothing left)."""
    report = Forgotten()
    touched: dict[str, set[tuple[Any, ...]]] = {}  # table -> primary keys of the rows changed
    emails = {email.strip().lower()} if email else set()
    names: set[str] = set()
    referral_filters: list[ColumnElement[bool]] = []
    if emails:
        referral_filters.append(func.lower(Referral.contact_email).in_(emails))
    if crm and contact_id:
        referral_filters.append(and_(Referral.crm == crm, Referral.crm_contact_id == str(contact_id)))
    referrals = list(session.scalars(select(Referral).where(or_(*referral_filters)))) if referral_filters else []
    emails |= {r.contact_email.strip().lower() for r in referrals if r.contact_email}
    crm_filters: list[ColumnElement[bool]] = []
    if emails:
        crm_filters.append(func.lower(CrmContact.email).in_(emails))
    if crm and contact_id:
        crm_filters.append(and_(CrmContact.source == crm, CrmContact.external_id == str(contact_id)))
    crm_contacts = list(session.scalars(select(CrmContact).where(or_(*crm_filters)))) if crm_filters else []
    emails |= {c.email.strip().lower() for c in crm_contacts if c.email}
    if not emails and not referrals and not crm_contacts:
        return report

    # 1. the rows that describe the person
    for partner in session.scalars(select(Partner).where(func.lower(Partner.email).in_(emails))):
        names |= _names(partner.name)
        partner.name = FORGOTTEN
        partner.email = f"forgotten-{partner.id}@invalid.invalid"
        partner.api_key_hash = None
        partner.status = "forgotten"
        touched.setdefault(Partner.__tablename__, set()).add((partner.id,))
    registrations = list(
        session.scalars(select(DealRegistration).where(func.lower(DealRegistration.contact_email).in_(emails)))
    )
    contacts: list[Referral | DealRegistration] = [*referrals, *registrations]
    for contact in contacts:
        names |= _names(contact.contact_name)
        contact.contact_email = None
        contact.contact_name = FORGOTTEN if contact.contact_name else None
        contact.notes = FORGOTTEN if contact.notes else None
        contact.updated_at = utcnow()
        touched.setdefault(type(contact).__tablename__, set()).add((contact.id,))
    for person in crm_contacts:  # the CRM's record of the person: gone from the CRM, so deleted here
        names |= _names(" ".join(p for p in (person.first_name, person.last_name) if p))
        person.email = None
        person.first_name = FORGOTTEN if person.first_name else None
        person.last_name = FORGOTTEN if person.last_name else None
        person.properties = {
            k: (FORGOTTEN if k in CONTACT_FIELDS and v not in (None, "") else v)
            for k, v in (person.properties or {}).items()
        }
        person.deleted = True
        person.updated_at = utcnow()
        touched.setdefault(CrmContact.__tablename__, set()).add((person.id,))
    for customer in session.scalars(select(PaymentCustomer).where(func.lower(PaymentCustomer.email).in_(emails))):
        names |= _names(customer.name)
        customer.email = None
        customer.name = FORGOTTEN if customer.name else None
        touched.setdefault(PaymentCustomer.__tablename__, set()).add((customer.id,))
    # proof-of-performance files (MDF claims): the bytes of a forgotten partner's files, and of the
    # files the person uploaded, are erased (the rows stay for the books)
    forgotten_partners = [key[0] for key in touched.get(Partner.__tablename__, set())]
    for proof_id in mdf_proofs.erase(session, partner_ids=forgotten_partners, emails=sorted(emails), now=utcnow()):
        touched.setdefault("mdf_proofs", set()).add((proof_id,))
    session.flush()

    # 2. every copy, in every text and JSON column of every table
    needles = _Needles(tuple(sorted(emails)), tuple(sorted(names - emails)))
    by_table: dict[Table, list[Column[Any]]] = {}
    for column in personal_columns():
        assert isinstance(column.table, Table)
        by_table.setdefault(column.table, []).append(column)
    for table, columns in by_table.items():
        touched.setdefault(table.name, set()).update(_scrub_table(session, table, columns, needles))
    for table_name, keys in sorted(touched.items()):
        report.add(table_name, len(keys))
    session.expire_all()  # the ORM objects above reload what the walk wrote

    session.add(
        AuditEntry(
            actor=actor,
            action="privacy.forget",
            subject=f"email-sha256:{email_digest(email) if email else '-'}",
            before=None,
            after={"reason": reason, "crm": crm, "contact_id": contact_id, "anonymized": report.counts},
            at=utcnow(),
        )
    )
    return report


def is_person_deletion(object_type: str, event_type: str) -> bool:
    """A CRM event that means "this person is gone": ``contact.deletion`` or
    ``contact.privacyDeletion`` (the canonical event types every CRM connector emits)."""
    return object_type == "contact" and event_type.rpartition(".")[2] in ("deletion", "privacyDeletion")


def email_in(payload: Any) -> str | None:
    """The person's address in a CRM deletion event, where the connector could include it."""
    if not isinstance(payload, dict):
        return None
    for key in ("email", "Email"):
        if isinstance(payload.get(key), str) and "@" in payload[key]:
            return str(payload[key])
    for nested in ("properties", "previous", "data"):
        found = email_in(payload.get(nested))
        if found:
            return found
    return None
