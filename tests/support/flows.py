"""The partner flow through the running hub, for any CRM: the hub started with its CRM and the
fake SendGrid (``start_flow``), and the steps and reads the flow tests share — a partner added
by the CLI, partner/admin API calls, mails sent, referrals, "everything finished"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from hub.program.models import Referral
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL

ADMIN_TOKEN = "admin-token-made-up-for-tests-32-characters-or-more"

# what `partnerhub crm setup` prints once the custom fields the flow needs exist, per CRM
SETUP_SAYS = {
    "hubspot": "partnerhub_tracking_id",  # the custom properties the flow needs, created once
    "salesforce": "Opportunity.Partnerhub_Tracking_Id__c: present (External ID, unique)",  # checked: the admin made them
    "pipedrive": "deal.custom_fields.partnerhub_tracking_id: created",  # the custom fields, created once
}


def sendgrid_env(fake_sendgrid: Any) -> dict[str, str]:
    """The hub's SendGrid connector talking to the fake SendGrid."""
    return {
        "PARTNERHUB_SENDGRID__API_KEY": API_KEY,
        "PARTNERHUB_SENDGRID__API_BASE_URL": fake_sendgrid.url,
        "PARTNERHUB_SENDGRID__FROM_EMAIL": FROM_EMAIL,
    }


def start_flow(
    make_harness: Any,
    crm: str,
    database_url: str,
    fake_crm: Any,
    fake_sendgrid: Any,
    *,
    mappings: Path | None = None,
    **settings: str,
) -> Any:
    """The deployment of the partner flow with ``crm`` as the CRM: its custom fields set up by
    ``partnerhub crm setup``, the web app and one worker running. The fakes hang off the harness
    as ``h.fake_<crm>`` (for Pipedrive, also ``h.fake``: the fake behind the proxies) and
    ``h.fake_sendgrid``."""
    h = make_harness.for_crm(
        crm,
        database_url,
        fake_crm,
        mappings=mappings,
        **sendgrid_env(fake_sendgrid),
        PARTNERHUB_ADMIN_TOKEN=ADMIN_TOKEN,
        **settings,
    )
    if crm == "pipedrive":
        h.fake = fake_crm.fake
    else:
        setattr(h, f"fake_{crm}", fake_crm)
    h.fake_sendgrid = fake_sendgrid
    setup = h.cli("crm", "setup").stdout
    assert SETUP_SAYS[crm] in setup
    h.start_web()
    h.start_worker()
    return h


def add_partner(h, name: str, email: str, tier: str = "gold", *, via_cli: bool = False) -> str:  # type: ignore[no-untyped-def]
    """A partner as ``partnerhub partners add`` makes it; returns the partner's API key. The
    command's own domain function runs in this process unless ``via_cli`` (a process per partner
    costs seconds of CPU; the flow tests run the command itself where they test it)."""
    if via_cli:
        out = h.cli(
            "partners", "add", "--name", name, "--email", email, "--tier", tier, "--manager", "pm@vendor.example"
        ).stdout
        key = re.search(r"API key \(shown once, store it now\): (ph_live_\S+)", out)
        assert key, out
        return key.group(1)
    from hub.program.partners import add_partner as add

    with h.hub.sessions() as session, session.begin():
        made = add(session, name=name, email=email, tier=tier, partner_manager="pm@vendor.example")
    assert made.api_key.startswith("ph_live_")
    return made.api_key


def api(h, key: str | None, method: str, path: str, **kw: Any) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = kw.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.request(method, h.web_url + path, headers=headers, timeout=30, **kw)


def mails_to(h, address: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    out = []
    for r in h.fake_sendgrid.accepted:
        if any(t["email"] == address for p in r.body["personalizations"] for t in p["to"]):
            out.append(r.body)
    return out


def subjects(h, address: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.get("subject") or m["personalizations"][0].get("subject", "") for m in mails_to(h, address)]


def referral(h, tracking_id: str) -> Referral:  # type: ignore[no-untyped-def]
    with h.hub.sessions() as s:
        return s.scalars(select(Referral).where(Referral.tracking_id == tracking_id)).one()


def idle(h) -> bool:  # type: ignore[no-untyped-def]
    """Every inbox event and outbox item finished: the counts ``partnerhub status`` prints, read in
    this process (a CLI process per poll would cost seconds of CPU each)."""
    from sqlalchemy import func

    from hub.pipeline.models import InboxEvent, OutboxItem

    with h.hub.sessions() as s:
        for model in (InboxEvent, OutboxItem):
            if s.scalar(select(func.count()).select_from(model).where(model.state != "done")):
                return False
    return True
