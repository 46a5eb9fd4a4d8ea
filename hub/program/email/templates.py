"""E-mail templates: files under ``<templates>/email/<kind>/``, variants by locale, segment and
country, rendered in jinja2's immutable sandbox (see ``hub.program.email.notify``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import structlog
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connectors.errors import ConfigurationError
from hub.program.email.formatting import format_date, format_money, label

log = structlog.get_logger(__name__)


#: the repository's ``templates/`` (``PARTNERHUB_TEMPLATES_DIR`` names another one)
DEFAULT_TEMPLATES_DIR: Final = Path(__file__).resolve().parents[3] / "templates"
#: the parts of one email, by file name
PARTS: Final = ("subject.txt", "body.txt", "body.html")
#: kinds sent to partners: their layout names the partner manager
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))*$")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    #: the template folder used, relative to the templates dir (``email/referral_status/de``)
    variant: str


def normalize_locale(locale: str | None) -> str | None:
    """``de_de -> "de-DE"``; anything that is not a plain locale tag is ignored (``None``)."""
    if not locale or not _LOCALE.match(locale.strip()):
        return None
    parts = re.split(r"[-_]", locale.strip())
    first, rest = parts[0].lower(), parts[1:]
    return "-".join([first, *(p.upper() if len(p) == 2 else p for p in rest)])


_SLUG = re.compile(r"[^a-z0-9_-]+")


def variant_dirs(
    kind: str, locale: str | None = None, *, segment: str | None = None, country: str | None = None
) -> list[str]:
    """Folders to try, most specific first (see the module docstring): for the locale, then its
    language, then the default, each with the segment, then the country, then neither."""
    base = f"email/{kind}"
    tag = normalize_locale(locale)
    locales = []
    if tag:
        parts = tag.split("-")
        locales += [f"{base}/{'-'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    locales.append(base)
    qualifiers = []
    slug = _SLUG.sub("-", segment.strip().lower()).strip("-") if segment else ""
    if slug:
        qualifiers.append(f"segment-{slug}")
    if country and re.fullmatch(r"[A-Za-z]{2}", country.strip()):
        qualifiers.append(f"country-{country.strip().upper()}")
    candidates = [f"{folder}/{q}" for folder in locales for q in [*qualifiers, ""]]
    return [*dict.fromkeys(c.rstrip("/") for c in candidates)]


class EmailTemplates:
    """The templates folder, rendered in jinja2's immutable sandbox. Edits to the files are
    picked up on the next render (jinja2 checks modification times)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(str(self.directory)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            auto_reload=True,
        )
        self.env.filters.update(money=format_money, date=format_date, label=label)

    def kinds(self) -> list[str]:
        root = self.directory / "email"
        return sorted(p.name for p in root.iterdir() if p.is_dir() and _KIND.match(p.name))

    def render(
        self,
        kind: str,
        context: Mapping[str, Any],
        *,
        locale: str | None = None,
        segment: str | None = None,
        country: str | None = None,
    ) -> RenderedEmail:
        if not _KIND.match(kind):
            raise ConfigurationError(f"notification kind {kind!r} is not a template name")
        variant = self._variant(kind, locale, segment, country)
        values = dict(context)
        parts = {}
        for part in PARTS:
            name = f"{variant}/{part}"
            try:
                parts[part] = self.env.get_template(name).render(values)
            except TemplateError as exc:
                where = f"{self.directory / name}" + (
                    f":{exc.lineno}" if isinstance(exc, TemplateSyntaxError) and exc.lineno else ""
                )
                raise ConfigurationError(f"{where}: {exc.message or type(exc).__name__}") from None
        subject = " ".join(parts["subject.txt"].split())
        if not subject:
            raise ConfigurationError(f"{self.directory / variant}/subject.txt renders empty")
        return RenderedEmail(
            subject=subject[:255],
            text=parts["body.txt"].strip() + "\n",
            html=parts["body.html"].strip() + "\n",
            variant=variant,
        )

    def _variant(self, kind: str, locale: str | None, segment: str | None, country: str | None) -> str:
        for folder in variant_dirs(kind, locale, segment=segment, country=country):
            if (self.directory / folder / PARTS[0]).is_file():
                return folder
        raise ConfigurationError(f"no templates for notification kind {kind!r} in {self.directory}/email")


@lru_cache(maxsize=8)
def templates_for(directory: Path = DEFAULT_TEMPLATES_DIR) -> EmailTemplates:
    """One renderer per templates folder per process."""
    return EmailTemplates(directory)
