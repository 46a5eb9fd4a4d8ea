"""Who a partner introduced: the contact in an e-mail the partner forwarded (or copied the hub
on), parsed from the message alone. Pure functions, no I/O.

Candidates, best first: the forwarded message's ``From``, then its ``To`` and ``Cc`` (the header
block a mail client quotes under "Forwarded message" / "Begin forwarded message" / "Original
Message"); then the outer ``To`` and ``Cc`` (a partner who writes the introduction and copies
the hub). Never a candidate: the partner's own address, anyone at the partner's domain, and the
hub's own addresses and domain. The contact's name is the display name, else the name in the
forwarded message's signature block (the line after a sign-off such as "Best," or "--"); the
company is the signature line carrying a company suffix (GmbH, Inc, Ltd…), else the contact's
domain (``acme-robotics.com`` -> ``Acme Robotics``).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_FORWARD_MARKERS = re.compile(
    r"^\s*(-{2,}\s*forwarded message\s*-{2,}|begin forwarded message:|-{2,}\s*original message\s*-{2,}"
    r"|-{2,}\s*weitergeleitete nachricht\s*-{2,})\s*$",
    re.I | re.M,
)
_HEADER = re.compile(r"^\s*>?\s*(from|to|cc|von|an|kopie)\s*:\s*(.+)$", re.I)
_SIGN_OFF = re.compile(
    r"^\s*(--\s*|best(\s+regards)?,?|kind regards,?|regards,?|thanks,?|thank you,?|cheers,?"
    r"|sincerely,?|mit freundlichen grüßen,?|viele grüße,?|beste grüße,?)\s*$",
    re.I,
)
_COMPANY = re.compile(r"\b(inc|llc|ltd|limited|gmbh|ag|corp|corporation|co|s\.?a|b\.?v|plc|pty|kg|oy|ab)\.?\s*$", re.I)
_NOT_A_NAME = re.compile(r"[@:/\d]|www\.")


@dataclass(frozen=True, slots=True)
class Introduction:
    contact_email: str
    contact_name: str | None
    company_domain: str
    company_name: str


def find_introduction(
    *,
    text: str | None,
    to: Sequence[str] = (),
    cc: Sequence[str] = (),
    partner_email: str,
    hub_addresses: Iterable[str] = (),
) -> Introduction | None:
    """The introduced contact, or ``None`` when the message names nobody but the partner and
    the hub."""
    partner_email = partner_email.lower()
    excluded_domains = {_domain(partner_email), *(_domain(a) for a in hub_addresses)}
    forwarded = _forwarded_block(text or "")
    headers = _forwarded_headers(forwarded)
    candidates = [*headers.get("from", []), *headers.get("to", []), *headers.get("cc", []), *_pairs(to), *_pairs(cc)]
    for name, address in candidates:
        if address == partner_email or _domain(address) in excluded_domains:
            continue
        signature = _signature(forwarded)
        contact_name = name or (signature[0] if signature else None)
        company = next((line for line in signature[1:] if _COMPANY.search(line)), None)
        domain = _domain(address)
        return Introduction(address, contact_name or None, domain, company or _name_of(domain))
    return None


def _forwarded_block(text: str) -> str:
    marker = _FORWARD_MARKERS.search(text)
    return text[marker.end() :] if marker else ""


def _forwarded_headers(block: str) -> dict[str, list[tuple[str, str]]]:
    """The header lines at the top of the forwarded block (until the first blank line after them)."""
    found: dict[str, list[tuple[str, str]]] = {}
    names = {"von": "from", "an": "to", "kopie": "cc"}
    seen_any = False
    for line in block.splitlines():
        match = _HEADER.match(line)
        if match:
            seen_any = True
            key = names.get(match.group(1).lower(), match.group(1).lower())
            found.setdefault(key, []).extend(_pairs([match.group(2)]))
        elif seen_any and not line.strip():
            break
    return found


def _signature(block: str) -> list[str]:
    """The lines after the last sign-off of the forwarded message (name first)."""
    lines = [line.strip().lstrip(">").strip() for line in block.splitlines()]
    for i in range(len(lines) - 1, -1, -1):
        if _SIGN_OFF.match(lines[i]):
            rest = [line for line in lines[i + 1 : i + 6] if line]
            if rest and not _NOT_A_NAME.search(rest[0]):
                return rest
            return []
    return []


def _pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    out = []
    for name, address in email.utils.getaddresses([v for v in values if v]):
        address = address.strip().lower()
        if re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[a-z0-9-]+", address):
            out.append((name.strip().strip('"'), address))
    return out


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _name_of(domain: str) -> str:
    label = domain.split(".")[-2] if domain.count(".") >= 1 else domain
    return " ".join(part.capitalize() for part in re.split(r"[-_]", label) if part) or domain
