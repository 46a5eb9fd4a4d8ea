"""``partnerhub applications``, ``partnerhub onboarding`` and the lifecycle's ``partnerhub
partners`` commands (attributes, resegment, certify, peers, health): the partner lifecycle from the
command line. Decisions name their person with ``--by`` (default ``cli:<user>``) and are audited."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cli.program import _actor, _decide, _hub

applications_app = typer.Typer(help="Applications to join the program: the queue and decisions.", no_args_is_help=True)
onboarding_app = typer.Typer(
    help="Onboarding: checklists, completing steps, CSV import, the overdue queue.", no_args_is_help=True
)
console = Console()


def _print(rows: Any) -> None:
    sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")


def find_partner(session: Session, ref: str) -> Any:
    from hub.program.errors import NotFound
    from hub.program.models import Partner

    query = (
        select(Partner).where(Partner.id == int(ref))
        if ref.isdigit()
        else select(Partner).where(Partner.email == ref.strip().lower())
    )
    partner = session.scalars(query).first()
    if partner is None:
        raise NotFound(f"no partner {ref}")
    return partner


# -- applications -----------------------------------------------------------------------------


@applications_app.command("list")
def applications_list(
    status: Annotated[str, typer.Option(help="pending (confirmed, waiting), approved, declined, expired.")] = "pending",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Applications in one status (default: the review queue)."""
    from hub.program import applications

    hub = _hub(start_redis=False)
    try:
        with hub.sessions() as session:
            rows = [applications.as_dict(a) for a in applications.queue(session, status)]
    finally:
        hub.close()
    if as_json:
        _print(rows)
        return
    table = Table(title=f"applications ({status})")
    for column in ("id", "company", "email", "country", "recommended", "duplicate of", "created"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["company_name"],
            r["email"],
            r["country"] or "",
            "yes" if r["recommended"] else "",
            r["duplicate_of"] or "",
            str(r["created_at"])[:16],
        )
    console.print(table)


def _decide_application(application_id: int, approve_it: bool, reason: str, by: str | None) -> None:
    from hub.program import applications, clock
    from hub.runtime.web_secret import web_secret

    def work(s: Session, hub: Any) -> Any:
        return applications.decide(
            s,
            hub,
            application_id,
            approve_it=approve_it,
            actor=by or _actor(),
            reason=reason,
            now=clock.now(hub),
            signin_secret=web_secret(hub.settings) if approve_it else None,
        ).partner_id

    made = _decide(work)
    typer.echo(f"application {application_id} {'approved: partner ' + str(made) if approve_it else 'declined'}")


@applications_app.command("approve")
def applications_approve(
    application_id: Annotated[int, typer.Argument(min=1)],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    by: Annotated[str | None, typer.Option(help="The person deciding (default cli:<user>).")] = None,
) -> None:
    """Approve a confirmed application: the partner is created, mailed a sign-in link, and starts onboarding."""
    _decide_application(application_id, True, reason, by)


@applications_app.command("decline")
def applications_decline(
    application_id: Annotated[int, typer.Argument(min=1)],
    reason: Annotated[str, typer.Option(help="Why (sent to the applicant).")],
    by: Annotated[str | None, typer.Option(help="The person deciding (default cli:<user>).")] = None,
) -> None:
    """Decline a confirmed application with a reason; the applicant is told."""
    _decide_application(application_id, False, reason, by)


# -- onboarding ---------------------------------------------------------------------------------


@onboarding_app.command("show")
def onboarding_show(partner: Annotated[str, typer.Argument(metavar="PARTNER", help="Email or id.")]) -> None:
    """A partner's checklist (JSON)."""
    from hub.program import clock, onboarding

    hub = _hub(start_redis=False)
    try:
        with hub.sessions() as session:
            _print(onboarding.checklist(session, hub, find_partner(session, partner), clock.now(hub)))
    finally:
        hub.close()


@onboarding_app.command("complete")
def onboarding_complete(
    partner: Annotated[str, typer.Argument(metavar="PARTNER", help="Email or id.")],
    step: Annotated[str, typer.Argument(help="The step's name.")],
    by: Annotated[str | None, typer.Option(help="The person (default cli:<user>).")] = None,
) -> None:
    """Complete one onboarding step for a partner (audited)."""
    from hub.program import clock, onboarding

    def work(s: Session, hub: Any) -> Any:
        p = find_partner(s, partner)
        onboarding.complete(s, hub, p, step, by=by or _actor(), now=clock.now(hub))
        return p.onboarded_at

    done = _decide(work)
    typer.echo(f"{step} completed" + (f"; onboarding complete at {done.isoformat()}" if done else ""))


