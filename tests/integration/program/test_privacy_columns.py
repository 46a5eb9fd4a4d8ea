"""Forget walks every text and JSON column of every table in the metadata: a row planted in each
table with the address (and the person's name) in each such column comes out without them, on
SQLite and PostgreSQL; a second person's rows are untouched; no row is deleted; money stays.
And no engine puts a failing statement's parameters (an e-mail) in its error or a log line."""

from __future__ import annotations

import ast
import logging
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Date, DateTime, Integer, LargeBinary, Numeric, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.pipeline.store import Base, make_engine, upgrade
from hub.program.models import DealRegistration, LedgerEntry, Partner
from hub.program.privacy import FORGOTTEN, _base_type, column_kind, forget, personal_columns
from tests.support.servers import REPO

JANE = "jane.doe@acme-corp.example"
BOB = "bob.roe@other.example"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _fits(column: Column[Any], value: str) -> bool:
    length = getattr(_base_type(column.type), "length", None)
    return length is None or len(value) <= length


def _text(column: Column[Any], who: str, n: int) -> str:
    """A value for a text column that mentions ``who``'s address where the column can hold it."""
    if "email" in column.name and _fits(column, who):
        return who  # an address column holds just the address
    for candidate in (f"{who} #{n} {column.name}", who):
        if _fits(column, candidate):
            return candidate
    return f"x{n}"[: getattr(_base_type(column.type), "length", None) or 8]


def _plant(session: Session, who: str, n: int) -> dict[str, int]:
    """One row in every table, in dependency order, with ``who``'s address in every text and
    JSON column that can hold it; returns table -> the row's id."""
    ids: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        values: dict[str, Any] = {}
        for column in table.columns:
            if column.primary_key:
                continue
            if column.foreign_keys:
                referred = next(iter(column.foreign_keys)).column.table.name
                values[column.name] = ids.get(referred)
                continue
            kind = column_kind(column)
            type_ = _base_type(column.type)
            if kind == "json":
                values[column.name] = {"to": [f"mail {who}", {"name": f"{who}"}], who: n}
            elif kind == "text":
                values[column.name] = _text(column, who, n)
            elif isinstance(type_, Boolean):
                values[column.name] = False
            elif isinstance(type_, DateTime):
                values[column.name] = NOW
            elif isinstance(type_, Date):
                values[column.name] = date(2026, 11, 2)
            elif isinstance(type_, Integer | Numeric):
                values[column.name] = 100_00 + n
            elif isinstance(type_, LargeBinary):  # a stored file (an MDF proof): bytes, not text
                values[column.name] = b"%PDF-1.4\n" + str(n).encode()
            else:  # pragma: no cover - a new column type: teach the test about it
                raise AssertionError(f"{table.name}.{column.name}: no sample for {column.type!r}")
        result = session.execute(table.insert().values(**values))
        ids[table.name] = result.inserted_primary_key[0]
    return ids


def _rows(session: Session, table: Table) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(select(table).order_by(*table.primary_key.columns)).mappings()]


