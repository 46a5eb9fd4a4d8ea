"""Mapping throughput on one core with the default HubSpot deals mapping.

    .venv/bin/python bench/bench_mapping.py [--records 50000] [--runs 7]

Builds realistic full HubSpot deal records (v3 objects API shape, every mapped property set,
two associated contacts), compiles ``mappings/hubspot/deals.yaml`` once, then times
``plan.inbound`` over all records (and ``plan.outbound`` over the resulting hub records) several
times, pinned to one CPU. Prints the median records per second of CPU time used by this process
(robust when other work shares the machine) and of wall-clock time, plus each run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub.mapping import load_mappings

STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
CURRENCIES = ("USD", "EUR", "JPY", "KWD", "")


def records(count: int) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        currency = CURRENCIES[n % len(CURRENCIES)]
        out.append(
            {
                "id": str(10_000_000 + n),
                "properties": {
                    "dealname": f"  Deal {n} ",
                    "dealstage": STAGES[n % len(STAGES)],
                    "pipeline": "default",
                    "amount": f"{n % 100_000}.{n % 100:02d}",
                    "deal_currency_code": currency,
                    "closedate": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T00:00:00.000Z",
                    "createdate": f"2023-{1 + n % 12:02d}-{1 + n % 28:02d}T10:11:12.345Z",
                    "hs_lastmodifieddate": f"2024-05-{1 + n % 28:02d}T10:00:{n % 60:02d}.123Z",
                    "hubspot_owner_id": str(100 + n % 17),
                    "partnerhub_partner_id": f"P-{n % 500}",
                    "partnerhub_tracking_id": f"T-{n}",
                    "partnerhub_source": "partner",
                },
                "associations": {
                    "contacts": {
                        "results": [
                            {"id": str(n), "type": "deal_to_contact"},
                            {"id": str(n + 1), "type": "deal_to_contact"},
                        ]
                    }
                },
                "archived": False,
                "createdAt": "2023-01-01T00:00:00.000Z",
                "updatedAt": "2024-05-01T00:00:00.000Z",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    plan = load_mappings(REPO / "mappings").for_source("hubspot", "deal")
    assert plan is not None
    data = records(args.records)
    inbound = plan.inbound
    hub_records = [change.fields for change in map(inbound, data) if change is not None]
    assert len(hub_records) == len(data)
    outbound = plan.outbound

    def timed(function: Any, items: list[Any]) -> tuple[float, float]:
        """(records per CPU second of this process, records per wall-clock second)."""
        cpu, wall = time.process_time(), time.perf_counter()
        for item in items:
            function(item)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return len(items) / cpu, len(items) / wall

    print(
        f"python {platform.python_version()} on {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"{args.records} records x {args.runs} runs, {len(plan.fields)} fields per deal"
    )
    for label, function, items in (("inbound", inbound, data), ("outbound", outbound, hub_records)):
        timed(function, items[: min(2000, len(items))])  # warm up
        results = [timed(function, items) for _ in range(args.runs)]
        cpu_rates = [r[0] for r in results]
        wall_rates = [r[1] for r in results]
        runs = ", ".join(f"{r:,.0f}" for r in cpu_rates)
        print(
            f"{label:8s} median {statistics.median(cpu_rates):>10,.0f} records/CPU-s "
            f"({statistics.median(wall_rates):,.0f} records/wall-s; CPU-s runs: {runs})"
        )


if __name__ == "__main__":
    main()