@onboarding_app.command("import")
def onboarding_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV: partner_email,module (a header row).")
    ],
    by: Annotated[str | None, typer.Option(help="Who vouches for the file (default cli:<user>).")] = None,
) -> None:
    """Training modules completed, from a learning platform's CSV export: each row completes the
    partner's training steps for that module. Unknown partners are listed and skipped; nothing is
    written unless every row can be read."""
    from hub.program import clock, onboarding
    from hub.program.models import Partner

    with file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"partner_email", "module"} <= set(rows[0]):
        typer.echo("error: the CSV needs a header row with partner_email and module", err=True)
        raise typer.Exit(2)
    bad = [
        n
        for n, r in enumerate(rows, 2)
        if not (r.get("partner_email") or "").strip() or not (r.get("module") or "").strip()
    ]
    if bad:
        typer.echo(f"error: rows without partner_email or module: lines {', '.join(map(str, bad[:20]))}", err=True)
        raise typer.Exit(2)

    def work(s: Session, hub: Any) -> tuple[int, list[str]]:
        now, done, unknown = clock.now(hub), 0, []
        for r in rows:
            email = r["partner_email"].strip().lower()
            p = s.scalars(select(Partner).where(Partner.email == email)).first()
            if p is None:
                unknown.append(email)
                continue
            done += onboarding.complete_module(s, p, r["module"].strip(), by=by or _actor(), now=now)
        return done, unknown

    done, unknown = _decide(work)
    typer.echo(f"{done} training step(s) completed from {len(rows)} row(s)")
    for email in unknown:
        typer.echo(f"skipped: no partner {email}", err=True)


@onboarding_app.command("overdue")
def onboarding_overdue() -> None:
    """The overdue-onboarding queue: steps reminded, escalated to the manager, still open (JSON)."""
    from hub.program import onboarding

    hub = _hub(start_redis=False)
    try:
        with hub.sessions() as session:
            rows = [
                {"partner": p.email, "step": t.step, "due_at": t.due_at, "escalated_at": t.escalated_at}
                for t, p in onboarding.overdue(session)
            ]
    finally:
        hub.close()
    _print(rows)


# -- partners: attributes, segments, certifications -------------------------------------------


def partners_attributes(
    partner: Annotated[str, typer.Argument(metavar="PARTNER", help="Email or id.")],
    values: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME=VALUE",
            help="company_size, industry, country, region, specialization, "
            "partner_type, segment_attribute; NAME= clears one.",
        ),
    ],
    by: Annotated[str | None, typer.Option(help="The person (default cli:<user>).")] = None,
) -> None:
    """Set a partner's attributes (audited); its segment follows the segment rules."""
    from hub.program import clock, segments

    parsed: dict[str, str | None] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            typer.echo(f"error: {item!r} is not NAME=VALUE", err=True)
            raise typer.Exit(2)
        parsed[name.strip()] = value.strip() or None

    def work(s: Session, hub: Any) -> Any:
        p = find_partner(s, partner)
        segments.set_attributes(s, hub.program, p, parsed, actor=by or _actor(), now=clock.now(hub))
        return p.segment

    typer.echo(f"attributes set; segment: {_decide(work) or '(none)'}")


def partners_resegment() -> None:
    """Recompute every partner's segment under the program file in force."""
    from hub.program import clock, segments

    result = _decide(lambda s, hub: segments.resegment(s, hub.program, clock.now(hub)))
    typer.echo(f"{result['changed']} of {result['partners']} partners changed segment")


def partners_certify(
    partner: Annotated[str, typer.Argument(metavar="PARTNER", help="Email or id.")],
    name: Annotated[str, typer.Argument(help="The certification.")],
    expires: Annotated[str | None, typer.Option(help="Expiry, ISO 8601 (2027-06-30T00:00:00Z); unset: never.")] = None,
    by: Annotated[str | None, typer.Option(help="The person (default cli:<user>).")] = None,
) -> None:
    """Record or renew a partner's certification (audited)."""
    from datetime import UTC, datetime

    from hub.program import clock, onboarding

    try:
        expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None
    except ValueError:
        typer.echo("error: --expires is not an ISO 8601 time", err=True)
        raise typer.Exit(2) from None
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)

    def work(s: Session, hub: Any) -> Any:
        p = find_partner(s, partner)
        onboarding.record_certification(
            s, hub, p, name=name, expires_at=expires_at, by=by or _actor(), now=clock.now(hub)
        )
        return p.segment

    typer.echo(f"{name} recorded; segment: {_decide(work) or '(none)'}")


def partners_peers(partner: Annotated[str, typer.Argument(metavar="PARTNER", help="Email or id.")]) -> None:
    """A partner's figures beside its segment's median (JSON)."""
    from hub.program import segments

    hub = _hub(start_redis=False)
    try:
        with hub.sessions() as session:
            _print(segments.peers_dict(session, find_partner(session, partner)))
    finally:
        hub.close()


def partners_health(partner: Annotated[str, typer.Argument(metavar="PARTNER", help="Email or id.")]) -> None:
    """A partner's health score: the newest score and its parts, the last 30 days, the at-risk
    task (JSON). Operators only: the partner never sees it."""
    from hub.cli.errors import domain_errors
    from hub.program import health

    hub = _hub(start_redis=False)
    try:
        with domain_errors(), hub.sessions() as session:
            _print(health.latest(session, find_partner(session, partner).id))
    finally:
        hub.close()
