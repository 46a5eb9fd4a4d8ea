"""Signed Event Webhook requests and Inbound Parse posts, as SendGrid sends them, for tests.

SendGrid's SDK only verifies (its private key stays at SendGrid), so tests sign with the
throwaway P-256 test key of ``shared/vectors/sendgrid.signed-vector.generated.json`` exactly as
SendGrid does: ECDSA/SHA-256 over ``timestamp + raw body``, base64 DER in the header."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.servers import REPO

VECTORS = REPO.parent / "shared" / "vectors"
GENERATED = json.loads((VECTORS / "sendgrid.signed-vector.generated.json").read_text())
SDK_TEST = json.loads((VECTORS / "sendgrid.signed-vector.sdk-test.json").read_text())
#: the public key matching the test private key (base64 DER, as SendGrid shows keys)
PUBLIC_KEY = GENERATED["public_key_b64_der_spki"]
_PRIVATE = serialization.load_pem_private_key(GENERATED["test_private_key_pem_pkcs8"].encode(), password=None)
PARSE_SECRET = "parse-secret-made-up-for-tests-0001"


def vector_body(name: str) -> bytes:
    return (VECTORS / f"sendgrid.signed-vector.{name}.payload.bin").read_bytes()


def sign(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    assert isinstance(_PRIVATE, ec.EllipticCurvePrivateKey)
    signature = _PRIVATE.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        "content-type": "application/json",
    }


def post_events(web_url: str, events: list[dict[str, Any]], **kw: Any) -> httpx.Response:
    body = (json.dumps(events) + "\r\n").encode()
    return httpx.post(f"{web_url}/webhooks/sendgrid", content=body, headers=sign(body, **kw), timeout=30)


def event(
    kind: str,
    *,
    email: str,
    notification_id: int | None,
    sg_event_id: str,
    timestamp: int,
    message_id: str = "msg0",
    **extra: Any,
) -> dict[str, Any]:
    """One Event Webhook event shaped like SendGrid's reference examples."""
    out: dict[str, Any] = {
        "email": email,
        "timestamp": timestamp,
        "event": kind,
        "smtp-id": f"<{message_id}@ismtpd0001p1lon1.sendgrid.net>",
        "sg_event_id": sg_event_id,
        "sg_message_id": f"{message_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        "category": ["referral_status"],
    }
    if notification_id is not None:
        out["notification_id"] = str(notification_id)
    out.update(extra)
    return out


def parse_form(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    spf: str = "pass",
    dkim: str | None = None,
    cc: str = "",
    envelope_to: list[str] | None = None,
    message_id: str = "<CAF=intro-0001@mail.example>",
) -> dict[str, str]:
    """The fields of an Inbound Parse post (SendGrid's default, not raw MIME)."""
    domain = sender.rpartition("@")[2].rstrip(">")
    headers = (
        f"Received: by mx0047p1mdw1.sendgrid.net\nFrom: {sender}\nTo: {to}\n"
        f"Subject: {subject}\nMessage-ID: {message_id}\nMIME-Version: 1.0\n"
    )
    fields = {
        "headers": headers,
        "dkim": dkim if dkim is not None else f"{{@{domain} : pass}}",
        "to": to,
        "from": sender,
        "subject": subject,
        "text": text,
        "html": "<p>" + text + "</p>",
        "sender_ip": "209.85.128.41",
        "envelope": json.dumps({"to": envelope_to or [to], "from": sender}),
        "attachments": "0",
        "charsets": json.dumps({"to": "UTF-8", "html": "UTF-8", "subject": "UTF-8", "from": "UTF-8", "text": "UTF-8"}),
        "SPF": spf,
    }
    if cc:
        fields["cc"] = cc
    return fields


def post_parse(
    web_url: str, fields: dict[str, str], *, secret: str = PARSE_SECRET, attachment: bytes | None = None
) -> httpx.Response:
    """multipart/form-data, as SendGrid posts it (httpx picks a fresh boundary each time)."""
    files: dict[str, Any] = {name: (None, value.encode()) for name, value in fields.items()}
    if attachment is not None:
        files["attachment1"] = ("signed-contract.pdf", attachment, "application/pdf")
    return httpx.post(f"{web_url}/webhooks/sendgrid/{secret}/parse", files=files, timeout=30)
