"""MDF proof uploads and downloads through the real ASGI app in this process (bench/README.md,
"MDF proof files"): a gold partner with an approved request claims --claims times through
``POST /api/v1/mdf/requests/{id}/claims`` with one PDF of --size bytes each (read under the
upload limit, checked by content, stored in the database), then downloads one proof --claims
times (``GET /api/v1/mdf/proofs/{name}``). Prints p50/p95 per call and the database's growth.

    .venv/bin/python bench/bench_mdf.py [--claims 40] [--size 1048576] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.testclient import TestClient

from hub.asgi import build_app
from hub.pipeline.store import upgrade, utcnow
from hub.program.mdf import workflow
from hub.program.partners import add_partner
from hub.runtime.context import Hub
from hub.runtime.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
PROGRAM = """\
version: 1
mdf:
  enabled: true
  budgets: {{gold: {{USD: "100000000"}}}}
  uploads: {{max_bytes: {size}, max_files: 1, quota_bytes: 10737418240}}
"""


def pct(times: list[float], p: float) -> float:
    ordered = sorted(times)
    return ordered[max(int(len(ordered) * p) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=40)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mdf-"))
    mappings = tmp / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    (mappings / "program.yaml").write_text(PROGRAM.format(size=max(args.size, 1024)))
    url = args.database_url or f"sqlite:///{tmp / 'hub.sqlite3'}"
    for key in [k for k in os.environ if k.startswith("PARTNERHUB_")]:
        del os.environ[key]
    os.environ.update(DATABASE_URL=url, PARTNERHUB_DATA_DIR=str(tmp / "data"), PARTNERHUB_MAPPINGS_DIR=str(mappings))
    upgrade(url)
    hub = Hub.open(load_settings())
    now = utcnow()
    with hub.sessions() as s, s.begin():
        made = add_partner(s, name="Bench Media", email="bench@mdf.example", tier="gold")
        request, _ = workflow.submit_request(
            s,
            hub.program,
            made.partner,
            {"activity": "bench", "amount": "90000000", "currency": "USD", "description": None},
            idempotency_key=None,
            by=None,
            now=now,
        )
        workflow.decide_request(s, request.id, approve_it=True, actor="bench", reason="bench", now=now)
        request_id = request.id
    size_before = (tmp / "hub.sqlite3").stat().st_size if url.startswith("sqlite") else None
    pdf = b"%PDF-1.7\n" + b"0" * (args.size - 9)
    headers = {"Authorization": f"Bearer {made.api_key}"}
    uploads: list[float] = []
    downloads: list[float] = []
    with TestClient(build_app(hub)) as client:
        names = []
        for _ in range(args.claims):
            start = time.perf_counter()
            answer = client.post(
                f"/api/v1/mdf/requests/{request_id}/claims",
                headers=headers,
                data={"amount": "1.00"},
                files=[("files", ("proof.pdf", pdf, "application/pdf"))],
            )
            uploads.append((time.perf_counter() - start) * 1000)
            assert answer.status_code == 201, answer.text
            names.append(answer.json()["proofs"][0]["name"])
        for _ in range(args.claims):
            start = time.perf_counter()
            got = client.get(f"/api/v1/mdf/proofs/{names[0]}", headers=headers)
            downloads.append((time.perf_counter() - start) * 1000)
            assert got.status_code == 200 and len(got.content) == args.size
    print(f"{'call':40} {'p50 ms':>8} {'p95 ms':>8}")
    print(
        f"{'claim with one ' + str(args.size) + '-byte PDF':40} {statistics.median(uploads):8.1f} {pct(uploads, 0.95):8.1f}"
    )
    print(f"{'download that proof':40} {statistics.median(downloads):8.1f} {pct(downloads, 0.95):8.1f}")
    if size_before is not None:
        grown = (tmp / "hub.sqlite3").stat().st_size - size_before
        print(
            f"database grew {grown} bytes for {args.claims} x {args.size} bytes of proof ({grown / (args.claims * args.size):.3f}x)"
        )
    hub.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
