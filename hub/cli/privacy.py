"""``partnerhub privacy``: act on a person's request to be forgotten (``hub.program.privacy``)."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from connectors.errors import HubError
from hub.runtime.settings import load_settings

app = typer.Typer(help="Personal data requests.", no_args_is_help=True)


@app.command()
def forget(
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    actor: Annotated[str | None, typer.Option("--actor", help="Who asked (audit log). Default: the OS user.")] = None,
) -> None:
    """Anonymize a person everywhere the hub copied them (every text and JSON column of every
    table); no row is deleted and ledger amounts stay. Prints the rows changed per table."""
    from hub.program.privacy import forget as forget_person
    from hub.runtime.context import Hub

    if "@" not in email or len(email) > 320:
        typer.echo("error: EMAIL must be an email address", err=True)
        raise typer.Exit(2)
    try:
        hub = Hub.open(load_settings(), start_redis=False)
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        with hub.sessions() as session, session.begin():
            report = forget_person(session, email=email, actor=f"cli:{actor or getpass.getuser()}")
    finally:
        hub.close()
    if not report.total:
        typer.echo("nothing held about that address")
        return
    typer.echo("anonymized rows: " + ", ".join(f"{table} {n}" for table, n in sorted(report.counts.items())))
