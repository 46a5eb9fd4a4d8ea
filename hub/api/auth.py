"""Who is calling: a partner by API key, or an admin by the admin token (both Bearer)."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from hub.program import clock
from hub.program.models import Partner
from hub.program.partners import partner_for_key, record_activity
from hub.runtime.context import Hub

bearer = HTTPBearer(auto_error=False, description="A partner API key (ph_live_…) or the admin token.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


#: partner API calls closer together than this record activity once (one write per minute)
ACTIVITY_RESOLUTION = timedelta(minutes=1)


def _lookup(hub: Hub, key: str) -> Partner | None:
    """The partner behind the key; its API call counts as activity (stops re-engagement)."""
    with hub.sessions() as session, session.begin():
        partner = partner_for_key(session, key)
        if partner is None:
            return None
        now = clock.now(hub)
        if partner.last_activity_at is None or now - partner.last_activity_at >= ACTIVITY_RESOLUTION:
            record_activity(session, partner, at=now)
        session.flush()
        session.expunge(partner)
        return partner


async def current_partner(request: Request, credentials: Credentials) -> Partner:
    if credentials is None:
        raise HTTPException(401, "missing API key", headers={"WWW-Authenticate": "Bearer"})
    partner = await run_in_threadpool(_lookup, hub_of(request), credentials.credentials)
    if partner is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return partner


async def current_admin(request: Request, credentials: Credentials) -> str:
    token = hub_of(request).settings.admin_token
    if token is None:
        raise HTTPException(503, "the admin API is off: set PARTNERHUB_ADMIN_TOKEN")
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(401, "invalid admin token", headers={"WWW-Authenticate": "Bearer"})
    return "admin"


PartnerDep = Annotated[Partner, Depends(current_partner)]
AdminDep = Annotated[str, Depends(current_admin)]
