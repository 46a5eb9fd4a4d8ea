"""The settings sections the pipeline reads: ``PARTNERHUB_WORKER__*`` (leases, retries, the
reconciler) and ``PARTNERHUB_SYNC__*`` (polling). ``hub.runtime.settings.Settings`` holds them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkerSettings(BaseModel):
    """``PARTNERHUB_WORKER__*``: how durable work is retried and reconciled."""

    model_config = ConfigDict(extra="forbid")

    lease_s: float = Field(default=120.0, gt=0, description="How long a claimed job may run before it is re-run.")
    max_attempts: int = Field(default=8, ge=1, description="Attempts before a dead letter.")
    backoff_base_s: float = Field(default=2.0, gt=0, description="First retry delay.")
    backoff_max_s: float = Field(default=3600.0, gt=0, description="Longest retry delay.")
    reconcile_interval_s: float = Field(default=5.0, gt=0, description="How often the reconciler looks for due work.")
    requeue_after_s: float = Field(
        default=30.0,
        gt=0,
        description="A received row not picked up this long after enqueue is enqueued again.",
    )
    processes: int = Field(default=1, ge=1, description="Worker processes started by `run`.")
    write_linger_s: float = Field(
        default=2.0,
        ge=0,
        description="CRM record writes of one object wait to share a batch call (HubSpot 100 records, "
        "Salesforce 200) until a call is full or no new one came for this long; 0 writes what is pending at once.",
    )
    write_max_wait_s: float = Field(
        default=30.0, ge=0, description="The longest a CRM record write waits for others to share its batch call."
    )


class SyncSettings(BaseModel):
    """``PARTNERHUB_SYNC__*``: polling the providers' APIs for what webhooks may have missed."""

    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(
        default=300.0, ge=0, description="How often each connector's objects are polled; 0 turns polling off."
    )
    max_pages: int = Field(
        default=50, ge=1, description="Pages one scheduled poll reads per object before the next round."
    )
