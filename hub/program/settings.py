"""The settings section the program reads: ``PARTNERHUB_PROGRAM__*`` (its timed rules and its
clock). ``hub.runtime.settings.Settings`` holds it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ProgramSettings(BaseModel):
    """``PARTNERHUB_PROGRAM__*``: how often the program engine's timed rules run, and its clock."""

    model_config = ConfigDict(extra="forbid")

    tick_interval_s: float = Field(
        default=60.0, gt=0, description="How often the scheduler runs the program's timed rules."
    )
    clock_now: datetime | None = Field(
        default=None, description="Run the program as of this fixed time (tests, what-if runs)."
    )
    clock_offset_s: float = Field(default=0.0, description="Seconds added to the real time.")
