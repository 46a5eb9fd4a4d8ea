"""Inbound Parse: e-mail received at the parse hostname, POSTed as ``multipart/form-data``.

SendGrid signs nothing here (``shared/PROVIDERS.md`` §7), so the URL carries a secret path
segment: ``/webhooks/sendgrid/<parse_secret>/parse``; a wrong secret is refused (404) before the
body is read. SendGrid retries any non-2xx answer for 3 days, so an e-mail the hub does not want
is answered 2xx and *discarded*: logged by reason with a digest of the sender (no address),
counted (``webhooks_discarded``), never stored. Wanted is an e-mail whose sender is proven:

* ``SPF`` is ``pass`` (SendGrid's SPF check of the envelope sender and the sending IP), and
* ``dkim`` has a ``pass`` for the ``From`` domain or a parent domain of it (relaxed DMARC-style
  alignment). SendGrid's field looks like ``{@example.com : pass}``, several results separated
  by commas (``{@a.com : pass, @b.com : fail}``).

Whether the sender is a known partner is the hub's question, asked before storing
(``hub.screening``). What is stored: the text fields (``from``, ``to``, ``cc``, ``subject``,
``text``, ``html``, ``headers``, ``envelope``, ``SPF``, ``dkim``, …; attachment contents are
dropped, their count kept), plus what the connector adds: ``message_id`` (the Message-ID header),
``route`` (``referral`` when the hub's referral address received it, ``reply`` for the reply
address, else ``other``) and ``reply_notification_id`` (from ``<reply local>+n<id>@…``). The
inbox key is the Message-ID (else a digest of sender, recipients, subject and text), so a
redelivered e-mail — SendGrid's retry builds a new multipart body — is stored once.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import HeaderParser
from email.policy import default as default_policy
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from connectors import jsonbody
from connectors.errors import MalformedPayload
from connectors.values import Change, Discarded

#: form fields kept (attachment parts are never stored)
TEXT_FIELDS = (
    "from",
    "to",
    "cc",
    "subject",
    "text",
    "html",
    "headers",
    "envelope",
    "SPF",
    "dkim",
    "sender_ip",
    "spam_score",
    "spam_report",
    "charsets",
    "attachments",
    "attachment-info",
)
_DKIM_RESULT = re.compile(r"@?([A-Za-z0-9.-]+)\s*:\s*([A-Za-z]+)")


@dataclass(frozen=True, slots=True)
class Addresses:
    """The hub's own addresses at the parse hostname (lower-cased)."""

    referral: str | None
    reply: str | None

    def route(self, recipients: Iterable[str]) -> tuple[str, str | None]:
        """(``referral`` | ``reply`` | ``other``, the notification id of a ``+n<id>`` reply)."""
        found = "other"
        notification_id = None
        for address in recipients:
            local, _, domain = address.lower().partition("@")
            base, _, tag = local.partition("+")
            if self.referral and address.lower() == self.referral:
                return "referral", None
            if self.reply and f"{base}@{domain}" == self.reply:
                found = "reply"
                if tag.startswith("n") and tag[1:].isdigit():
                    notification_id = tag[1:]
        return found, notification_id


def read_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """The text parts of a ``multipart/form-data`` body, decoded with SendGrid's ``charsets``
    map (UTF-8 otherwise). Raises ``MalformedPayload`` for anything else."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise MalformedPayload("Inbound Parse posts multipart/form-data")
    parts: list[tuple[dict[str, str], bytearray]] = []
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}

    def begin() -> None:
        parts.append(({}, bytearray()))

    def field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def header_end() -> None:
        parts[-1][0][header["field"].decode("latin-1").lower()] = header["value"].decode("latin-1")
        header["field"], header["value"] = bytearray(), bytearray()

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(chunk[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": field,
            "on_header_value": value,
            "on_header_end": header_end,
            "on_part_data": data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:
        raise MalformedPayload(f"multipart body cannot be parsed: {type(exc).__name__}") from None
    raw: dict[str, bytes] = {}
    for headers, content in parts:
        _, disposition = parse_options_header(headers.get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name and b"filename" not in disposition and name in TEXT_FIELDS:
            raw[name] = bytes(content)
    charsets = _charsets(raw.get("charsets", b""))
    return {name: _decode(value, charsets.get(name)) for name, value in raw.items()}


def parse_email(form: dict[str, str], addresses: Addresses) -> Change | Discarded:
    """One received e-mail as an inbox change, or why it is discarded."""
    sender = _address(form.get("from", ""))
    if sender is None:
        return Discarded("no_sender", _ref(form.get("from", "")))
    domain = sender.rpartition("@")[2]
    if form.get("SPF", "").strip().lower() != "pass":
        return Discarded("spf_not_pass", _ref(sender))
    if not dkim_passes(form.get("dkim", ""), domain):
        return Discarded("dkim_not_aligned", _ref(sender))
    envelope_to = _envelope_to(form.get("envelope", ""))
    recipients = [*envelope_to, *_addresses(form.get("to", "")), *_addresses(form.get("cc", ""))]
    route, notification_id = addresses.route(recipients)
    message_id = _message_id(form.get("headers", ""))
    payload: dict[str, Any] = {**form, "message_id": message_id, "route": route, "delivered_to": ",".join(envelope_to)}
    if "attachments" in payload:
        count = str(payload["attachments"])
        payload["attachments"] = int(count) if count.isdigit() and len(count) <= 6 else 0
    if notification_id:
        payload["reply_notification_id"] = notification_id
    digest = hashlib.sha256(
        (message_id or json.dumps([sender, recipients, form.get("subject"), form.get("text")])).encode()
    ).hexdigest()[:48]
    return Change(
        event_key=f"parse:{digest}",
        event_type=f"inbound.{route}",
        object_type="inbound_parse",
        object_id=digest,
        version_ms=None,
        payload=payload,
    )


def dkim_passes(dkim: str, from_domain: str) -> bool:
    """A ``pass`` result for the From domain or one of its parent domains."""
    from_domain = from_domain.lower()
    for signer, result in _DKIM_RESULT.findall(dkim or ""):
        signer = signer.lower().strip(".")
        if (
            result.lower() == "pass"
            and signer.count(".") >= 1
            and (from_domain == signer or from_domain.endswith("." + signer))
        ):
            return True
    return False


def _ref(value: str) -> str:
    """What logs may say about a sender: a short digest of the lower-cased address."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:12]


def _address(value: str) -> str | None:
    _, address = email.utils.parseaddr(value or "")
    address = address.strip().lower()
    if "@" not in address or not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[a-z0-9-]+", address):
        return None
    return address


def _addresses(value: str) -> list[str]:
    found = [a.strip().lower() for _, a in email.utils.getaddresses([value or ""])]
    return [a for a in found if "@" in a]


def _envelope_to(envelope: str) -> list[str]:
    try:
        data = jsonbody.loads(envelope) if envelope else {}
    except MalformedPayload:
        return []
    to = data.get("to") if isinstance(data, dict) else None
    return [str(a).strip().lower() for a in to if isinstance(a, str)] if isinstance(to, list) else []


def _message_id(headers: str) -> str | None:
    if not headers:
        return None
    value = HeaderParser(policy=default_policy).parsestr(headers).get("message-id")
    value = str(value).strip() if value else ""
    return value[:255] or None


def _charsets(raw: bytes) -> dict[str, str]:
    try:
        data = jsonbody.loads(raw) if raw else {}
    except MalformedPayload:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _decode(value: bytes, charset: str | None) -> str:
    try:
        return value.decode(charset or "utf-8", "replace")
    except LookupError:
        return value.decode("utf-8", "replace")
