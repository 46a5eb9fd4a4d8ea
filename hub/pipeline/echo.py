"""Echo suppression: the hub's own writes coming back as webhooks are recognised and dropped.

When an outbox action writes to a provider it reports every value it wrote; each becomes a
fingerprint (connector, object, field, hash of the value) kept for ``TTL``. An inbound change
whose changed fields all match live fingerprints is our echo: dropped (and counted), so
bidirectional sync cannot loop and no partner gets a spurious "moved to…" email. A later change
by a person to another value does not match and goes through. The mechanism is CRM-neutral:
every connector's write actions report ``written`` the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.pipeline.models import EchoFingerprint
from hub.pipeline.store import rowcount, utcnow

TTL = timedelta(hours=24)
#: the field name standing for "the hub created this object"
CREATED = "__created__"


def _hash(value: Any) -> str:
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.strip().encode()).hexdigest()


def remember_writes(
    session: Session,
    connector: str,
    written: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    created: Mapping[str, list[str]] | None = None,
) -> int:
    """``written``: {object_type: {object_id: {field: value}}}; ``created``: {object_type: [ids]}."""
    expires = utcnow() + TTL
    rows = []
    for object_type, objects in written.items():
        for object_id, fields in objects.items():
            for field, value in fields.items():
                rows.append(
                    EchoFingerprint(
                        connector=connector,
                        object_type=object_type,
                        object_id=str(object_id),
                        field=field,
                        value_hash=_hash(value),
                        expires_at=expires,
                    )
                )
    for object_type, ids in (created or {}).items():
        for object_id in ids:
            rows.append(
                EchoFingerprint(
                    connector=connector,
                    object_type=object_type,
                    object_id=str(object_id),
                    field=CREATED,
                    value_hash=_hash(None),
                    expires_at=expires,
                )
            )
    session.add_all(rows)
    return len(rows)


#: (connector, object type, object id)
ObjectKey = tuple[str, str, str]


def is_echo(session: Session, connector: str, object_type: str, object_id: str, changed: Mapping[str, Any]) -> bool:
    """True when every changed field carries a value the hub itself wrote (``changed`` empty:
    a creation event, an echo when the hub created the object)."""
    now = utcnow()
    prints = session.execute(
        select(EchoFingerprint.field, EchoFingerprint.value_hash).where(
            EchoFingerprint.connector == connector,
            EchoFingerprint.object_type == object_type,
            EchoFingerprint.object_id == str(object_id),
            EchoFingerprint.expires_at > now,
        )
    ).all()
    return matches({(field, value_hash) for field, value_hash in prints}, changed)


def live_prints(session: Session, keys: Iterable[ObjectKey]) -> dict[ObjectKey, set[tuple[str, str]]]:
    """The live fingerprints of many objects in one query (a chunk of inbox events): {key:
    {(field, value hash)}}; an object without any is absent."""
    wanted = {(c, t, str(i)) for c, t, i in keys}
    found: dict[ObjectKey, set[tuple[str, str]]] = {}
    if not wanted:
        return found
    rows = session.execute(
        select(
            EchoFingerprint.connector,
            EchoFingerprint.object_type,
            EchoFingerprint.object_id,
            EchoFingerprint.field,
            EchoFingerprint.value_hash,
        ).where(
            EchoFingerprint.connector.in_(sorted({c for c, _, _ in wanted})),
            EchoFingerprint.object_type.in_(sorted({t for _, t, _ in wanted})),
            EchoFingerprint.object_id.in_(sorted({i for _, _, i in wanted})),
            EchoFingerprint.expires_at > utcnow(),
        )
    )
    for connector, object_type, object_id, field, value_hash in rows:
        if (connector, object_type, object_id) in wanted:
            found.setdefault((connector, object_type, object_id), set()).add((field, value_hash))
    return found


def matches(known: set[tuple[str, str]], changed: Mapping[str, Any]) -> bool:
    """``is_echo`` against fingerprints already read (``live_prints``)."""
    if not known:
        return False
    if not changed:
        return (CREATED, _hash(None)) in known
    return all((field, _hash(value)) in known for field, value in changed.items())


def forget_expired(session: Session) -> int:
    return rowcount(session.execute(delete(EchoFingerprint).where(EchoFingerprint.expires_at <= utcnow())))
