"""``partnerhub payouts``, ``partnerhub ledger``, ``partnerhub program`` and ``partnerhub report``:
the program engine from the command line. Money decisions (approving a payout, a manual
adjustment, releasing a hold) name their person with ``--by``; other decisions are audited with
the actor ``cli:<user>``."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from connectors.errors import ConfigurationError
from hub.cli.common import open_hub, settings_or_exit

payouts_app = typer.Typer(help="Payouts: the review queue, transfers, manual payment.", no_args_is_help=True)
ledger_app = typer.Typer(
    help="The ledger: manual adjustments, commissions held for review, releasing a hold.", no_args_is_help=True
)
program_app = typer.Typer(help="The program engine's timed rules and its file's schema.", no_args_is_help=True)
console = Console()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _hub(start_redis: bool = True):  # type: ignore[no-untyped-def]
    return open_hub(settings_or_exit(), start_redis=start_redis)


def _decide(work: Any) -> Any:
    """Run ``work(session, hub)`` in one unit of work; a refusal is one clear line (``hub.cli.errors``)."""
    from hub.cli.errors import domain_errors
    from hub.pipeline.unit_of_work import unit_of_work

    hub = _hub()
    try:
        with domain_errors(), unit_of_work(hub) as session:
            return work(session, hub)
    finally:
        hub.close()


@payouts_app.command("list")
def payouts_list(
    status: Annotated[str | None, typer.Option(help="Only this status (review, approved, unknown, paid…).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Payouts, newest first."""
    from hub.program.email.formatting import format_money
    from hub.program.models import Payout
    from hub.program.payouts import payout_dict

    hub = _hub(start_redis=False)
    try:
        with hub.sessions() as session:
            query = select(Payout).order_by(Payout.id.desc())
            if status:
                query = query.where(Payout.status == status)
            rows = [payout_dict(p) for p in session.scalars(query)]
    finally:
        hub.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    table = Table(title="payouts")
    for column in ("id", "partner", "period", "amount", "status", "reason"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["partner_id"]),
            r["period"],
            format_money(r["amount_minor"], r["currency"]),
            r["status"],
            r["reason"] or "",
        )
    console.print(table)


#: the named person behind a money decision (until the console's signed-in operators exist)
By = Annotated[
    str,
    typer.Option(
        "--by",
        help="The person deciding, by name (kept on the record and in the audit log).",
        show_default=False,
    ),
]


@payouts_app.command("approve")
def payouts_approve(
    payout_id: int, by: By, reason: Annotated[str, typer.Option(help="Why (audited).")] = "approved"
) -> None:
    """Approve a payout waiting for review, as the person named by --by: its transfer goes out (or
    it waits for manual payment). Refused (exit 4) while it holds a commission held for review,
    and (exit 3, four eyes) to the person who made a manual ledger change in it."""
    from hub.program import payouts

    p = _decide(lambda s, hub: payouts.approve(s, hub, payout_id, actor=by, reason=reason))
    typer.echo(f"payout {p.id}: {p.status}" + (f" ({p.reason})" if p.reason else ""))


@payouts_app.command("reject")
def payouts_reject(
    payout_id: int, reason: Annotated[str, typer.Option(help="Why (audited, kept on the payout).")]
) -> None:
    """Reject a payout: its entries return to the partner's approved balance."""
    from hub.program import payouts

    p = _decide(lambda s, hub: payouts.reject(s, hub, payout_id, actor=_actor(), reason=reason))
    typer.echo(f"payout {p.id}: {p.status}")


@payouts_app.command("settle")
def payouts_settle(
    payout_id: int,
    paid: Annotated[bool, typer.Option("--paid", help="The transfer happened (checked at the provider).")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="It did not: entries return to the balance.")] = False,
    transfer_id: Annotated[str | None, typer.Option(help="The provider's transfer id.")] = None,
    reason: Annotated[str | None, typer.Option(help="Note kept with the decision.")] = None,
) -> None:
    """Settle a payout whose transfer outcome is unknown. The transfer is never resent."""
    from hub.program import payouts

    if paid == failed:
        raise typer.BadParameter("give exactly one of --paid or --failed")
    p = _decide(
        lambda s, hub: payouts.settle(
            s, hub, payout_id, paid=paid, actor=_actor(), transfer_id=transfer_id, reason=reason
        )
    )
    typer.echo(f"payout {p.id}: {p.status}")


