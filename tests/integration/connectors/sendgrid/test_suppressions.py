"""The ``set_group_suppression`` outbox action (a partner's e-mail choice in the portal) against
Prism serving SendGrid's Suppressions spec: both calls are what the spec allows."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.sendgrid import SendGridConnector, SendGridSettings
from tests.support.fake_sendgrid import API_KEY
from tests.support.prism import SENDGRID_MAIL_SPEC, PrismMock

SUPPRESSIONS_SPEC = SENDGRID_MAIL_SPEC.parent / "tsg_suppressions_v3.json"


@pytest.fixture(scope="module")
def prism() -> Iterator[PrismMock]:
    mock = PrismMock(SUPPRESSIONS_SPEC).start()
    try:
        yield mock
    finally:
        mock.stop()


def test_group_suppression_calls_keep_to_the_spec(prism: PrismMock) -> None:
    sg = SendGridConnector(SendGridSettings(api_key=API_KEY, api_base_url=prism.url))  # type: ignore[arg-type]
    try:
        add = sg.outbox_actions()["set_group_suppression"]
        assert add({"email": "p@example.org", "group_id": 41, "suppressed": True}, idempotency_key="k1") == {
            "group_id": 41,
            "suppressed": True,
        }
        assert add({"email": "p+x@example.org", "group_id": 41, "suppressed": False}, idempotency_key="k2") == {
            "group_id": 41,
            "suppressed": False,
        }
    finally:
        sg.close()
    # the spec is enforced: a body it does not allow is refused by Prism
    refused = httpx.post(
        f"{prism.url}/v3/asm/groups/41/suppressions",
        json={"emails": "p@example.org"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert refused.status_code in (400, 422)
