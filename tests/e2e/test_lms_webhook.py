"""The learning platform's signed webhook through the running hub (web + worker): the same inbox
as every provider. A bad or stale signature is refused and stores nothing; a replayed event is a
duplicate; either of two secrets passes (rotation); the worker completes the partner's training
step."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from connectors.lms import compute_signature
from hub.pipeline.store import utcnow
from hub.program import onboarding
from hub.program.models import OnboardingTask, Partner
from tests.support.servers import REPO, wait_until

OLD, NEW = "lms-old-secret-made-up", "lms-new-secret-made-up"
PROGRAM = """\
version: 1
onboarding:
  tracks:
    - name: standard
      steps:
        - {name: basics, kind: training, module: sales-basics, due_days: 14}
        - {name: advanced, kind: training, module: advanced-selling, due_days: 30}
"""


@pytest.fixture
def lms_hub(make_harness, database_url, tmp_path):  # type: ignore[no-untyped-def]
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    (mappings / "program.yaml").write_text(PROGRAM)
    h = make_harness(
        database_url, PARTNERHUB_MAPPINGS_DIR=str(mappings), PARTNERHUB_LMS__WEBHOOK_SECRETS=json.dumps([OLD, NEW])
    )
    h.start_web()
    h.start_worker()
    return h


def post(
    h: Any, event: dict[str, Any], *, secret: str = OLD, at: int | None = None, sig: str | None = None
) -> httpx.Response:
    body = json.dumps(event).encode()
    stamp = at if at is not None else int(time.time())
    signature = sig or "v1=" + compute_signature(secret, stamp, body)
    return httpx.post(
        h.web_url + "/webhooks/lms",
        content=body,
        headers={
            "Partnerhub-Timestamp": str(stamp),
            "Partnerhub-Signature": signature,
            "Content-Type": "application/json",
        },
        timeout=10,
    )


def test_lms_webhook_verified_deduplicated_and_completing_the_step(lms_hub: Any) -> None:
    h = lms_hub
    with h.hub.sessions() as s, s.begin():
        p = Partner(name="Learner", email="learner@partner.example", status="active", created_at=utcnow())
        s.add(p)
        s.flush()
        assert onboarding.start(s, h.hub, p, utcnow()) == 2
    event = {"id": "evt-1", "type": "module.completed", "occurred_at": int(time.time()),
             "partner_email": "Learner@partner.example", "module": "sales-basics"}  # fmt: skip

    assert post(h, event, sig="v1=" + "0" * 64).status_code == 401
    assert post(h, event, secret="not-a-configured-secret").status_code == 401
    assert post(h, event, at=int(time.time()) - 330).status_code == 401  # stale
    assert post(h, event, at=int(time.time()) + 330).status_code == 401  # dated ahead
    assert post(h, {**event, "type": "module.deleted"}).status_code == 400
    assert h.inbox() == []  # nothing stored for any refusal

    first = post(h, event)
    assert first.status_code == 200 and first.json() == {"received": 1, "duplicates": 0}
    again = post(h, event, secret=NEW)  # the replay, signed with the rotated secret: a duplicate
    assert again.status_code == 200 and again.json() == {"received": 0, "duplicates": 1}
    assert len(h.inbox()) == 1

    def steps() -> dict[str, bool]:
        with h.hub.sessions() as s:
            return {t.step: t.completed_at is not None for t in s.scalars(select(OnboardingTask))}

    wait_until(lambda: steps()["basics"], what="the training step completed by the worker")
    assert steps() == {"basics": True, "advanced": False}
    assert h.states() == ["done"]
