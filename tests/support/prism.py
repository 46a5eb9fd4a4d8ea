"""Prism (Stoplight's OpenAPI mock) on loopback: the contract check for SendGrid requests.

``scripts/bootstrap --test`` installs the pinned version into ``.tools/prism``. Started with
``--errors``, Prism answers a request that breaks the spec with an error status and lists the
violations in its ``sl-violations`` header; a valid mail send gets 202.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.servers import REPO, free_port

PRISM_BIN = REPO / ".tools" / "prism" / "node_modules" / ".bin" / "prism"
SENDGRID_MAIL_SPEC = REPO.parent / "shared" / "specs" / "sendgrid" / "tsg_mail_v3.json"


PIPEDRIVE_SPECS = REPO.parent / "shared" / "specs" / "pipedrive"


class PrismMock:
    """``upstream`` set: proxy mode (``prism proxy --errors``): each request is validated against
    the spec (422 and not forwarded when it breaks it), forwarded to ``upstream`` (a stateful
    fake), and its answer validated on the way back (500 when the fake's answer breaks it)."""

    def __init__(self, spec: Path, upstream: str | None = None) -> None:
        self.spec = spec
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkdtemp(prefix="prism-")) / "prism.log"

    def start(self, timeout: float = 60.0) -> PrismMock:
        if not PRISM_BIN.exists():
            raise RuntimeError(f"Prism is not installed at {PRISM_BIN}: run scripts/bootstrap --test")
        if not self.spec.exists():
            raise RuntimeError(f"the OpenAPI spec {self.spec} is missing")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(PRISM_BIN),
                    *(("proxy",) if self.upstream else ("mock",)),
                    "--errors",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    str(self.spec),
                    *((self.upstream,) if self.upstream else ()),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends node and its children
                env={**os.environ, "SCARF_ANALYTICS": "false"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Prism exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                httpx.get(self.url + "/v3/mail/batch/x", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Prism did not start within {timeout}s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.log_path.parent, ignore_errors=True)
