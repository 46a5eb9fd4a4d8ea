"""Rendering pages: one Jinja2 environment over ``hub/web/templates`` (autoescaped, undefined
variables are errors), the page answer with the visit's cookies, and the error page."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from hub.mapping.money import exponent
from hub.web.visit import Visit

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def _money(minor: int | None, currency: str | None) -> str:
    """Integer minor units as a decimal string with the currency (exact, no floats)."""
    if minor is None:
        return "—"
    digits = exponent(currency or "") if currency else 2
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(int(minor)), 10**digits)
    text = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    return f"{sign}{text} {currency or ''}".strip()


def _when(value: datetime | date | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return _when(parsed, fmt)
    if isinstance(value, datetime):
        return value.strftime(fmt + (" UTC" if "%H" in fmt else ""))
    return value.isoformat()


def _label(value: object) -> str:
    text = str(getattr(value, "value", value) or "")
    return text.replace("_", " ")


def percent(value: object) -> str:
    """A ratio the KPIs give as a decimal string (``"0.2500"``) as a percentage (``25 %``); ``—``
    when there is none."""
    if value in (None, ""):
        return "—"
    try:
        share = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{share.quantize(Decimal('1') if share == share.to_integral() else Decimal('0.1'))} %"


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(money=_money, when=_when, label=_label, percent=percent)


def page(visit: Visit, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    body = env.get_template(template).render(visit=visit, person=visit.person, csrf=visit.csrf, **context)
    response = HTMLResponse(body, status_code=status)
    visit.apply_cookies(response)
    return response


def fragment(template: str, **context: Any) -> HTMLResponse:
    """A piece of a page (what the polling script swaps in): no layout, no cookies."""
    return HTMLResponse(env.get_template(template).render(**context))
