"""Proof-of-performance files of MDF claims, kept in the database (``mdf_proofs``: every web
process sees them; nothing on a local disk).

A file is accepted only when its content is one of the program's types (``mdf.uploads.types``,
by magic bytes: ``%PDF-``, the PNG signature, the JPEG SOI marker; the name and the declared type
are never trusted, so an HTML page named ``.pdf`` is refused), at most ``mdf.uploads.max_bytes``
and within the partner's quota (``mdf.uploads.quota_bytes``, over its files not erased). It is
stored under a random name and served only as an attachment, with its checked type and
``nosniff`` (the entry layers set the headers), to the partner's own users and to operators:
``for_partner`` finds another partner's file as nothing at all. ``erase`` (``privacy forget``)
empties the bytes and keeps the row for the books.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, undefer

from hub.program.errors import InvalidInput
from hub.program.mdf.section import Uploads
from hub.program.models import MdfProof

#: type -> (content type served, the file's first bytes)
SIGNATURES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
}
EXTENSIONS = {"pdf": "pdf", "png": "png", "jpeg": "jpg"}
#: the names ``store`` gives: 32 URL-safe random characters and the type's extension
STORED_NAME = re.compile(r"[A-Za-z0-9_-]{32}\.(?:pdf|png|jpg)")


@dataclass(frozen=True)
class Upload:
    """A file as the request carried it (name as given: shown, never trusted)."""

    filename: str | None
    data: bytes


def sniff(data: bytes, allowed: Sequence[str]) -> str | None:
    """The type ``data`` is by its first bytes, among ``allowed``; None: none of them."""
    for kind in allowed:
        _, magics = SIGNATURES[kind]
        if any(data.startswith(m) for m in magics):
            return kind
    return None


def _clean_name(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>')
    return base[:200] or None


def check(files: Sequence[Upload], uploads: Uploads) -> list[tuple[Upload, str]]:
    """Each file with its type, or ``InvalidInput`` naming the file that is refused and why."""
    if not files:
        raise InvalidInput("a claim carries proof of performance: attach at least one file (PDF, PNG or JPEG)")
    if len(files) > uploads.max_files:
        raise InvalidInput(f"at most {uploads.max_files} files per claim")
    checked = []
    for f in files:
        label = _clean_name(f.filename) or "the file"
        if len(f.data) > uploads.max_bytes:
            raise InvalidInput(f"{label} is larger than {uploads.max_bytes} bytes")
        if not f.data:
            raise InvalidInput(f"{label} is empty")
        kind = sniff(f.data, uploads.types)
        if kind is None:
            raise InvalidInput(
                f"{label} is not a {', '.join(t.upper() for t in uploads.types)} file by its content "
                "(the name does not count)"
            )
        checked.append((f, kind))
    return checked


def stored_bytes(session: Session, partner_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(MdfProof.size_bytes), 0)).where(
                MdfProof.partner_id == partner_id, MdfProof.erased_at.is_(None)
            )
        )
        or 0
    )


def store(
    session: Session,
    partner_id: int,
    claim_id: int,
    checked: Sequence[tuple[Upload, str]],
    uploads: Uploads,
    *,
    by: str | None,
    now: datetime,
) -> list[MdfProof]:
    """Keep the checked files (caller's transaction, the partner's row locked by the caller), or
    ``InvalidInput`` when they would pass the partner's quota."""
    adding = sum(len(f.data) for f, _ in checked)
    have = stored_bytes(session, partner_id)
    if have + adding > uploads.quota_bytes:
        raise InvalidInput(
            f"these files ({adding} bytes) would pass your proof storage quota "
            f"({have} of {uploads.quota_bytes} bytes used)"
        )
    rows = []
    for f, kind in checked:
        content_type, _ = SIGNATURES[kind]
        row = MdfProof(
            claim_id=claim_id,
            partner_id=partner_id,
            name=f"{secrets.token_urlsafe(24)}.{EXTENSIONS[kind]}",
            original_name=_clean_name(f.filename),
            content_type=content_type,
            size_bytes=len(f.data),
            sha256=hashlib.sha256(f.data).hexdigest(),
            content=f.data,
            uploaded_by=by,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def for_partner(session: Session, name: str, partner_id: int | None) -> MdfProof | None:
    """The file stored as ``name`` with its bytes: the partner's own (``partner_id``), or any
    (None: an operator). Another partner's file and an erased one are not found."""
    if not STORED_NAME.fullmatch(name):  # only names this module makes (no NUL, no path, bounded)
        return None
    query = select(MdfProof).options(undefer(MdfProof.content)).where(MdfProof.name == name)
    if partner_id is not None:
        query = query.where(MdfProof.partner_id == partner_id)
    found = session.scalars(query).first()
    if found is None or found.erased_at is not None:
        return None
    return found


def download_name(proof: MdfProof) -> str:
    """The attachment's file name: the random stored name (never the partner's own words)."""
    return proof.name


def erase(session: Session, *, partner_ids: Sequence[int], emails: Sequence[str], now: datetime) -> list[int]:
    """Empty the bytes of the files of these partners or uploaded by these addresses (``privacy
    forget``); the rows stay, marked erased. Returns the ids of the files erased."""
    conditions = []
    if partner_ids:
        conditions.append(MdfProof.partner_id.in_(list(partner_ids)))
    if emails:
        conditions.append(func.lower(MdfProof.uploaded_by).in_([e.lower() for e in emails]))
    if not conditions:
        return []
    ids = list(session.scalars(select(MdfProof.id).where(or_(*conditions), MdfProof.erased_at.is_(None))))
    if ids:
        session.execute(
            update(MdfProof)
            .where(MdfProof.id.in_(ids))
            .values(content=b"", erased_at=now, original_name=None, uploaded_by=None)
            .execution_options(synchronize_session=False)
        )
    return ids