@payouts_app.command("mark-paid")
def payouts_mark_paid(
    payout_id: int, reference: Annotated[str, typer.Option(help="The bank or payment reference.")]
) -> None:
    """Mark a payout paid by hand (after paying it from the CSV export)."""
    from hub.program import payouts

    def work(session: Any, hub: Any) -> Any:
        return payouts.settle(session, hub, payout_id, paid=True, actor=_actor(), reason=reference, transfer_id=None)

    p = _decide(work)
    typer.echo(f"payout {p.id}: {p.status}")


@payouts_app.command("export")
def payouts_export(
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV (the only format so far).")] = True,
) -> None:
    """Approved payouts waiting for manual payment, as CSV on stdout (cells that would start a
    spreadsheet formula are neutralised)."""
    from hub.program.exports import payouts_csv

    hub = _hub(start_redis=False)
    try:
        with hub.sessions() as session:
            text = payouts_csv(session)
    finally:
        hub.close()
    sys.stdout.write(text)


@ledger_app.command("adjust")
def ledger_adjust(
    partner_id: int,
    amount_minor: Annotated[
        int, typer.Option("--amount-minor", help="Signed minor units: negative takes money back.", show_default=False)
    ],
    currency: Annotated[str, typer.Option(help="ISO 4217 code.", show_default=False)],
    by: By,
    reason: Annotated[str, typer.Option(help="Why (audited).", show_default=False)],
) -> None:
    """Add a manual adjustment (approved: it goes into the partner's next payout, which then
    waits for a person other than --by)."""
    from hub.program import clock, ledger, payouts

    entry = _decide(
        lambda s, hub: ledger.adjust(
            s, partner_id, amount_minor, currency, actor=payouts.approver_name(by), reason=reason, now=clock.now(hub)
        )
    )
    typer.echo(f"ledger entry {entry['id']}: {entry['kind']} {entry['amount_minor']} {entry['currency']} by {by}")


