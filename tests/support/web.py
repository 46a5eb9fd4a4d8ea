"""Helpers for tests of the pages (``hub.web``): the CSRF token of a page's form, the sign-in
link in a mail the fake SendGrid accepted, a session opened directly (for tests that are not
about signing in)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from hub.program import access, clock
from hub.runtime.web_secret import web_secret
from hub.web import security

WEB_SECRET = "web-secret-made-up-for-tests-0000000000000000"  # made up for tests
LINK = re.compile(r"https?://[^\s\"<>]+/signin/link\?t=[A-Za-z0-9_.\-]+")


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return html.unescape(found.group(1))


def links_in(mails: list[Any], address: str) -> list[str]:
    """The sign-in links in the mails to ``address`` (the fake SendGrid's accepted requests)."""
    out: list[str] = []
    for mail in mails:
        body = mail.body if hasattr(mail, "body") else mail
        if not any(t["email"] == address for p in body["personalizations"] for t in p["to"]):
            continue
        for part in body["content"]:
            out += LINK.findall(part["value"])
    return list(dict.fromkeys(out))


def session_cookie(hub: Any, person: access.Who) -> tuple[str, str]:
    """(cookie name, value) of a new session for ``person``, as signing in makes it (at the hub's
    program clock, which the pages read)."""
    with hub.sessions() as session, session.begin():
        sid = access.open_session(session, person, now=clock.now(hub), max_age=timedelta(hours=1))
    secret = web_secret(hub.settings)
    https = (hub.settings.public_base_url or "").startswith("https://")
    return security.session_cookie_name(https), security.sign_sid(secret, sid)


#: the running hub's program: the shipped file with co-marketing funds open to gold partners
MDF_SECTION = {
    "enabled": True,
    "requires": {"tier": ["gold"]},
    "budgets": {"gold": {"USD": "5000.00"}},
    "uploads": {"max_bytes": 65536, "max_files": 3},
}


def mdf_mappings(tmp: Any) -> Any:
    """A copy of the shipped mapping folder whose program file opens MDF (``MDF_SECTION``)."""
    import shutil

    import yaml

    from tests.support.servers import REPO

    target = tmp / "mappings"
    shutil.copytree(REPO / "mappings", target)
    program = yaml.safe_load((target / "program.yaml").read_text())
    program["mdf"] = MDF_SECTION
    (target / "program.yaml").write_text(yaml.safe_dump(program, sort_keys=False))
    return target


class RunningHub:
    """The hub as an operator runs it, for browser tests: the web app and one worker as
    processes, on SQLite and their own Redis-compatible server (so other tests' ``flushall``
    never touches it), with the fake HubSpot and the fake SendGrid; ``hub`` is the same wiring
    in this process, to set up and read records. Shared by every browser test of a pytest
    worker (``running_hub``): each test uses its own partners."""

    def __init__(self, tmp: Any, redis_url: str, fake_hubspot: Any, fake_sendgrid: Any):
        from tests.support.flows import ADMIN_TOKEN, sendgrid_env
        from tests.support.hub import base_env
        from tests.support.hubspot_hub import hubspot_env

        self.tmp = tmp
        self.fake_hubspot = fake_hubspot
        self.fake_sendgrid = fake_sendgrid
        database_url = f"sqlite:///{tmp / 'hub.sqlite3'}"
        mappings = mdf_mappings(tmp)
        self.env = base_env(
            tmp,
            database_url,
            redis_url,
            **hubspot_env(fake_hubspot),
            **sendgrid_env(fake_sendgrid),
            PARTNERHUB_ADMIN_TOKEN=ADMIN_TOKEN,
            PARTNERHUB_WEB__SECRET=WEB_SECRET,
            PARTNERHUB_MAPPINGS_DIR=str(mappings),
        )
        self.procs: list[Any] = []
        self.web_url = ""
        self.hub: Any = None

    def start(self) -> RunningHub:
        import subprocess
        import sys

        import pytest

        from hub.pipeline.store import upgrade
        from hub.runtime.context import Hub
        from hub.runtime.settings import load_settings
        from tests.support.servers import HubProcess, free_port, wait_http_ok

        upgrade(self.env["DATABASE_URL"])
        setup = subprocess.run(
            [sys.executable, "-m", "hub.cli", "crm", "setup"], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.env["PARTNERHUB_PUBLIC_BASE_URL"] = self.web_url
        web = HubProcess(["web", "--port", str(port)], self.env, self.tmp / "web.log").start()
        self.procs.append(web)
        self.procs.append(HubProcess(["worker"], self.env, self.tmp / "worker.log").start())
        wait_http_ok(self.web_url + "/readyz", proc=web)
        with pytest.MonkeyPatch.context() as mp:  # this process's wiring, without leaking the env
            for key in [k for k in self.env if k.startswith("PARTNERHUB_") or k in ("REDIS_URL", "DATABASE_URL")]:
                mp.setenv(key, self.env[key])
            self.hub = Hub.open(load_settings())
        return self

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self.hub is not None:
            self.hub.close()

    def deliver(self, events: list[dict[str, Any]]) -> Any:
        """A signed HubSpot webhook batch to the running web app."""
        from tests.support.hubspot_hub import post_webhook

        return post_webhook(self.web_url, events)

    def link_for(self, address: str, *, after: int = 0, timeout: float = 20.0) -> str:
        """The newest sign-in link mailed to ``address`` among the mails after the first ``after``."""
        from tests.support.servers import wait_until

        def found() -> list[str]:
            return links_in(self.fake_sendgrid.accepted[after:], address)

        return str(wait_until(found, timeout=timeout, what=f"a sign-in mail to {address}")[-1])
