"""Mail send reads SendGrid's ``X-RateLimit-*`` headers: when a window is spent, every worker
(sharing Redis) waits for its reset without calling SendGrid."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib

from connectors.errors import RetriableError
from connectors.sendgrid import PAUSE_KEY, SendGridConnector, SendGridSettings
from tests.support.fake_sendgrid import API_KEY, FROM_EMAIL, FakeSendGrid
from tests.support.prism import PrismMock


@pytest.fixture
def one_per_window(prism_sendgrid: PrismMock) -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid(prism_sendgrid, rate_limit=1).start()
    try:
        yield fake
    finally:
        fake.stop()


def mail(n: int) -> dict:
    return {
        "notification_id": n,
        "kind": "referral_status",
        "to": {"email": "partner@example.org"},
        "subject": "s",
        "text": "t\n",
        "html": "<p>t</p>\n",
    }


def test_a_spent_window_pauses_every_worker_until_reset(one_per_window: FakeSendGrid, redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    workers = []
    for _ in range(2):
        sg = SendGridConnector(
            SendGridSettings(api_key=API_KEY, api_base_url=one_per_window.url, from_email=FROM_EMAIL)
        )  # type: ignore[arg-type]
        sg.use_redis(client)
        workers.append(sg)
    try:
        assert workers[0].send_email(mail(1), idempotency_key="1")["message_id"]
        assert workers[0].rate_limit is not None and workers[0].rate_limit.remaining == 0
        assert client.pttl(PAUSE_KEY) > 0
        with pytest.raises(RetriableError) as paused:  # the other worker never saw an answer itself
            workers[1].send_email(mail(2), idempotency_key="2")
        assert paused.value.retry_after is not None and 0 < paused.value.retry_after <= 61
        assert len(one_per_window.requests) == 1  # nothing was sent while paused
        client.delete(PAUSE_KEY)  # the window reset
        assert workers[1].send_email(mail(2), idempotency_key="2")["message_id"]
    finally:
        for sg in workers:
            sg.close()
        client.close()
