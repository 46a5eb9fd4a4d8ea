"""SendGrid mail send: every request checked by Prism against SendGrid's OpenAPI spec, answered by
a fake on loopback like SendGrid (202 + X-Message-Id), and the outcome classified as the module
docstring of ``connectors.sendgrid`` promises: refusals retried, 4xx dead, an answer lost after
the request was sent never retried."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from connectors.errors import AuthenticationFailed, FatalError, RetriableError
from connectors.sendgrid import (
    RateLimit,
    SendGridConnector,
    SendGridSettings,
    SendOutcomeUnknown,
)
from hub.pipeline.models import Alert, OutboxItem
from hub.program.email.notify import notify, record_sent
from hub.program.models import Notification
from hub.runtime.jobs import run_outbox_item
from hub.runtime.scheduler import reconcile_once
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL, FakeSendGrid, Scripted
from tests.support.servers import free_port

PARTNER_CONTEXT = {
    "partner_name": "Northwind Consulting",
    "partner_manager": "Grace Hopper <grace@example.com>",
    "company_name": "Acme Corp",
    "tracking_id": "R-7K2M9Q4XPA",
    "contact_name": "Wile E. Coyote",
}


def connector(url: str, **overrides: Any) -> SendGridConnector:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "api_base_url": url,
        "from_email": FROM_EMAIL,
        "from_name": "Example Partner Program",
        "timeout_s": 1.0,
        "connect_timeout_s": 1.0,
        **overrides,
    }
    settings = SendGridSettings(**values)
    return SendGridConnector(settings)


def payload(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "notification_id": 41,
        "kind": "referral_status",
        "to": {"email": "partner@example.org", "name": "Northwind Consulting"},
        "subject": "Your referral for Acme Corp moved to Demo Scheduled",
        "text": "Your referral for Acme Corp moved to Demo Scheduled.\n",
        "html": "<p>Your referral for <strong>Acme Corp</strong> moved to Demo Scheduled.</p>\n",
        "reply_to": {"email": "grace@example.com"},
        "custom_args": {"notification_id": "41", "partner_id": "7", "tracking_id": "R-7K2M9Q4XPA"},
        "categories": ["referral_status"],
        "asm_group_id": 1234,
    }
    base.update(overrides)
    return base


def sendgrid_error(message: str, field: str | None = None) -> dict[str, Any]:
    """SendGrid's error body (``ErrorResponse`` in the spec)."""
    return {"errors": [{"message": message, "field": field, "help": None}]}


# -- the request, against the spec -----------------------------------------------------------


def test_request_passes_the_spec_and_202_returns_the_message_id(fake_sendgrid: FakeSendGrid) -> None:
    sg = connector(fake_sendgrid.url)
    try:
        result = sg.send_email(payload(), idempotency_key="referral-status:1:demo_scheduled:1")
    finally:
        sg.close()
    assert fake_sendgrid.violations == []
    [sent] = fake_sendgrid.requests
    assert result == {"message_id": sent.message_id} and sent.message_id
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    body = sent.body
    assert body["personalizations"] == [
        {
            "to": [{"email": "partner@example.org", "name": "Northwind Consulting"}],
            "custom_args": {"notification_id": "41", "partner_id": "7", "tracking_id": "R-7K2M9Q4XPA"},
        }
    ]
    assert body["from"] == {"email": FROM_EMAIL, "name": "Example Partner Program"}
    assert body["reply_to"] == {"email": "grace@example.com"}
    assert body["subject"] == "Your referral for Acme Corp moved to Demo Scheduled"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["asm"] == {"group_id": 1234} and body["categories"] == ["referral_status"]


def test_the_contract_check_is_live(fake_sendgrid: FakeSendGrid) -> None:
    """Prism refuses what the spec refuses (here: no ``from``, custom_args values not strings),
    so a connector drifting from the spec fails these tests instead of SendGrid in production."""
    bad = {
        "personalizations": [{"to": [{"email": "a@example.org"}], "custom_args": {"n": 1}}],
        "subject": "x",
        "content": [{"type": "text/plain", "value": "x"}],
    }
    answer = httpx.post(
        fake_sendgrid.url + "/v3/mail/send", json=bad, headers={"authorization": f"Bearer {API_KEY}"}, timeout=10
    )
    assert answer.status_code in (400, 422)
    assert len(fake_sendgrid.violations) == 1 and "from" in fake_sendgrid.violations[0]
    assert fake_sendgrid.requests == []


