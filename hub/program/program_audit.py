"""Every load of the program file that changed it is audited: the file's hash and the diff of its
money settings.

A process loads the program file at start-up and again whenever it changes on disk
(``hub.runtime.context.Hub.program``). Each load calls ``record_load``: when the file's SHA-256
differs from the one in the newest ``program.load`` audit entry, a new entry is written with the
hash and what changed in the money settings — each commission rule (by name), each
``payouts.*`` key and each ``fraud.*`` threshold, before and after. The same file loaded again,
by this process or by any other, writes nothing; two processes loading the same new file at
once write one entry (the slot ``program_file:<previous entry id>`` + hash is claimed once in
``program_runs``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.pipeline.inbox import insert_ignoring_conflicts
from hub.program.models import AuditEntry, ProgramRun
from hub.program.program_file import Program

ACTION = "program.load"
ACTOR = "program-file"


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes (of nothing when the file is absent: the defaults are in force)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    return hashlib.sha256(data).hexdigest()


def money_settings(program: Program) -> dict[str, Any]:
    """The settings that decide money, flat: ``commissions.<rule name>``, ``payouts.<key>``,
    ``fraud.<key>`` -> their values as JSON."""
    found: dict[str, Any] = {}
    for rule in program.commissions:
        key, n = f"commissions.{rule.name}", 2
        while key in found:  # two rules of one name: keep both
            key, n = f"commissions.{rule.name} ({n})", n + 1
        found[key] = rule.model_dump(mode="json", exclude_defaults=False)
    for section, model in (("payouts", program.payouts), ("fraud", program.fraud)):
        for name, value in model.model_dump(mode="json").items():
            found[f"{section}.{name}"] = value
    return found


def money_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {"before": old, "after": new}}`` for every key whose value changed (``None``: absent)."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def record_load(session: Session, *, path: Path, digest: str, program: Program, at: datetime) -> AuditEntry | None:
    """Audit a load of the program file when its hash changed (the caller's transaction); None
    when the newest audited load had the same hash."""
    last = session.scalars(select(AuditEntry).where(AuditEntry.action == ACTION).order_by(AuditEntry.id.desc())).first()
    previous = last.after or {} if last is not None else {}
    if previous.get("hash") == digest:
        return None
    slot = {"kind": f"program_file:{last.id if last else 0}", "period": digest[:16], "ran_at": at, "summary": None}
    if not insert_ignoring_conflicts(session, ProgramRun, [slot], ("kind", "period")):
        return None  # another process recorded this very change
    money = money_settings(program)
    entry = AuditEntry(
        actor=ACTOR,
        action=ACTION,
        subject=f"file:{path.name}",
        before={"hash": previous.get("hash")},
        after={
            "hash": digest,
            "path": str(path),
            "present": path.exists(),
            "money_diff": money_diff(previous.get("money") or {}, money),
            "money": money,
        },
        at=at,
    )
    session.add(entry)
    return entry