@ledger_app.command("holds")
def ledger_holds(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Commissions held for review by a fraud signal, with the reason."""
    from hub.program import fraud, ledger

    hub = _hub(start_redis=False)
    try:
        with hub.sessions() as session:
            rows = [ledger.entry_dict(e) for e in fraud.held(session)]
    finally:
        hub.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    table = Table(title="commissions held for review")
    for column in ("id", "partner", "amount", "status", "payout", "reason"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["partner_id"]),
            f"{r['amount_minor']} {r['currency']}",
            r["status"],
            str(r["payout_id"] or ""),
            r["hold_reason"],
        )
    console.print(table)


@ledger_app.command("release")
def ledger_release(
    entry_id: int, by: By, reason: Annotated[str, typer.Option(help="Why (audited).", show_default=False)]
) -> None:
    """Release a commission held for review, as the person named by --by (audited)."""
    from hub.program import clock, fraud, payouts

    entry = _decide(
        lambda s, hub: fraud.release(s, entry_id, by=payouts.approver_name(by), reason=reason, now=clock.now(hub))
    )
    typer.echo(f"ledger entry {entry.id}: hold released by {entry.hold_released_by} ({entry.hold_reason})")


@program_app.command("tick")
def program_tick_command(
    now: Annotated[
        str | None, typer.Option(help="Run as of this ISO time (UTC if no zone); default: the program clock.")
    ] = None,
) -> None:
    """Run the program's timed rules once: approvals, transfers, payout run, re-engagement, tiers.
    ``--now`` (run as of another moment) is refused unless PARTNERHUB_MODE is development or test."""
    from hub.program import tick as program_tick

    when = None
    if now:
        settings = settings_or_exit()
        if not settings.relaxed:
            typer.echo(
                f"error: --now moves the program clock; it is refused when PARTNERHUB_MODE is {settings.mode} "
                "(only development and test may move it)",
                err=True,
            )
            raise typer.Exit(2)
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise typer.BadParameter(f"{now!r} is not an ISO time") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    hub = _hub()
    try:
        summary = program_tick.tick(hub, when)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        hub.close()
    sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")


@program_app.command("schema")
def program_schema(
    output: Annotated[str | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """The program file's JSON Schema (committed as mappings/program.schema.json)."""
    from hub.program.program_file import schema_text

    text = schema_text()
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def report(
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
    at: Annotated[str | None, typer.Option(help="As of this ISO time (default: the program clock).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The KPIs as JSON (as GET /api/v1/admin/kpis).")] = False,
    period: Annotated[
        str, typer.Option(help="Compare referrals of this month, quarter or year with the last.")
    ] = "month",
) -> None:
    """Program KPIs: active partners, referrals this month vs last, conversion, commission owed
    and paid per currency, time to first referral, retention."""
    from hub.program import clock, kpis

    if period not in kpis.PERIODS:
        raise typer.BadParameter(f"--period must be one of {', '.join(kpis.PERIODS)}")
    hub = _hub(start_redis=False)
    try:
        when = clock.now(hub)
        if at:
            when = datetime.fromisoformat(at)
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
        with hub.sessions() as session:
            data = kpis.compute(session, when, period=period)
    finally:
        hub.close()
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    rows = kpis.as_rows(data)
    if as_csv:
        from hub.program.exports import to_csv

        sys.stdout.write(to_csv(["kpi", "value"], rows))
        return
    table = Table(title=f"partner program, {data['at']}")
    table.add_column("kpi")
    table.add_column("value", justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@program_app.command("check")
def program_check(
    folder: Annotated[str | None, typer.Argument(help="The mappings folder (default: the settings').")] = None,
) -> None:
    """Check the program file; print each problem as file:line:col: message; exit 1 on any."""
    from pathlib import Path

    from hub.mapping import MappingFileError
    from hub.program.program_file import PROGRAM_FILE, load_program

    where = Path(folder) if folder else settings_or_exit().mappings_dir
    try:
        program = load_program(where)
    except MappingFileError as exc:
        for line in exc.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"ok  {where / PROGRAM_FILE}: {len(program.commissions)} commission rule(s), "
        f"{len(program.tiers.levels)} tier level(s)"
    )


@program_app.command("diff")
def program_diff(
    file: Annotated[str, typer.Argument(help="The edited program file.")],
    since: Annotated[str, typer.Option(help="The period, back from now: 30d, 12w, 90d.")] = "90d",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    all_sources: Annotated[bool, typer.Option(help="With --json: list unchanged sources too.")] = False,
) -> None:
    """What FILE would have paid in the period, per partner and currency, beside what the ledger
    holds: a hypothetical (nothing is written; entries keep their rule snapshots)."""
    from datetime import timedelta
    from pathlib import Path

    from hub.mapping import MappingFileError, load_yaml_model
    from hub.mapping.shadow import parse_since
    from hub.program import clock
    from hub.program.email.formatting import format_money
    from hub.program.program_diff import diff
    from hub.program.program_file import Program

    path = Path(file)
    if not path.is_file():
        raise typer.BadParameter(f"{file}: no such file", param_hint="FILE")
    try:
        window: timedelta = parse_since(since)
        _ = datetime.now(UTC) - window
    except (ValueError, OverflowError):
        raise typer.BadParameter(f"{since!r} is not a period like 30d, 12w or 90d", param_hint="--since") from None
    try:
        edited = load_yaml_model(path, Program)
    except MappingFileError as exc:
        for line in exc.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    hub = _hub(start_redis=False)
    try:
        until = clock.now(hub)
        with hub.sessions() as session:
            result = diff(session, edited, since=until - window, until=until)
            session.rollback()  # a hypothetical: nothing to keep
    finally:
        hub.close()
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(all_sources=all_sources), indent=2, default=str) + "\n")
        return
    table = Table(title=f"{file} since {result.since:%Y-%m-%d %H:%M} UTC (hypothetical)")
    for column in ("partner", "currency", "current", "with the edit", "difference", "sources changed"):
        table.add_column(column, justify="left" if column in ("partner", "currency") else "right")
    for row in result.partners:
        diff_text = format_money(row.difference_minor, row.currency)
        table.add_row(
            f"{row.partner_id} {row.partner_name}",
            row.currency,
            format_money(row.current_minor, row.currency),
            format_money(row.hypothetical_minor, row.currency),
            ("+" if row.difference_minor > 0 else "") + diff_text,
            f"{row.changed_sources}/{row.sources}",
        )
    console.print(table)
    changed = [r for r in result.partners if r.difference_minor]
    typer.echo(f"{len(result.sources)} source(s) in the period; {len(changed)} partner/currency total(s) would change")
