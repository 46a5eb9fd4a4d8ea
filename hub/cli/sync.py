"""``partnerhub sync``: pull a provider's records through its API (``hub.sync``).

``backfill`` is the initial sync (or a catch-up): it reads every page from the saved cursor with a
progress bar; killed halfway, the next run resumes from the last saved page. ``status`` shows
where each object's polling stands.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import select

from connectors.capabilities import Polls
from connectors.errors import HubError
from hub.pipeline.models import SyncCursor
from hub.pipeline.sync import PollResult, poll, reset_cursor
from hub.runtime.settings import load_settings

app = typer.Typer(help="Pull records through the providers' APIs (initial sync, catch-up).", no_args_is_help=True)
console = Console(highlight=False)


def _open() -> Any:
    from hub.runtime.context import Hub

    return Hub.open(load_settings(), load_mappings=True)


@app.command()
def backfill(
    connector: Annotated[str, typer.Argument(help="e.g. hubspot, salesforce, pipedrive, stripe")],
    objects: Annotated[
        list[str] | None, typer.Option("--object", "-o", help="Object to sync (repeatable). Default: all it polls.")
    ] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Start from the beginning, not the saved cursor.")] = False,
    max_pages: Annotated[
        int | None, typer.Option("--max-pages", min=1, help="Stop after this many pages per object.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; one summary line per object.")] = False,
) -> None:
    """Read every record changed since the saved cursor into the inbox, page by page."""
    try:
        hub = _open()
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        known = hub.connectors.get(connector)
        if known is None:
            raise HubError(f"unknown connector {connector!r} (known: {', '.join(sorted(hub.connectors))})")
        chosen = list(objects or (known.poll_objects if isinstance(known, Polls) else ()))
        if not chosen:
            raise HubError(f"{connector} has nothing to poll")
        for object_type in chosen:
            if restart:
                reset_cursor(hub, connector, object_type)
            result = _backfill_one(hub, connector, object_type, max_pages=max_pages, quiet=quiet)
            state = "done" if result.finished else "stopped (run again to resume)"
            console.print(
                f"{connector}/{object_type}: {result.records} records in {result.pages} pages, "
                f"{result.new_events} new events — {state}",
                markup=False,
            )
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        hub.close()


def _backfill_one(hub: Any, connector: str, object_type: str, *, max_pages: int | None, quiet: bool) -> PollResult:
    if quiet:
        return poll(hub, connector, object_type, max_pages=max_pages)
    total = None  # providers' change feeds give no total up front: the bar counts records and pages
    columns = [
        SpinnerColumn(),
        TextColumn(f"{connector}/{object_type}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records · {task.fields[pages]} pages"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("sync", total=total, pages=0)

        def on_page(result: PollResult, count: int) -> None:
            progress.update(task, advance=count, pages=result.pages)

        return poll(hub, connector, object_type, max_pages=max_pages, on_page=on_page)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Where each polled object's cursor stands."""
    hub = _open()
    try:
        with hub.sessions() as session:
            rows = [
                {
                    "connector": r.connector,
                    "object": r.object_type,
                    "cursor": r.cursor,
                    "updated_at": r.updated_at.isoformat(),
                }
                for r in session.scalars(select(SyncCursor).order_by(SyncCursor.connector, SyncCursor.object_type))
            ]
    finally:
        hub.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("nothing polled yet")
    for row in rows:
        console.print(
            f"{row['connector']}/{row['object']}: {json.dumps(row['cursor'])} (saved {row['updated_at']})", markup=False
        )
