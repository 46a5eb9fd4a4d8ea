"""SendGrid inbound, piece by piece: the Event Webhook signature against SendGrid's own vector and
sendgrid-python's ``EventWebhook`` helper, the batch parser, Inbound Parse's form reading and
sender checks, the introduction parser, and the template lookup by locale, segment and country."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader

from connectors.errors import MalformedPayload, SignatureInvalid, WebhookRejected
from connectors.sendgrid import SendGridConnector, SendGridSettings
from connectors.sendgrid.inbound import Addresses, dkim_passes, parse_email, read_form
from connectors.values import InboundRequest
from hub.program.email.introductions import find_introduction
from hub.program.email.templates import EmailTemplates, variant_dirs
from tests.support.sendgrid_signing import (
    GENERATED,
    PARSE_SECRET,
    PUBLIC_KEY,
    SDK_TEST,
    parse_form,
    sign,
    vector_body,
)

URL = "https://hooks.example.com/webhooks/sendgrid"


def connector(public_key: str = PUBLIC_KEY, **kw: object) -> SendGridConnector:
    return SendGridConnector(
        SendGridSettings(
            event_webhook_public_key=public_key, parse_secret=PARSE_SECRET, parse_hostname="parse.example.com", **kw
        )
    )  # type: ignore[arg-type]


def request(
    body: bytes, headers: dict[str, str], *, url: str = URL, received_at: float | None = None
) -> InboundRequest:
    return InboundRequest(
        "POST",
        url,
        {k.lower(): v for k, v in headers.items()},
        body,
        received_at=time.time() if received_at is None else received_at,
    )


# -- signature ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vector,name", [(SDK_TEST, "sdk-test"), (GENERATED, "generated")])
def test_the_hub_and_the_sdk_accept_the_vectors(vector: dict, name: str) -> None:
    body = vector_body(name)
    ts = vector["headers"]["X-Twilio-Email-Event-Webhook-Timestamp"]
    sig = vector["headers"]["X-Twilio-Email-Event-Webhook-Signature"]
    helper = EventWebhook()
    assert helper.verify_signature(
        body.decode(), sig, ts, helper.convert_public_key_to_ecdsa(vector["public_key_b64_der_spki"])
    )
    assert EventWebhookHeader.SIGNATURE == "X-Twilio-Email-Event-Webhook-Signature"
    sg = connector(vector["public_key_b64_der_spki"])
    req = request(body, vector["headers"], received_at=int(ts) + 60)
    sg.verify_webhook(req)  # accepted
    parsed = sg.parse_webhook(req)
    assert [c.event_type for c in parsed.changes] and all(c.event_key.startswith("event:") for c in parsed.changes)
    with pytest.raises(SignatureInvalid):  # one byte changed
        sg.verify_webhook(request(body.replace(b"}", b" }", 1), vector["headers"], received_at=int(ts) + 60))
    with pytest.raises(SignatureInvalid):  # the trailing CRLF is part of what was signed
        sg.verify_webhook(request(body.rstrip(b"\r\n"), vector["headers"], received_at=int(ts) + 60))


def test_signatures_the_hub_makes_for_tests_pass_the_sdk_too() -> None:
    body = b'[{"email":"a@example.com","event":"delivered","sg_event_id":"e1","timestamp":1}]\r\n'
    headers = sign(body)
    helper = EventWebhook()
    assert helper.verify_signature(
        body.decode(),
        headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"],
        helper.convert_public_key_to_ecdsa(PUBLIC_KEY),
    )
    connector().verify_webhook(request(body, headers))


def test_timestamp_window_and_missing_headers() -> None:
    body = b"[]"
    sg = connector()
    now = time.time()
    sg.verify_webhook(request(body, sign(body, int(now) - 24 * 3600), received_at=now))  # a day-old retry
    for ts in (int(now) - 26 * 3600, int(now) + 3600):
        with pytest.raises(SignatureInvalid, match="window"):
            sg.verify_webhook(request(body, sign(body, ts), received_at=now))
    with pytest.raises(SignatureInvalid, match="missing"):
        sg.verify_webhook(request(body, {}))
    other = connector(SDK_TEST["public_key_b64_der_spki"])
    with pytest.raises(SignatureInvalid, match="does not match"):
        other.verify_webhook(request(body, sign(body)))
    unset = SendGridConnector(SendGridSettings(parse_secret=PARSE_SECRET))
    with pytest.raises(WebhookRejected) as refused:
        unset.verify_webhook(request(body, sign(body)))
    assert refused.value.status == 503


def test_batches_are_arrays_of_events_with_ids() -> None:
    sg = connector()
    events = [
        {
            "email": "a@example.com",
            "event": "delivered",
            "sg_event_id": "e1",
            "timestamp": 1700000000,
            "notification_id": "5",
        },
        {
            "email": "a@example.com",
            "event": "open",
            "sg_event_id": "e2",
            "timestamp": 1700000001,
            "sg_message_id": "abc.filter",
        },
    ]
    changes = sg.parse_webhook(request(json.dumps(events).encode(), {})).changes
    assert [(c.event_key, c.object_id, c.version_ms) for c in changes] == [
        ("event:e1", "5", 1700000000000),
        ("event:e2", "abc", 1700000001000),
    ]
    for bad in (b"{}", b"not json", json.dumps([{"event": "delivered"}]).encode(), b"[1]"):
        with pytest.raises(MalformedPayload):
            sg.parse_webhook(request(bad, {}))


# -- Inbound Parse -------------------------------------------------------------------------------


def multipart(fields: dict[str, str], *, attachment: bytes | None = None) -> tuple[bytes, str]:
    files: dict = {name: (None, value.encode()) for name, value in fields.items()}
    if attachment is not None:
        files["attachment1"] = ("deck.pdf", attachment, "application/pdf")
    req = httpx.Request("POST", "http://x/", files=files)
    return req.read(), req.headers["content-type"]


def test_parse_route_needs_the_secret_path() -> None:
    sg = connector()
    body, ctype = multipart(
        parse_form(sender="Pat <pat@partner.io>", to="referrals@parse.example.com", subject="Intro", text="hi")
    )
    good = request(body, {"content-type": ctype}, url=f"https://h.example/webhooks/sendgrid/{PARSE_SECRET}/parse")
    sg.verify_webhook(good)
    assert sg.parse_webhook(good).changes[0].payload["route"] == "referral"
    for path in (
        "/webhooks/sendgrid/wrong-secret-0000000000/parse",
        f"/webhooks/sendgrid/{PARSE_SECRET}/other",
        "/webhooks/sendgrid/parse",
    ):
        with pytest.raises(WebhookRejected) as refused:
            sg.verify_webhook(request(body, {"content-type": ctype}, url="https://h.example" + path))
        assert refused.value.status == 404


def test_form_fields_are_read_and_attachments_dropped() -> None:
    fields = parse_form(
        sender="Pat Partner <Pat@Partner.io>", to="referrals@parse.example.com", subject="Grüße aus Wien", text="Héllo"
    )
    body, ctype = multipart(fields, attachment=b"%PDF-1.4 secret deck")
    form = read_form(body, ctype)
    assert form["subject"] == "Grüße aus Wien" and form["text"] == "Héllo"
    assert "attachment1" not in form and b"secret deck".decode() not in json.dumps(form)
    with pytest.raises(MalformedPayload):
        read_form(b"a=b", "application/x-www-form-urlencoded")


def test_sender_must_pass_spf_and_aligned_dkim() -> None:
    addresses = Addresses(referral="referrals@parse.example.com", reply="replies@parse.example.com")
    base = parse_form(
        sender="Pat <pat@mail.partner.io>",
        to="referrals@parse.example.com",
        subject="s",
        text="t",
        dkim="{@partner.io : pass}",
    )
    assert not hasattr(parse_email(base, addresses), "reason")  # a parent domain's signature aligns
    cases = {
        "spf_not_pass": {**base, "SPF": "softfail"},
        "dkim_not_aligned": {**base, "dkim": "{@partner.io : fail, @sendgrid.net : pass}"},
        "no_sender": {**base, "from": "undisclosed-recipients:;"},
    }
    for reason, form in cases.items():
        result = parse_email(form, addresses)
        assert getattr(result, "reason", None) == reason
        assert "pat@" not in getattr(result, "ref", "")
    assert not dkim_passes("{@evilpartner.io : pass}", "partner.io")
    assert dkim_passes("{@a.com : fail, @partner.io : pass}", "partner.io")
    reply = parse_email(
        {
            **base,
            "to": "Replies <replies+n42@parse.example.com>",
            "envelope": json.dumps({"to": ["replies+n42@parse.example.com"]}),
        },
        addresses,
    )
    assert reply.payload["route"] == "reply" and reply.payload["reply_notification_id"] == "42"  # type: ignore[union-attr]


# -- introductions -----------------------------------------------------------------------------------


FORWARD = """Hi team, please take it from here.

