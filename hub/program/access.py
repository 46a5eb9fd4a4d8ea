"""Who may sign in to the pages, and how: partner users, operators, one-time sign-in links and
server-side sessions.

Two kinds of people sign in (``hub.web``): **partner users** (several per partner company; the
partner's own address becomes its first user the first time it asks for a link) and
**operators** (role ``admin`` or read-only ``viewer``). Nobody has a password.

**Sign-in links.** A link carries a token that is an HMAC, under the web secret, of its row's id
and a random nonce; the row stores the nonce and the token's SHA-256, so nothing in the database
is a usable link without the secret. A link is good for ``LINK_TTL`` (15 minutes) and once. The
mail that carries it is owed like every notification, but with a placeholder where the link goes
and the row's id under ``at_send``; the outbox fills the link in just before SendGrid gets the
mail (``signin_preparer``), so no outbox or notification row ever holds it. The mail skips the
unsubscribe groups, has click tracking off, and is enqueued ahead of any backlog of other mail.

**Sessions.** Opening a session makes a new random id (the cookie carries it, signed, in
``hub.web``); the row keeps its SHA-256, when it was made, when it was last seen and its absolute
expiry. Sign-out revokes it; removing or deactivating a person revokes all of theirs at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.bounds import is_mail_address
from hub.pipeline.models import OutboxItem
from hub.pipeline.store import rowcount, utcnow
from hub.program.email.notify import AT_SEND, notify
from hub.program.email.templates import EmailTemplates
from hub.program.errors import InvalidInput, NotFound
from hub.program.models import AuditEntry, Notification, Operator, Partner, PartnerUser, SigninToken, WebSession

PARTNER_USER: Final = "partner_user"
OPERATOR: Final = "operator"
ROLES: Final = ("admin", "viewer")
LINK_TTL: Final = timedelta(minutes=15)
#: a session's ``last_seen_at`` is written at most this often (not one write per page)
SEEN_RESOLUTION: Final = timedelta(minutes=1)
SIGNIN_KIND: Final = "signin_link"
#: what the sign-in mail's templates get for the link; the outbox swaps in the real one
LINK_PLACEHOLDER: Final = "@@signin-link@@"
SIGNIN_PATH: Final = "/signin/link"


class AccessError(InvalidInput):
    """A request about users or operators that cannot be done (bad address, someone else's)."""


@dataclass(frozen=True)
class Who:
    """A signed-in person: a partner user (``partner_id`` set) or an operator (``role`` set)."""

    principal: str
    principal_id: int
    email: str
    name: str | None
    partner_id: int | None = None
    role: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.principal == OPERATOR

    @property
    def is_admin(self) -> bool:
        return self.principal == OPERATOR and self.role == "admin"

    @property
    def label(self) -> str:
        """How the audit names this person."""
        return f"{self.principal}:{self.email}"


def normalize_email(email: str) -> str:
    value = (email or "").strip().lower()
    if not is_mail_address(value):
        raise AccessError(f"not an e-mail address: {email!r}")
    return value


# -- operators and partner users ------------------------------------------------------------------


def audit(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One entry in the audit log (``audit_log``): who did what to which record."""
    session.add(
        AuditEntry(actor=actor[:200], action=action[:64], subject=subject[:200], before=before, after=after, at=_now())
    )


def add_operator(
    session: Session, email: str, *, role: str = "admin", name: str | None = None, actor: str = "cli"
) -> Operator:
    """Add an operator, or set an existing one's role (and make it active again); audited."""
    if role not in ROLES:
        raise AccessError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    address = normalize_email(email)
    operator = session.scalars(select(Operator).where(Operator.email == address)).first()
    if operator is None:
        operator = Operator(email=address, name=name, role=role, active=True, created_at=_now())
        session.add(operator)
    else:
        if operator.role != role:
            revoke_sessions(session, OPERATOR, operator.id)  # a new role starts fresh sessions
        before = {"role": operator.role, "active": operator.active}
        operator.role = role
        operator.active = True
        if name:
            operator.name = name
        audit(
            session,
            actor,
            "operator.update",
            f"operator:{address}",
            before=before,
            after={"role": role, "active": True},
        )
        session.flush()
        return operator
    session.flush()
    audit(session, actor, "operator.add", f"operator:{address}", after={"role": role})
    return operator


def deactivate_operator(session: Session, email: str, *, actor: str = "cli") -> Operator:
    operator = session.scalars(select(Operator).where(Operator.email == normalize_email(email))).first()
    if operator is None:
        raise NotFound(f"no operator {email!r}")
    operator.active = False
    revoke_sessions(session, OPERATOR, operator.id)
    audit(session, actor, "operator.deactivate", f"operator:{operator.email}", after={"active": False})
    return operator


def operators(session: Session) -> list[Operator]:
    return list(session.scalars(select(Operator).order_by(Operator.email)))


def newest_signin_mails(session: Session, addresses: list[str], *, scan: int = 200) -> dict[str, Notification]:
    """The newest sign-in mail to each of ``addresses`` (normalised), from one query over the
    newest ``scan`` such mails: what the console shows beside a person who signs in, so an
    operator sees an address that bounced or was suppressed."""
    if not addresses:
        return {}
    newest: dict[str, Notification] = {}
    for mail in session.scalars(
        select(Notification)
        .where(Notification.kind == SIGNIN_KIND, Notification.to_email.in_(addresses))
        .order_by(Notification.id.desc())
        .limit(scan)
    ):
        newest.setdefault(mail.to_email, mail)
    return newest


def partner_users(session: Session, partner_id: int) -> list[PartnerUser]:
    return list(
        session.scalars(
            select(PartnerUser)
            .where(PartnerUser.partner_id == partner_id, PartnerUser.active.is_(True))
            .order_by(PartnerUser.email)
        )
    )


def add_partner_user(
    session: Session, partner_id: int, email: str, *, name: str | None = None, invited_by: str | None = None
) -> PartnerUser:
    """Invite a colleague to a partner company (or make a removed one active again). An address
    that is another company's user, or an operator's, is refused."""
    address = normalize_email(email)
    user = session.scalars(select(PartnerUser).where(PartnerUser.email == address)).first()
    # the same words either way: a partner learns nothing about other companies' users
    taken = user is not None and user.partner_id != partner_id
    if taken or session.scalars(select(Operator.id).where(Operator.email == address)).first() is not None:
        raise AccessError("this address cannot be added to your company (ask the partner team)")
    if user is None:
        user = PartnerUser(
            partner_id=partner_id, email=address, name=name, active=True, invited_by=invited_by, created_at=_now()
        )
        session.add(user)
    else:
        user.active = True
        user.name = name or user.name
    session.flush()
    audit(session, invited_by or "system", "partner_user.add", f"partner:{partner_id}:user:{address}")
    return user


def remove_partner_user(session: Session, partner_id: int, user_id: int, *, actor: str) -> PartnerUser:
    """Remove a user from its company: inactive, every session revoked at once; audited. A user
    of another company is ``NotFound`` (partners never see each other's users)."""
    user = session.get(PartnerUser, user_id)
    if user is None or user.partner_id != partner_id or not user.active:
        raise NotFound("no such user")
    user.active = False
    revoke_sessions(session, PARTNER_USER, user.id)
    audit(session, actor, "partner_user.remove", f"partner:{partner_id}:user:{user.email}")
    return user


def find_by_email(session: Session, email: str) -> Who | None:
    """The active person with this address: an operator, else a partner user of an active
    partner, else — the partner's own address — its first user, made now."""
    try:
        address = normalize_email(email)
    except AccessError:
        return None
    operator = session.scalars(select(Operator).where(Operator.email == address, Operator.active.is_(True))).first()
    if operator is not None:
        return _operator(operator)
    user = session.scalars(select(PartnerUser).where(PartnerUser.email == address)).first()
    if user is not None:
        if not user.active:
            return None
        partner = session.get(Partner, user.partner_id)
        return _user(user) if partner is not None and partner.status == "active" else None
    partner = session.scalars(select(Partner).where(Partner.email == address, Partner.status == "active")).first()
    if partner is None:
        return None
    try:
        return _user(add_partner_user(session, partner.id, address, name=partner.name, invited_by="partner address"))
    except AccessError:  # the address is an operator's or another company's user: not signed in here
        return None


def who(session: Session, principal: str, principal_id: int) -> Who | None:
    """The person behind a session or token, if still active."""
    if principal == OPERATOR:
        operator = session.get(Operator, principal_id)
        return _operator(operator) if operator is not None and operator.active else None
    if principal == PARTNER_USER:
        user = session.get(PartnerUser, principal_id)
        if user is None or not user.active:
            return None
        partner = session.get(Partner, user.partner_id)
        return _user(user) if partner is not None and partner.status == "active" else None
    return None


def _operator(operator: Operator) -> Who:
    return Who(OPERATOR, operator.id, operator.email, operator.name, role=operator.role)


def _user(user: PartnerUser) -> Who:
    return Who(PARTNER_USER, user.id, user.email, user.name, partner_id=user.partner_id)


# -- one-time sign-in links -----------------------------------------------------------------------


def token_for(secret: bytes, token_id: int, nonce: str) -> str:
    digest = hmac.new(secret, f"signin:{token_id}:{nonce}".encode(), hashlib.sha256).digest()
    return f"{token_id}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def issue_link(session: Session, secret: bytes, person: Who, *, now: datetime) -> tuple[SigninToken, str]:
    """A new one-time token for this person: (its row, the token). Only the caller sees the
    token (the CLI prints it in a link; the mail gets it at send time)."""
    row = SigninToken(
        nonce=secrets.token_urlsafe(24),
        principal=person.principal,
        principal_id=person.principal_id,
        created_at=now,
        expires_at=now + LINK_TTL,
    )
    session.add(row)
    session.flush()
    token = token_for(secret, row.id, row.nonce)
    row.token_hash = _hash(token)
    return row, token


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{SIGNIN_PATH}?t={token}"


def consume_link(session: Session, token: str, *, now: datetime) -> Who | None:
    """The person a token signs in, using it up; ``None`` for an unknown, used or expired token
    (or a person removed since). Two concurrent uses: one wins (the update is conditional)."""
    if not token or len(token) > 200:
        return None
    row = session.scalars(select(SigninToken).where(SigninToken.token_hash == _hash(token))).first()
    if row is None:
        return None
    used = rowcount(
        session.execute(
            update(SigninToken)
            .where(SigninToken.id == row.id, SigninToken.used_at.is_(None), SigninToken.expires_at > now)
            .values(used_at=now)
        )
    )
    if not used:
        return None
    person = who(session, row.principal, row.principal_id)
    if person is not None:
        model = Operator if person.is_operator else PartnerUser
        session.execute(update(model).where(model.id == person.principal_id).values(last_signed_in_at=now))
    return person


def send_link(
    session: Session,
    secret: bytes,
    person: Who,
    *,
    now: datetime,
    templates: EmailTemplates | None = None,
    mail_settings: Any = None,
) -> int | None:
    """Owe the sign-in mail for this person, ahead of other mail, with no link in any row (see
    the module's docstring). Returns the notification id."""
    row, _ = issue_link(session, secret, person, now=now)
    return notify(
        session,
        kind=SIGNIN_KIND,
        to_email=person.email,
        to_name=person.name,
        context={"link": LINK_PLACEHOLDER, "name": person.name, "minutes": int(LINK_TTL.total_seconds() // 60)},
        natural_key=f"signin:{row.id}",
        templates=templates,
        mail_settings=mail_settings,
        ungrouped=True,
        click_tracking=False,
        at_send={"signin_token_id": row.id},
        priority=True,
    )


def signin_preparer(
    secret: Callable[[], bytes], base_url: Callable[[], str]
) -> Callable[[Session, OutboxItem, dict[str, Any]], dict[str, Any]]:
    """The outbox's send-time step for ``send_email``: a payload with ``at_send.signin_token_id``
    gets its link filled in (recomputed from the row's id and nonce); any other mail passes
    through. The ``at_send`` key never reaches the connector."""

    def prepare(session: Session, item: OutboxItem, payload: dict[str, Any]) -> dict[str, Any]:
        extra = payload.pop(AT_SEND, None) or {}
        token_id = extra.get("signin_token_id")
        if token_id is None:
            return payload
        row = session.get(SigninToken, int(token_id))
        if row is None:
            raise NotFound(f"sign-in token {token_id} is gone")
        link = link_url(base_url(), token_for(secret(), row.id, row.nonce))
        for part in ("text", "html"):
            if isinstance(payload.get(part), str):
                payload[part] = payload[part].replace(LINK_PLACEHOLDER, link)
        return payload

    return prepare


# -- sessions -------------------------------------------------------------------------------------


def open_session(session: Session, person: Who, *, now: datetime, max_age: timedelta) -> str:
    """A new session for this person: returns its id (the cookie's value), stores its hash."""
    sid = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_hash(sid),
            principal=person.principal,
            principal_id=person.principal_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
        )
    )
    session.flush()
    return sid


def session_for(session: Session, sid: str, *, now: datetime, idle: timedelta) -> tuple[WebSession, Who] | None:
    """The live session with this id and its person, or ``None`` (unknown, revoked, idle too
    long, past its absolute expiry, or the person removed). Seen now."""
    row = session.scalars(select(WebSession).where(WebSession.id_hash == _hash(sid))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now or row.last_seen_at + idle <= now:
        return None
    person = who(session, row.principal, row.principal_id)
    if person is None:
        return None
    if now - row.last_seen_at >= SEEN_RESOLUTION:
        row.last_seen_at = now
    return row, person


def revoke_session(session: Session, sid: str, *, now: datetime | None = None) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.id_hash == _hash(sid), WebSession.revoked_at.is_(None))
        .values(revoked_at=now or _now())
    )


def revoke_sessions(session: Session, principal: str, principal_id: int) -> int:
    """Revoke every live session of a person (removed, deactivated, role changed)."""
    return rowcount(
        session.execute(
            update(WebSession)
            .where(
                WebSession.principal == principal,
                WebSession.principal_id == principal_id,
                WebSession.revoked_at.is_(None),
            )
            .values(revoked_at=_now())
        )
    )


def revoke_partner_sessions(session: Session, partner_id: int) -> int:
    """Revoke the sessions of every user of a partner (its API key rotated, partner deactivated)."""
    ids = list(session.scalars(select(PartnerUser.id).where(PartnerUser.partner_id == partner_id)))
    if not ids:
        return 0
    return rowcount(
        session.execute(
            update(WebSession)
            .where(
                WebSession.principal == PARTNER_USER,
                WebSession.principal_id.in_(ids),
                WebSession.revoked_at.is_(None),
            )
            .values(revoked_at=_now())
        )
    )


def _now() -> datetime:
    return utcnow()