def test_notify_to_sent_through_the_outbox(sendgrid_hub, add_partner, fake_sendgrid: FakeSendGrid) -> None:
    """A rendered notification, owed through the outbox, carried out by the real connector:
    the request passes the spec, the message id is stored on the outbox row and the
    notification turns ``sent`` with it."""
    hub = sendgrid_hub()
    partner_id = add_partner(hub)
    with hub.sessions() as s, s.begin():
        notification_id = notify(
            s,
            kind="referral_status",
            to_email="partner@example.org",
            natural_key="referral-status:1:demo",
            partner_id=partner_id,
            context={**PARTNER_CONTEXT, "status": "demo_scheduled"},
            custom_args={"tracking_id": PARTNER_CONTEXT["tracking_id"]},
            reply_to="grace@example.com",
        )
    assert notification_id is not None
    with hub.sessions() as s:
        item_id = s.scalars(select(OutboxItem.id)).one()
    assert run_outbox_item(hub, item_id) == "done"
    assert fake_sendgrid.violations == []
    [sent] = fake_sendgrid.accepted
    assert sent.body["subject"] == "Your referral for Acme Corp moved to Demo Scheduled"
    assert sent.body["personalizations"][0]["custom_args"] == {
        "tracking_id": "R-7K2M9Q4XPA",
        "partner_id": str(partner_id),
        "notification_id": str(notification_id),
    }
    html = next(c["value"] for c in sent.body["content"] if c["type"] == "text/html")
    assert "Grace Hopper &lt;grace@example.com&gt;" in html
    with hub.sessions() as s, s.begin():
        item = s.get(OutboxItem, item_id)
        assert item.result == {"message_id": sent.message_id}
        record_sent(s, item)  # the outbox's on-done step for send_email
    with hub.sessions() as s:
        note = s.get(Notification, notification_id)
        assert (note.status, note.provider_message_id) == ("sent", sent.message_id)


# -- rate limits -------------------------------------------------------------------------------


def test_rate_limit_headers_are_read(fake_sendgrid: FakeSendGrid) -> None:
    sg = connector(fake_sendgrid.url)
    try:
        sg.send_email(payload(), idempotency_key="k")
    finally:
        sg.close()
    assert sg.rate_limit is not None
    assert (sg.rate_limit.limit, sg.rate_limit.remaining) == (600, 599)
    assert sg.rate_limit.reset_at is not None and 0 < sg.rate_limit.reset_at - time.time() <= 61