---------- Forwarded message ---------
From: Jane Roe <jane.roe@acme-robotics.com>
Date: Mon, 16 Nov 2026 at 10:02
Subject: Looking for a partner program
To: Pat Partner <pat@partner.io>
Cc: Bob <bob@partner.io>

Hi Pat, we would like a demo.

Best regards,
Jane Roe
Head of Operations
Acme Robotics GmbH
+43 1 234 567
"""


def test_the_introduced_contact_comes_from_the_forwarded_message() -> None:
    intro = find_introduction(
        text=FORWARD,
        to=["referrals@parse.example.com"],
        partner_email="pat@partner.io",
        hub_addresses=["referrals@parse.example.com"],
    )
    assert intro is not None
    assert (intro.contact_email, intro.contact_name, intro.company_domain, intro.company_name) == (
        "jane.roe@acme-robotics.com",
        "Jane Roe",
        "acme-robotics.com",
        "Acme Robotics GmbH",
    )
    cc_style = find_introduction(
        text="Meet Sam!\n\nBest,\nPat",
        to=["Sam Lee <sam@globex-labs.com>"],
        cc=["referrals@parse.example.com", "pat@partner.io"],
        partner_email="pat@partner.io",
        hub_addresses=["referrals@parse.example.com"],
    )
    assert cc_style is not None and (cc_style.contact_email, cc_style.company_name) == (
        "sam@globex-labs.com",
        "Globex Labs",
    )
    assert (
        find_introduction(
            text="nothing here",
            to=["referrals@parse.example.com", "pat@partner.io"],
            partner_email="pat@partner.io",
            hub_addresses=["referrals@parse.example.com"],
        )
        is None
    )


# -- templates by locale, segment and country ----------------------------------------------------------


def test_variant_lookup_order() -> None:
    assert variant_dirs("deal_closed", "de_at", segment="SMB", country="at") == [
        "email/deal_closed/de-AT/segment-smb",
        "email/deal_closed/de-AT/country-AT",
        "email/deal_closed/de-AT",
        "email/deal_closed/de/segment-smb",
        "email/deal_closed/de/country-AT",
        "email/deal_closed/de",
        "email/deal_closed/segment-smb",
        "email/deal_closed/country-AT",
        "email/deal_closed",
    ]
    assert variant_dirs("deal_closed") == ["email/deal_closed"]


def write_kind(root: Path, folder: str, subject: str) -> None:
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "subject.txt").write_text(subject)
    (path / "body.txt").write_text("{{ name }}")
    (path / "body.html").write_text("<p>{{ name }}</p>")


def test_locale_and_segment_choose_the_template(tmp_path: Path) -> None:
    for folder, subject in [
        ("email/welcome", "Welcome"),
        ("email/welcome/de", "Willkommen"),
        ("email/welcome/de/segment-smb", "Willkommen, KMU"),
        ("email/welcome/en-CA/segment-smb", "Welcome, small business (Canada)"),
        ("email/welcome/country-DE", "Welcome, Germany"),
    ]:
        write_kind(tmp_path, folder, subject)
    t = EmailTemplates(tmp_path)

    def subject(**kw: str | None) -> str:
        return t.render("welcome", {"name": "x"}, **kw).subject

    assert subject(locale="de-AT", segment="smb") == "Willkommen, KMU"  # de-AT -> de, with the segment
    assert subject(locale="de-AT", segment="enterprise") == "Willkommen"
    assert subject(locale="en-CA", segment="smb", country="CA") == "Welcome, small business (Canada)"
    assert subject(locale="en", country="DE") == "Welcome, Germany"
    assert subject(locale=None) == "Welcome"
