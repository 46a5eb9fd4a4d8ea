"""What the partner-program domain needs from the process it runs in: a narrow, structural view
of the runtime's ``Hub`` (``hub.runtime.context``), which satisfies it without naming it.

Domain functions take a ``ProgramContext``: the program file in force, the CRM connector, the
clock and e-mail settings, plus what the pipeline offers (sessions, and a way to owe an outbox
effect: ``hub.pipeline.outbox.owe`` in the caller's transaction, then ``enqueue_owed`` after the
commit). Nothing here imports the runtime, so the domain stays below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from connectors.sendgrid import SendGridSettings
from hub.pipeline.context import PipelineContext, PipelineSettings
from hub.program.program_file import Program
from hub.program.settings import ProgramSettings


class ProgramContextSettings(PipelineSettings, Protocol):
    """The settings the domain reads, besides the pipeline's."""

    @property
    def crm(self) -> str: ...
    @property
    def program(self) -> ProgramSettings: ...
    @property
    def sendgrid(self) -> SendGridSettings: ...
    @property
    def admin_email(self) -> str | None: ...
    @property
    def templates_dir(self) -> Path: ...
    @property
    def public_base_url(self) -> str | None: ...


class ProgramContext(PipelineContext, Protocol):
    """The pipeline's context plus the program file in force and the CRM the partner flow uses."""

    @property
    def settings(self) -> ProgramContextSettings: ...
    @property
    def program(self) -> Program: ...
    @property
    def crm(self) -> Any: ...
