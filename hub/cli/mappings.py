"""``partnerhub mappings``: check, preview, shadow-diff and schema for mapping files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.mapping.errors import MappingFileError, MappingRuntimeError
from hub.mapping.events import event_record
from hub.mapping.mappingset import compile_file, load_mappings
from hub.mapping.plan import Canonical, Plan
from hub.mapping.schema import schema_text
from hub.mapping.transforms import format_datetime

app = typer.Typer(
    help="Check, preview and shadow-diff mapping files; print their JSON Schema.",
    no_args_is_help=True,
    add_completion=False,
)


class Direction(str, Enum):
    inbound = "in"
    outbound = "out"


def jsonable(value: Any) -> Any:
    """Hub values as JSON: datetimes as ISO-8601 UTC, dates as ISO, decimals as text."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _canonical_json(change: Canonical | None) -> dict[str, Any]:
    if change is None:
        return {"filtered": True}
    return {
        "target": change.target,
        "key": change.key,
        "version_ms": change.version_ms,
        "fields": jsonable(change.fields),
    }


def _fail(lines: list[str]) -> typer.Exit:
    for line in lines:
        typer.echo(line)
    typer.echo(f"{len(lines)} problem{'s' if len(lines) != 1 else ''}", err=True)
    return typer.Exit(1)


def _mappings_dir() -> Path:
    from hub.runtime.settings import load_settings

    return load_settings().mappings_dir


def _plan(file: Path) -> Plan:
    try:
        return compile_file(file)
    except MappingFileError as exc:
        raise _fail(exc.errors) from None


@app.command()
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Mapping files or folders (default: the settings' mappings folder)."),
    ] = None,
) -> None:
    """Check mapping files; print each problem as file:line:col: message; exit 1 on any."""
    targets = list(paths) if paths else [_mappings_dir()]
    missing = [f"{p}: no such file or folder" for p in targets if not p.exists()]
    if missing:
        raise _fail(missing)
    try:
        mapping_set = load_mappings(*targets)
    except MappingFileError as exc:
        raise _fail(exc.errors) from None
    if not mapping_set.plans:
        raise _fail([f"{', '.join(map(str, targets))}: no mapping files (<connector>/<object>.yaml)"])
    for plan in mapping_set.plans:
        directions = [info.direction for info in plan.fields.values()]
        reads = sum(d in ("inbound", "both") for d in directions)
        writes = sum(d in ("outbound", "both") for d in directions)
        typer.echo(
            f"ok  {plan.path}: {plan.connector} {plan.object} -> {plan.target} "
            f"({len(directions)} fields: {reads} read, {writes} written back)"
        )
    count = len(mapping_set.plans)
    typer.echo(f"{count} mapping file{'s' if count != 1 else ''} OK")


@app.command()
def preview(
    file: Annotated[Path, typer.Argument(help="The mapping file.", exists=True, dir_okay=False)],
    sample: Annotated[
        Path,
        typer.Option(
            help="JSON: one record or a list (provider records for in, hub records for out).",
            exists=True,
            dir_okay=False,
        ),
    ],
    direction: Annotated[
        Direction, typer.Option(help="in: the hub record; out: the provider payload.")
    ] = Direction.inbound,
) -> None:
    """Apply FILE to a sample and print the hub record (in) or the exact provider payload (out)."""
    plan = _plan(file)
    try:
        data = json.loads(sample.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail([f"{sample}: not JSON: {exc}"]) from None
    items = data if isinstance(data, list) else [data]
    results = []
    try:
        for item in items:
            if not isinstance(item, dict):
                raise _fail([f"{sample}: each sample must be a JSON object"])
            if direction is Direction.outbound:
                results.append(plan.outbound(item))
            else:
                record, partial = event_record(plan.connector, item)
                results.append(_canonical_json(plan.inbound(record, partial=partial)))
    except MappingRuntimeError as exc:
        raise _fail([str(exc)]) from None
    typer.echo(json.dumps(results if isinstance(data, list) else results[0], indent=2))


@app.command()
def diff(
    file: Annotated[Path, typer.Argument(help="The edited mapping file.", exists=True, dir_okay=False)],
    since: Annotated[str, typer.Option(help="How far back to read the inbox: 30m, 24h, 7d.")] = "24h",
    against: Annotated[
        Path | None,
        typer.Option(help="The mappings in force (default: the settings' mappings folder)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Most events read.")] = 10_000,
    show_unchanged: Annotated[bool, typer.Option(help="List records that would not change.")] = False,
) -> None:
    """Shadow run: apply FILE and the mapping in force to recent inbox events; show what changes."""
    from hub.mapping.shadow import parse_since, shadow_diff
    from hub.pipeline.inbox import recent_events
    from hub.pipeline.store import make_engine
    from hub.runtime.settings import load_settings

    try:
        window = parse_since(since)
    except ValueError as exc:
        raise _fail([str(exc)]) from None
    edited = _plan(file)
    settings = load_settings()
    folder = against or settings.mappings_dir
    try:
        current = load_mappings(folder).for_source(edited.connector, edited.object)
    except MappingFileError as exc:
        raise _fail([f"the mappings in force ({folder}) do not load:", *exc.errors]) from None
    if current is None:
        typer.echo(f"no mapping in force for {edited.connector} {edited.object}: every field is new")
    elif current.path.resolve() == file.resolve():
        typer.echo(f"note: {file} is the file in force; pass --against with the deployed mappings folder")
    engine = make_engine(settings.sqlalchemy_url)
    try:
        start = datetime.now(UTC) - window
        events = recent_events(engine, edited.connector, edited.object, start, limit)
    finally:
        engine.dispose()
    diffs = shadow_diff(edited, current, events)
    changed = 0
    for item in diffs:
        if not item.changed and not show_unchanged:
            continue
        changed += item.changed
        event = item.event
        typer.echo(
            f"{event.connector} {event.object_type} {event.object_id} "
            f"(inbox #{event.id}, {format_datetime(event.received_at)})"
        )
        before, after = item.before.describe() if item.before else "no mapping", item.after.describe()
        if before != after:
            typer.echo(f"  outcome: {before} -> {after}")
        for change in item.changes:
            typer.echo(
                f"  {change.field}: {json.dumps(jsonable(change.before))} -> {json.dumps(jsonable(change.after))}"
            )
        if not item.changed:
            typer.echo("  (no change)")
    typer.echo(f"{len(diffs)} events since {since}: {changed} would change, {len(diffs) - changed} unchanged")


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of printing.")] = None,
) -> None:
    """Print the JSON Schema of mapping files (for editors; committed as mappings/mapping.schema.json)."""
    text = schema_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


if __name__ == "__main__":
    app()
