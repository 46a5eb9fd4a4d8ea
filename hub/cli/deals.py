"""``partnerhub deals``: a person's decisions about deals. Audited with the actor ``cli:<user>``."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from hub.cli.common import open_hub, settings_or_exit

app = typer.Typer(help="Deals: move a deal to another partner (its money moves with it).", no_args_is_help=True)


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


@app.command("attribute")
def attribute(
    deal_id: Annotated[int, typer.Argument(help="The hub's deal id.")],
    partner: Annotated[str, typer.Option(help="The partner id to credit, or 'none' (unattributed).")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
    referral: Annotated[str | None, typer.Option(help="The referral's tracking id, if one sourced it.")] = None,
) -> None:
    """Override a deal's attribution (as POST /api/v1/admin/deals/{id}/attribution): the old
    partner's commission is cancelled, pulled out of a payout waiting for review, or reversed
    against their next payout once paid; the new partner earns under their own rules; the deal's
    payment customers and revenue facts follow; both partners are e-mailed."""
    from hub.cli.errors import domain_errors
    from hub.pipeline.unit_of_work import unit_of_work
    from hub.program.reattribution import reattribute

    if partner.strip().lower() == "none":
        partner_id = None
    elif partner.strip().isdigit():
        partner_id = int(partner.strip())
    else:
        raise typer.BadParameter(f"{partner!r} is neither a partner id nor 'none'", param_hint="--partner")
    if not reason.strip():
        raise typer.BadParameter("give a reason", param_hint="--reason")
    hub = open_hub(settings_or_exit())
    try:
        with domain_errors(), unit_of_work(hub) as session:
            result: dict[str, Any] = reattribute(
                session,
                hub,
                deal_id,
                partner_id=partner_id,
                referral_tracking_id=referral,
                actor=_actor(),
                reason=reason,
            )
    finally:
        hub.close()
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
