"""``partnerhub run`` on the embedded defaults: its own Redis-compatible server and a SQLite
file under the data directory, workers and scheduler together; everything stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from connectors.hubspot import sign_v3
from tests.support.hubspot_hub import SECRET, deal_event
from tests.support.servers import REPO, free_port, wait_until


def test_run_on_embedded_defaults_processes_and_stops_cleanly(tmp_path: Path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PARTNERHUB_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        {
            "PARTNERHUB_DATA_DIR": str(tmp_path / "data"),
            "PARTNERHUB_HUBSPOT__CLIENT_SECRET": SECRET,
            "PARTNERHUB_WORKER__RECONCILE_INTERVAL_S": "0.5",
        }
    )
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - the hub process writes to it until stopped
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "run", "--port", str(port)],
        env=env,
        cwd=str(REPO),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: "partnerhub is up" in (tmp_path / "run.log").read_text(), 60, what="up banner")
        endpoint = json.loads((tmp_path / "data" / "redis" / "endpoint.json").read_text())
        assert (tmp_path / "data" / "partnerhub.sqlite3").exists()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("worker" in " ".join(c.cmdline()) for c in children)

        url = f"http://127.0.0.1:{port}/webhooks/hubspot"
        body = json.dumps([deal_event(77, event_id=1)]).encode()
        ts = str(int(time.time() * 1000))
        answer = httpx.post(
            url,
            content=body,
            headers={
                "X-HubSpot-Request-Timestamp": ts,
                "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, ts),
            },
        )
        assert answer.status_code == 200 and answer.json() == {"received": 1, "duplicates": 0}

        def done() -> bool:
            out = subprocess.run(
                [sys.executable, "-m", "hub.cli", "status", "--json"],
                env=env,
                capture_output=True,
                text=True,
                cwd=str(REPO),
            )
            return json.loads(out.stdout)["inbox"] == {"done": 1} if out.returncode == 0 else False

        wait_until(done, 30, what="event done")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    assert proc.returncode == 0
    # the embedded server and the workers are gone with it
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", int(endpoint["port"]))) != 0
    assert not (tmp_path / "data" / "redis" / "endpoint.json").exists()
    assert (tmp_path / "data" / "redis" / "appendonlydir").exists()  # it persisted under the data dir
