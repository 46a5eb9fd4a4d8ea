"""The ``partnerhub`` command."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from hub.cli import lifecycle as lifecycle_cli
from hub.cli.admins import app as admins_app
from hub.cli.common import open_hub as _open_hub
from hub.cli.common import settings_or_exit as _settings
from hub.cli.crm import app as crm_app
from hub.cli.deals import app as deals_app
from hub.cli.mappings import app as mappings_app
from hub.cli.privacy import app as privacy_app
from hub.cli.program import ledger_app, payouts_app, program_app, report
from hub.cli.sync import app as sync_app
from hub.cli.webhooks import app as webhooks_app
from hub.pipeline.models import Alert, InboxEvent, OutboxItem, WorkState
from hub.pipeline.store import utcnow

app = typer.Typer(
    help="partnerhub: the integration hub partner programs run on.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admins_app, name="admins")
app.add_typer(mappings_app, name="mappings")
app.add_typer(crm_app, name="crm")
app.add_typer(deals_app, name="deals")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(payouts_app, name="payouts")
app.add_typer(ledger_app, name="ledger")
app.add_typer(program_app, name="program")
app.command("report")(report)
app.add_typer(sync_app, name="sync")
app.add_typer(privacy_app, name="privacy")

console = Console()


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str) -> datetime:
    """``24h``/``30m``/``7d`` ago, or an ISO-8601 time (UTC when no zone is given)."""
    match = _DURATION.match(value.strip())
    if match:
        return utcnow() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a duration like 24h nor an ISO time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# -- running ---------------------------------------------------------------------------------


@app.command()
def run(
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: settings).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: settings).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: settings).")] = None,
) -> None:
    """Run everything on one machine: web app (portal and console), workers and scheduler
    (embedded Redis and SQLite unless REDIS_URL / DATABASE_URL are set). Upgrades the database
    first. Prints the console's address and, at a terminal only, a one-time sign-in link."""
    from hub.cli.admins import bootstrap_lines
    from hub.pipeline.store import upgrade
    from hub.runtime.runner import run_all

    settings = _settings()
    hub = _open_hub(settings, load_mappings=True)
    lines: list[str] = []
    if sys.stdout.isatty():  # a sign-in link goes to a person at a terminal, never to a log
        upgrade(settings.sqlalchemy_url)
        lines = bootstrap_lines(hub)
    run_all(
        hub,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.worker.processes,
        announce=lines,
    )


@app.command()
def web(
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    processes: Annotated[int, typer.Option(help="Web server processes.")] = 1,
) -> None:
    """Serve only the ASGI app (webhooks, API, portal and console, health, metrics)."""
    import uvicorn

    from hub.mapping import MappingFileError, load_mappings

    settings = _settings()
    try:
        load_mappings(settings.mappings_dir)  # a broken file stops start-up here, not per request
    except MappingFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        "webhook_app:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=processes,
        log_level="warning",
        proxy_headers=False,  # X-Forwarded-For is believed only from PARTNERHUB_TRUSTED_PROXIES
    )


