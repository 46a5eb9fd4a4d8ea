"""Files (``/console/files``): the mapping files and the program file as they are on disk in the
mappings folder the hub loads, each with the result of checking it (``file:line:col`` errors);
and a checker for an edited copy pasted into the page: checked as the file is, then shadow-run
against recent events — a mapping file through ``hub.mapping.shadow.shadow_diff`` over
``hub.pipeline.inbox.recent_events`` (what ``partnerhub mappings diff`` runs), the program file
through ``hub.program.program_diff.diff`` (what ``partnerhub program diff`` runs). The console
never writes a file: files stay the admin's, in their repository."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hub.mapping import MappingFileError
from hub.mapping.mappingset import load_mappings, mapping_files, read_mapping
from hub.mapping.shadow import parse_since, shadow_diff
from hub.pipeline.inbox import recent_events
from hub.program import clock
from hub.program.program_diff import diff as program_diff
from hub.program.program_file import PROGRAM_FILE, load_program, parse_program_text
from hub.web.console_common import badges
from hub.web.render import page
from hub.web.visit import OperatorVisit, PageError, Visit, not_found, posted

router = APIRouter(include_in_schema=False)
MOST_EVENTS = 2_000
MOST_SHOWN = 100


def _files(folder: Path) -> dict[str, Path]:
    """The files the hub loads, by their name relative to the mappings folder."""
    found = {str(p.relative_to(folder)): p for p in mapping_files(folder)}
    program = folder / PROGRAM_FILE
    if program.exists():
        found[PROGRAM_FILE] = program
    return dict(sorted(found.items()))


#: path -> (modification time, size, the check's errors): a file is checked again only when it
#: changed on disk (parsing every file on every view of the page is most of its time)
_checked: dict[Path, tuple[int, int, list[str]]] = {}


def _check_on_disk(name: str, path: Path) -> list[str]:
    try:
        stat = path.stat()
    except OSError as exc:
        return [f"{path}: cannot read: {type(exc).__name__}"]
    seen = _checked.get(path)
    if seen is not None and seen[:2] == (stat.st_mtime_ns, stat.st_size):
        return seen[2]
    errors = _check(name, path)
    _checked[path] = (stat.st_mtime_ns, stat.st_size, errors)
    return errors


def _check(name: str, path: Path, text: str | None = None) -> list[str]:
    if name == PROGRAM_FILE:
        try:
            if text is None:
                load_program(path.parent)
            else:
                parse_program_text(text, name=str(path))
        except MappingFileError as exc:
            return list(exc.errors)
        return []
    _, _, errors = read_mapping(path, text)
    return errors


@router.get("/console/files")
def files(visit: OperatorVisit, name: str | None = None) -> Response:
    folder = visit.hub.settings.mappings_dir
    listed = _files(folder)
    if name is not None and name not in listed:
        raise not_found()
    checks = {n: _check_on_disk(n, p) for n, p in listed.items()}
    shown = None
    if name is not None:
        try:
            shown = listed[name].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            shown = f"(cannot read: {type(exc).__name__})"
    with visit.hub.sessions() as session:
        counts = badges(session)
    return page(
        visit,
        "console/files.html",
        badges=counts,
        folder=str(folder),
        files=checks,
        name=name,
        shown=shown,
        result=None,
        edited="",
        since="7d",
    )


def _shadow(visit: Visit, name: str, path: Path, edited: str, window: timedelta) -> dict[str, Any]:
    """Check the edited text, then shadow-run it (writes nothing)."""
    errors = _check(name, path, edited)
    if errors:
        return {"errors": errors}
    hub = visit.hub
    until = clock.now(hub)
    if name == PROGRAM_FILE:
        edited_program = parse_program_text(edited, name=str(path))
        with hub.sessions() as session:
            result = program_diff(session, edited_program, since=until - window, until=until)
            session.rollback()  # a hypothetical: nothing to keep
        return {"errors": [], "program": result}
    _, plan, _ = read_mapping(path, edited)
    assert plan is not None
    try:
        current = load_mappings(hub.settings.mappings_dir).for_source(plan.connector, plan.object)
    except MappingFileError as exc:
        return {"errors": ["the mappings in force do not load:", *exc.errors]}
    events = recent_events(hub.engine, plan.connector, plan.object, until - window, MOST_EVENTS)
    diffs = shadow_diff(plan, current, events)
    changed = [d for d in diffs if d.changed]
    return {"errors": [], "events": len(diffs), "changed": changed[:MOST_SHOWN], "changed_count": len(changed)}


@router.post("/console/files/check")
async def check(request: Request) -> Response:
    visit, form = await posted(request)
    folder = visit.hub.settings.mappings_dir
    listed = _files(folder)
    name = form.get("name") or ""
    if name not in listed:
        raise PageError(400, "Choose one of the files the hub loads")
    edited = form.get("text") or ""
    if not edited.strip():
        raise PageError(400, "Paste the edited file first")
    since = (form.get("since") or "7d").strip()
    try:
        window = parse_since(since)
    except ValueError:
        raise PageError(400, "since: a period like 24h, 7d or 30d") from None
    if window > timedelta(days=400):
        raise PageError(400, "since: at most 400 days")
    result = await run_in_threadpool(_shadow, visit, name, listed[name], edited, window)
    checks = await run_in_threadpool(lambda: {n: _check_on_disk(n, p) for n, p in listed.items()})
    with visit.hub.sessions() as session:
        counts = badges(session)
    return page(
        visit,
        "console/files.html",
        badges=counts,
        folder=str(folder),
        files=checks,
        name=name,
        shown=None,
        result=result,
        edited=edited,
        since=since,
    )