def test_forget_erases_the_address_from_every_text_and_json_column(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    columns = personal_columns()
    names = {f"{c.table.name}.{c.name}" for c in columns}  # type: ignore[attr-defined]
    # what the metadata says today includes the places the issue named (and every later table)
    assert {"deal_registrations.contact_email", "deal_registrations.contact_name", "deal_registrations.notes"} <= names
    assert {"inbox_events.last_error", "outbox_items.last_traceback", "alerts.message", "audit_log.after"} <= names
    tables = {t.name for t in Base.metadata.sorted_tables}
    assert tables >= {"deal_registrations", "ledger_entries", "payouts", "inbox_events", "alerts"}
    holding = [c for c in columns if column_kind(c) == "json" or _fits(c, JANE)]
    assert len(holding) > 60  # every table's text columns that can hold an address

    with Session(engine) as session:
        jane = _plant(session, JANE, 1)
        _plant(session, BOB, 2)
        session.execute(Base.metadata.tables["mdf_proofs"].update().values(erased_at=None))  # files not erased yet
        session.commit()
        before = {t.name: _rows(session, t) for t in Base.metadata.sorted_tables}
        for column in holding:  # the address is really there before
            values = [r[column.name] for r in before[column.table.name]]  # type: ignore[attr-defined]
            assert any(JANE in str(v) for v in values), f"{column} was not planted"

        report = forget(session, email=JANE.upper(), actor="test")
        session.commit()

        after = {t.name: _rows(session, t) for t in Base.metadata.sorted_tables}
        for column in columns:
            table = column.table.name  # type: ignore[attr-defined]
            for row in after[table]:
                assert JANE not in str(row[column.name]).lower(), f"{table}.{column.name} still holds the address"
        for table in Base.metadata.sorted_tables:
            # no row deleted; Bob's rows exactly as they were (audit_log gains the request's entry)
            assert len(after[table.name]) == len(before[table.name]) + (table.name == "audit_log")
            assert after[table.name][1] == before[table.name][1], f"{table.name}: the other person's row changed"
        assert report.counts["deal_registrations"] == 1 and report.counts["partners"] == 1
        assert set(report.counts) == {t.name for t in Base.metadata.sorted_tables if any(c.table is t for c in holding)}

        # money rows stay: the amounts and links of Jane's ledger entry are untouched
        entry = session.get(LedgerEntry, jane["ledger_entries"])
        assert entry is not None and (entry.amount_minor, entry.partner_id) == (100_01, jane["partners"])
        registration = session.get(DealRegistration, jane["deal_registrations"])
        assert registration is not None and registration.contact_email is None
        assert registration.contact_name == FORGOTTEN and registration.notes == FORGOTTEN
        assert session.get(Partner, jane["partners"]).status == "forgotten"  # type: ignore[union-attr]
        proofs = session.execute(select(Base.metadata.tables["mdf_proofs"]).order_by("id")).mappings().all()
        assert [(bytes(p["content"]), p["erased_at"] is not None) for p in proofs] == [
            (b"", True),  # Jane's (her partner's) file: the bytes erased, the row kept
            (b"%PDF-1.4\n2", False),
        ]
        assert forget(session, email=JANE, actor="test").total == 0  # nothing left the second time
        session.rollback()
    engine.dispose()


def test_forget_a_registration_contact_by_address_alone(db_session: Session) -> None:
    """A deal registration is the only record of the contact: its address, name and notes go,
    and the name goes from the stored event that carried the registration."""
    partner = Partner(name="Alpha Partners", email="alpha@partners.example", status="active", created_at=NOW)
    db_session.add(partner)
    db_session.flush()
    reg = DealRegistration(
        partner_id=partner.id,
        company_name="Acme Corp",
        company_key="acme",
        contact_name="Jane Doe",
        contact_email="Jane.Doe@acme-corp.example",
        notes="met at the fair",
        status="held_for_review",
        created_at=NOW,
        updated_at=NOW,
    )
    db_session.add(reg)
    db_session.commit()
    report = forget(db_session, email=JANE, actor="test")
    db_session.commit()
    assert report.counts == {"deal_registrations": 1}
    db_session.refresh(reg)
    assert (reg.contact_email, reg.contact_name, reg.notes) == (None, FORGOTTEN, FORGOTTEN)
    assert reg.company_name == "Acme Corp"  # the business, not the person


def test_a_failing_statement_never_carries_its_parameters(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    secret = "secret.person@private.example"
    log = logging.getLogger("hub.test")
    with Session(engine) as session:
        session.add(Partner(name="Secret Person", email=secret, status="active", created_at=NOW))
        session.commit()
        session.add(Partner(name="Secret Person", email=secret, status="active", created_at=NOW))
        with caplog.at_level(logging.INFO), pytest.raises(IntegrityError) as failed:
            try:
                session.commit()
            except IntegrityError:
                log.exception("commit failed")
                raise
    engine.dispose()
    assert "partners" in str(failed.value).lower()  # the statement is there
    assert "hidden due to hide_parameters" in str(failed.value)
    assert secret not in str(failed.value) and "Secret Person" not in str(failed.value)
    assert caplog.records and secret not in caplog.text and "Secret Person" not in caplog.text


def test_every_engine_is_created_with_hide_parameters() -> None:
    """Every ``create_engine`` call in the project (hub, tests, bench) passes hide_parameters=True."""
    calls = []
    for path in sorted(REPO.glob("**/*.py")):
        if {".venv", ".tools", "node_modules"} & set(path.relative_to(REPO).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                "create_engine",
                "engine_from_config",
            ):
                hidden = any(
                    k.arg == "hide_parameters" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords
                )
                calls.append((f"{path.relative_to(REPO)}:{node.lineno}", hidden))
    assert any(where.startswith("hub/pipeline/store.py") for where, _ in calls)
    assert [where for where, hidden in calls if not hidden] == []