@app.command()
def worker(
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Also run the reconciler (one is elected).")
    ] = True,
    burst: Annotated[bool, typer.Option(help="Exit when the queues are empty.")] = False,
) -> None:
    """Run an RQ worker over the hub's inbox and outbox queues."""
    from hub.runtime.workers import run_worker

    hub = _open_hub(_settings(), load_mappings=True)
    try:
        run_worker(hub, with_scheduler=scheduler, burst=burst)
    finally:
        hub.close()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the database schema (Alembic)."""
    from hub.pipeline.store import upgrade
    from hub.runtime.context import prepare_local_files

    settings = _settings()
    prepare_local_files(settings)
    upgrade(settings.sqlalchemy_url, revision)
    console.print(f"database at revision {revision}")


# -- partners --------------------------------------------------------------------------------

partners_app = typer.Typer(help="Partners and their API keys.", no_args_is_help=True)
app.add_typer(partners_app, name="partners")
app.add_typer(lifecycle_cli.applications_app, name="applications")
app.add_typer(lifecycle_cli.onboarding_app, name="onboarding")
partners_app.command("attributes")(lifecycle_cli.partners_attributes)
partners_app.command("resegment")(lifecycle_cli.partners_resegment)
partners_app.command("certify")(lifecycle_cli.partners_certify)
partners_app.command("peers")(lifecycle_cli.partners_peers)
partners_app.command("health")(lifecycle_cli.partners_health)


@partners_app.command("add")
def partners_add(
    name: Annotated[str, typer.Option(help="The partner company's name.")],
    email: Annotated[str, typer.Option(help="Where the partner's notices go.")],
    region: Annotated[str | None, typer.Option(help="Region (chooses owner rules, e.g. EMEA).")] = None,
    segment: Annotated[str | None, typer.Option(help="Segment (e.g. smb, enterprise).")] = None,
    tier: Annotated[str | None, typer.Option(help="Tier (chooses commission rules, e.g. gold).")] = None,
    manager: Annotated[str | None, typer.Option(help="Partner manager's email, named in every email.")] = None,
    onboard: Annotated[
        bool,
        typer.Option(
            "--onboard",
            help="Start onboarding: the segment rules, then the segment's track of steps with their due dates "
            "(as an approved application does). Without it no steps are set (e.g. partners brought over from elsewhere).",
        ),
    ] = False,
) -> None:
    """Add a partner and print its API key. The key is shown this once; only its hash is kept."""
    from sqlalchemy.exc import IntegrityError

    from hub.program import clock, onboarding
    from hub.program.partners import add_partner

    hub = _open_hub(_settings(), start_redis=False, load_mappings=onboard)
    steps = 0
    try:
        with hub.sessions() as session, session.begin():
            made = add_partner(
                session, name=name, email=email, region=region, segment=segment, tier=tier, partner_manager=manager
            )
            if onboard:
                steps = onboarding.admit(session, hub, made.partner, clock.now(hub))
            partner_id = made.partner.id
    except IntegrityError:
        typer.echo(f"error: a partner with email {email} exists already", err=True)
        raise typer.Exit(1) from None
    finally:
        hub.close()
    typer.echo(f"partner {partner_id} added: {name} <{email.lower()}>")
    if onboard:
        typer.echo(f"onboarding started: {steps} step(s)" if steps else "onboarding: no track for its segment (done)")
    typer.echo(f"API key (shown once, store it now): {made.api_key}")


@partners_app.command("list")
def partners_list(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """The partners, without their keys."""
    from hub.program.models import Partner

    hub = _open_hub(_settings(), start_redis=False)
    try:
        with hub.sessions() as session:
            rows = [
                {
                    "id": p.id,
                    "name": p.name,
                    "email": p.email,
                    "region": p.region,
                    "segment": p.segment,
                    "tier": p.tier,
                    "partner_manager": p.partner_manager,
                    "status": p.status,
                }
                for p in session.scalars(select(Partner).order_by(Partner.id))
            ]
    finally:
        hub.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="partners")
    for column in ("id", "name", "email", "region", "segment", "tier", "partner_manager", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in row))
    console.print(table)


@partners_app.command("set-stripe-account")
def partners_set_stripe_account(
    partner: Annotated[str, typer.Argument(metavar="PARTNER_EMAIL", help="The partner's email (or id).")],
    account_id: Annotated[
        str, typer.Argument(metavar="ACCOUNT_ID", help="Their Stripe Connect account, acct_…; 'none' unlinks.")
    ],
) -> None:
    """Link a partner to their Stripe Connect account (payouts are transferred there); audited."""
    import getpass

    from hub.cli.errors import domain_errors
    from hub.program.payments import link_partner_account

    hub = _open_hub(_settings(), start_redis=False)
    try:
        with domain_errors():
            linked = link_partner_account(
                hub, partner, None if account_id.lower() == "none" else account_id, actor=f"cli:{getpass.getuser()}"
            )
    finally:
        hub.close()
    typer.echo(
        f"partner {linked['partner_id']} <{linked['email']}>: stripe account {linked['stripe_account_id']}, "
        f"payouts {'enabled' if linked['payouts_enabled'] else 'not enabled yet'}"
    )


# -- operating -------------------------------------------------------------------------------


def collect_status(hub: Any) -> dict[str, Any]:
    from hub.pipeline import queue

    data: dict[str, Any] = {}
    try:
        data["queues"] = queue.depths(hub.redis, hub.settings.queue_prefix)
    except Exception as exc:
        data["queues"] = {"error": f"redis unreachable: {type(exc).__name__}"}
    with hub.sessions() as session:
        for table, model in (("inbox", InboxEvent), ("outbox", OutboxItem)):
            rows = session.execute(select(model.state, func.count()).group_by(model.state)).all()
            data[table] = {state: count for state, count in rows}
        dead = []
        for table, model in (("inbox", InboxEvent), ("outbox", OutboxItem)):
            for row in session.scalars(
                select(model).where(model.state == WorkState.DEAD).order_by(model.id.desc()).limit(20)
            ):
                dead.append(
                    {
                        "table": table,
                        "id": row.id,
                        "connector": row.connector,
                        "attempts": row.attempts,
                        "error_kind": row.last_error_kind,
                        "error": (row.last_error or "")[:300],
                    }
                )
        data["dead_letters"] = dead
        data["alerts"] = [
            {
                "id": a.id,
                "key": a.key,
                "kind": a.kind,
                "count": a.count,
                "message": a.message,
                "last_seen_at": a.last_seen_at.isoformat(),
            }
            for a in session.scalars(select(Alert).where(Alert.state == "open").order_by(Alert.last_seen_at.desc()))
        ]
    return data


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Queue depth, inbox and outbox rows by state, dead letters and open alerts."""
    hub = _open_hub(_settings())
    try:
        data = collect_status(hub)
    finally:
        hub.close()
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    table = Table(title="partnerhub status")
    table.add_column("what")
    table.add_column("counts")
    table.add_row("queues", ", ".join(f"{k}={v}" for k, v in data["queues"].items()))
    for name in ("inbox", "outbox"):
        table.add_row(name, ", ".join(f"{k}={v}" for k, v in sorted(data[name].items())) or "empty")
    table.add_row("dead letters", str(len(data["dead_letters"])))
    table.add_row("open alerts", str(len(data["alerts"])))
    console.print(table)
    for d in data["dead_letters"]:
        console.print(f"dead {d['table']} #{d['id']} {d['connector']} [{d['error_kind']}] {d['error']}", markup=False)
    for a in data["alerts"]:
        console.print(f"alert {a['key']} x{a['count']}: {a['message']}", markup=False)


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Option("--id", help="Row id (repeatable).")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead-lettered row.")] = False,
    connector: Annotated[str | None, typer.Option(help="Only this connector's rows.")] = None,
    since: Annotated[str | None, typer.Option(help="Received since (24h, 7d or ISO time).")] = None,
    until: Annotated[str | None, typer.Option(help="Received until (ISO time or duration ago).")] = None,
    outbox: Annotated[bool, typer.Option("--outbox", help="Replay outbox items instead of inbox events.")] = False,
) -> None:
    """Re-run dead-lettered or selected events (by id, connector or time range)."""
    from hub.pipeline import work
    from hub.pipeline.unit_of_work import owe_inbox, owe_outbox, unit_of_work

    if not (ids or dead or connector or since or until):
        raise typer.BadParameter("choose what to replay: --id, --dead, --connector, --since or --until")
    model = OutboxItem if outbox else InboxEvent
    query = work.replay_selection(
        model,
        ids=ids,
        dead=dead,
        connector=connector,
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
    )

    def unreachable(_: Exception) -> None:  # the reconciler enqueues them when they are due
        typer.echo("redis unreachable: the reconciler will enqueue the replayed rows", err=True)

    hub = _open_hub(_settings())
    try:
        with unit_of_work(hub, on_enqueue_error=unreachable) as session:
            selected, moved = work.replay_selected(
                session, model, query, requeue_after_s=hub.settings.worker.requeue_after_s
            )
            (owe_outbox if outbox else owe_inbox)(session, moved)
    finally:
        hub.close()
    skipped = selected - len(moved)
    console.print(
        f"replayed {len(moved)} {'outbox item' if outbox else 'inbox event'}(s)"
        + (f"; {skipped} in progress left alone" if skipped else ""),
        markup=False,
    )


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="partnerhub")


if __name__ == "__main__":
    main()
