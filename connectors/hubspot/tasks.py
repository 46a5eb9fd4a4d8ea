"""``create_task`` on HubSpot: a to-do for a partner manager, made once per idempotency key.

HubSpot's tasks (``/crm/v3/objects/tasks``) take ``hs_timestamp`` (the due date, required),
``hs_task_subject``, ``hs_task_body``, ``hs_task_status``, ``hs_task_type`` and
``hubspot_owner_id``. HubSpot has no idempotency key, so the task carries ours in
``partnerhub_task_key`` (created by ``crm setup``) and is looked up by it before any create.
Search lags behind new records, so a create whose answer was lost is retried only after
``SEARCH_SETTLE_S``, when the lookup finds what it made.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hubspot.crm.objects import SimplePublicObject, SimplePublicObjectInputForCreate
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.errors import FatalError, RetriableError, first_error
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.sdk import OBJECTS_SDK, decode

#: the task property holding the hub's idempotency key
TASK_KEY = "partnerhub_task_key"
#: how long a retry waits after a create whose answer was lost (search indexing lag)
SEARCH_SETTLE_S = 60.0


class _TaskAsk(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: str = Field(min_length=1, max_length=500)
    body: str = ""
    owner_id: str | int | None = None
    due_at: datetime | None = None


def create_task(api: HubSpotApi, payload: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """The task for ``idempotency_key``: found if made before, else created. Returns
    ``task_id``, ``written`` and ``created`` (``connectors.capabilities.CrmConnector.create_task``)."""
    try:
        ask = _TaskAsk.model_validate(payload)
    except ValidationError as exc:
        raise FatalError(f"create_task: bad payload: {first_error(exc)}") from None
    found = api.search("tasks", TASK_KEY, idempotency_key, [TASK_KEY, "hs_task_subject"], max_results=1)
    if found:
        return {"task_id": str(found[0].id), "written": {}, "created": {}}
    due = ask.due_at or datetime.now(UTC)
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    props = {
        "hs_timestamp": str(int(due.timestamp() * 1000)),
        "hs_task_subject": ask.subject,
        "hs_task_body": ask.body,
        "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO",
        TASK_KEY: idempotency_key,
    }
    if ask.owner_id not in (None, ""):
        props["hubspot_owner_id"] = str(ask.owner_id)
    body = OBJECTS_SDK.sanitize_for_serialization(SimplePublicObjectInputForCreate(properties=props, associations=[]))
    try:
        response = api.send("POST", "/crm/v3/objects/tasks", body)
    except RetriableError as exc:
        # maybe made, maybe not: look again once search has caught up
        raise RetriableError(str(exc), retry_after=max(exc.retry_after or 0.0, SEARCH_SETTLE_S)) from None
    task: Any = decode(OBJECTS_SDK, response, SimplePublicObject)
    task_id = str(task.id)
    return {"task_id": task_id, "written": {"task": {task_id: props}}, "created": {"task": [task_id]}}
