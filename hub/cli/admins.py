"""``partnerhub admins``: the operators who sign in to the console, and sign-in links for
machines without e-mail (the first operator, a laptop)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.cli.common import open_hub, settings_or_exit
from hub.cli.errors import domain_errors
from hub.pipeline.store import upgrade
from hub.pipeline.unit_of_work import unit_of_work
from hub.program import access, clock
from hub.runtime.context import Hub, prepare_local_files
from hub.runtime.web_secret import public_base_url, web_secret

app = typer.Typer(help="Operators of the console and their sign-in links.", no_args_is_help=True)
console = Console()

Email = Annotated[str, typer.Argument(help="The operator's e-mail address.")]


def _hub() -> Hub:
    settings = settings_or_exit()
    prepare_local_files(settings)
    upgrade(settings.sqlalchemy_url)
    return open_hub(settings, start_redis=False)


@app.command("add")
def add(
    email: Email,
    role: Annotated[str, typer.Option(help="admin, or viewer (read-only).")] = "admin",
    name: Annotated[str | None, typer.Option(help="The operator's name, as the console shows it.")] = None,
) -> None:
    """Add an operator (or change an existing one's role). Then: `partnerhub admins login-link EMAIL`."""
    hub = _hub()
    try:
        with domain_errors(), unit_of_work(hub) as session:
            operator = access.add_operator(session, email, role=role, name=name)
            console.print(f"operator {operator.email} ({operator.role})")
    finally:
        hub.close()


@app.command("deactivate")
def deactivate(email: Email) -> None:
    """Take an operator's access away; their sessions end at once."""
    hub = _hub()
    try:
        with domain_errors(), unit_of_work(hub) as session:
            operator = access.deactivate_operator(session, email)
            console.print(f"operator {operator.email} deactivated")
    finally:
        hub.close()


@app.command("list")
def list_operators() -> None:
    """The operators, their roles and when they last signed in."""
    hub = _hub()
    try:
        with hub.sessions() as session:
            table = Table("e-mail", "name", "role", "active", "last sign-in")
            for op in access.operators(session):
                last = op.last_signed_in_at.isoformat() if op.last_signed_in_at else "never"
                table.add_row(op.email, op.name or "", op.role, "yes" if op.active else "no", last)
            console.print(table)
    finally:
        hub.close()


@app.command("login-link")
def login_link(email: Email) -> None:
    """Print a one-time sign-in link for an operator (15 minutes, single use)."""
    hub = _hub()
    try:
        link = operator_link(hub, email)
    finally:
        hub.close()
    if link is None:
        typer.echo(f"error: no active operator {email!r} (add one: partnerhub admins add EMAIL)", err=True)
        raise typer.Exit(1)
    typer.echo(link)


def operator_link(hub: Hub, email: str) -> str | None:
    """A one-time sign-in link for the active operator with this address, or ``None``."""
    with unit_of_work(hub) as session:
        person = access.find_by_email(session, email)
        if person is None or not person.is_operator:
            return None
        _, token = access.issue_link(session, web_secret(hub.settings), person, now=clock.now(hub))
    return access.link_url(public_base_url(hub.settings), token)


def bootstrap_lines(hub: Hub) -> list[str]:
    """What ``partnerhub run`` tells a person at a terminal about signing in to the console: a
    one-time link when there is exactly one active admin, otherwise how to get one."""
    with hub.sessions() as session:
        admins = [op for op in access.operators(session) if op.active and op.role == "admin"]
    if not admins:
        return ["no operator yet: `partnerhub admins add you@example.com`, then `partnerhub admins login-link ...`"]
    if len(admins) > 1:
        return ["sign in: `partnerhub admins login-link EMAIL` prints a one-time link"]
    link = operator_link(hub, admins[0].email)
    return [f"sign in as {admins[0].email} (one-time link, 15 minutes): {link}"] if link else []
