"""CSV exports an operator opens in a spreadsheet: the payouts awaiting manual payment (``partnerhub
payouts export``, the console's money page) and the KPIs (``partnerhub report --csv``, the
dashboard). Partner-written text can start a formula (``=HYPERLINK(…)``): :func:`safe_cell`
neutralises every cell starting with ``=``, ``+``, ``-`` or ``@`` (and a tab or carriage return)
by prefixing a quote, as OWASP advises; numbers are written as numbers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.mapping.money import from_minor_units
from hub.program.models import Partner, Payout
from hub.program.states import PayoutStatus

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: a plain decimal number (``-12.50``) is data, not a formula
_NUMBER = re.compile(r"-?\d+(\.\d+)?")

PAYOUT_COLUMNS = (
    "payout_id",
    "partner_id",
    "partner_name",
    "partner_email",
    "period",
    "amount",
    "currency",
    "amount_minor",
    "reason",
)


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will not evaluate it: text starting like a formula gets a
    leading ``'``; numbers (ints, and decimal strings like ``-12.50``) pass unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int):
        text = str(value)
        return "'" + text if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text) else text
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()


def payout_rows(session: Session, status: str = PayoutStatus.APPROVED) -> list[list[Any]]:
    """The payouts in ``status`` (default: approved, waiting to be paid) with their partner, one
    joined query, in ``PAYOUT_COLUMNS`` order."""
    return [
        [
            payout_id,
            partner_id,
            name,
            email,
            period,
            from_minor_units(amount_minor, currency),
            currency,
            amount_minor,
            reason or "",
        ]
        for payout_id, partner_id, name, email, period, amount_minor, currency, reason in session.execute(
            select(
                Payout.id,
                Partner.id,
                Partner.name,
                Partner.email,
                Payout.period,
                Payout.amount_minor,
                Payout.currency,
                Payout.reason,
            )
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.status == status)
            .order_by(Payout.id)
        )
    ]


def payouts_csv(session: Session, status: str = PayoutStatus.APPROVED) -> str:
    return to_csv(PAYOUT_COLUMNS, payout_rows(session, status))