def test_429_retries_after_the_rate_limit_window_resets(fake_sendgrid: FakeSendGrid) -> None:
    reset = int(time.time()) + 37
    fake_sendgrid.script.append(
        Scripted(
            429,
            {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            sendgrid_error("too many requests"),
        )
    )
    sg = connector(fake_sendgrid.url)
    try:
        with pytest.raises(RetriableError) as caught:
            sg.send_email(payload(), idempotency_key="k")
        assert caught.value.retry_after is not None and 34 <= caught.value.retry_after <= 37
        assert "429" in str(caught.value)
        # the window is exhausted: the next send waits without calling SendGrid (nothing sent)
        with pytest.raises(RetriableError) as again:
            sg.send_email(payload(), idempotency_key="k2")
        assert again.value.retry_after is not None and again.value.retry_after > 30
        assert len(fake_sendgrid.requests) == 1
        assert sg.rate_limit == RateLimit(600, 0, float(reset))
    finally:
        sg.close()


def test_429_honours_retry_after(fake_sendgrid: FakeSendGrid) -> None:
    fake_sendgrid.script.append(Scripted(429, {"Retry-After": "12", "X-RateLimit-Remaining": "3"}, None))
    sg = connector(fake_sendgrid.url)
    try:
        with pytest.raises(RetriableError) as caught:
            sg.send_email(payload(), idempotency_key="k")
    finally:
        sg.close()
    assert caught.value.retry_after == 12


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retried(fake_sendgrid: FakeSendGrid, status: int) -> None:
    fake_sendgrid.script.append(Scripted(status, {}, sendgrid_error("internal error")))
    sg = connector(fake_sendgrid.url)
    try:
        with pytest.raises(RetriableError):
            sg.send_email(payload(), idempotency_key="k")
    finally:
        sg.close()


# -- refusals ----------------------------------------------------------------------------------


def test_400_is_a_dead_letter_with_sendgrids_messages_and_no_key(sendgrid_hub, fake_sendgrid: FakeSendGrid) -> None:
    hub = sendgrid_hub()
    fake_sendgrid.script.append(
        Scripted(
            400,
            {},
            {
                "errors": [
                    {
                        "message": "The from email does not contain a valid address.",
                        "field": "from.email",
                        "help": None,
                    },
                    {"message": f"Echoing your key {API_KEY} back", "field": None},
                ]
            },
        )
    )
    with hub.sessions() as s, s.begin():
        notify(
            s,
            kind="referral_received",
            to_email="partner@example.org",
            natural_key="referral-received:9",
            context=PARTNER_CONTEXT,
        )
    with hub.sessions() as s:
        item_id = s.scalars(select(OutboxItem.id)).one()
    assert run_outbox_item(hub, item_id) == "dead"
    assert len(fake_sendgrid.requests) == 1  # never retried
    with hub.sessions() as s:
        item = s.get(OutboxItem, item_id)
        assert item.last_error_kind == "fatal"
        assert "sendgrid answered 400" in item.last_error
        assert "from.email: The from email does not contain a valid address." in item.last_error
        alerts = list(s.scalars(select(Alert)))
        stored = [item.last_error, item.last_traceback, *(a.message for a in alerts)]
        assert alerts and all(API_KEY not in text for text in stored)
        assert all("SG.test-key" not in text for text in stored)
        assert s.scalars(select(Notification.status)).one() == "queued"


def test_401_is_an_authentication_failure(fake_sendgrid: FakeSendGrid) -> None:
    fake_sendgrid.script.append(Scripted(401, {}, sendgrid_error("The provided authorization grant is invalid")))
    sg = connector(fake_sendgrid.url)
    try:
        with pytest.raises(AuthenticationFailed) as caught:
            sg.send_email(payload(), idempotency_key="k")
    finally:
        sg.close()
    assert "authorization grant is invalid" in str(caught.value) and API_KEY not in str(caught.value)


def test_a_payload_the_connector_cannot_send_is_fatal_before_any_call(fake_sendgrid: FakeSendGrid) -> None:
    sg = connector(fake_sendgrid.url)
    try:
        with pytest.raises(FatalError, match="subject"):
            sg.send_email(payload(subject=""), idempotency_key="k")
    finally:
        sg.close()
    assert fake_sendgrid.requests == [] and fake_sendgrid.violations == []


# -- the timeout policy (module docstring of connectors.sendgrid) --------------------------------


def test_no_connection_is_a_clear_failure_and_is_retried(sendgrid_hub) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: the request never leaves
    sg = connector(closed)
    try:
        with pytest.raises(RetriableError, match="not sent"):
            sg.send_email(payload(), idempotency_key="k")
    finally:
        sg.close()
    hub = sendgrid_hub(PARTNERHUB_SENDGRID__API_BASE_URL=closed)
    with hub.sessions() as s, s.begin():
        notify(
            s,
            kind="referral_received",
            to_email="partner@example.org",
            natural_key="referral-received:3",
            context=PARTNER_CONTEXT,
        )
    with hub.sessions() as s:
        item_id = s.scalars(select(OutboxItem.id)).one()
    assert run_outbox_item(hub, item_id) == "retrying"


def test_an_answer_lost_after_the_request_was_sent_is_never_resent(sendgrid_hub, fake_sendgrid: FakeSendGrid) -> None:
    """SendGrid may have queued the mail and only its 202 was lost: sending again could mail the
    partner twice, so the row waits in the ``unknown`` state with an alert, for a person."""
    hub = sendgrid_hub()  # 1 s read timeout
    fake_sendgrid.script.append(Scripted(hang_s=5))
    with hub.sessions() as s, s.begin():
        notification_id = notify(
            s,
            kind="referral_received",
            to_email="partner@example.org",
            natural_key="referral-received:4",
            context=PARTNER_CONTEXT,
        )
    with hub.sessions() as s:
        item_id = s.scalars(select(OutboxItem.id)).one()
    assert run_outbox_item(hub, item_id) == "unknown"
    assert len(fake_sendgrid.requests) == 1  # the request did reach SendGrid
    time.sleep(0.05)
    reconcile_once(hub)
    assert run_outbox_item(hub, item_id) is None  # nothing picks it up again by itself
    assert len(fake_sendgrid.requests) == 1
    with hub.sessions() as s:
        item = s.get(OutboxItem, item_id)
        assert item.state == "unknown" and item.last_error_kind == "unknown" and item.attempts == 1
        assert f"notification {notification_id} may have been queued" in item.last_error
        assert (
            s.scalar(select(func.count()).select_from(Alert).where(Alert.key == f"outcome_unknown:outbox:{item_id}"))
            == 1
        )
        assert s.get(Notification, notification_id).status == "queued"


def test_read_timeout_raises_outcome_unknown(fake_sendgrid: FakeSendGrid) -> None:
    fake_sendgrid.script.append(Scripted(hang_s=5))
    sg = connector(fake_sendgrid.url, timeout_s=0.5)
    try:
        with pytest.raises(SendOutcomeUnknown, match="ReadTimeout after the request was sent"):
            sg.send_email(payload(), idempotency_key="k")
    finally:
        sg.close()
    assert not isinstance(SendOutcomeUnknown("x"), RetriableError)


def test_webhooks_decline_until_issue_6() -> None:
    sg = SendGridConnector(SendGridSettings())
    assert sg.webhook_ready() is False
    assert sg.max_body_bytes == 1024 * 1024
    assert sg.actions == frozenset({"send_email", "set_group_suppression"}) == set(sg.outbox_actions())
