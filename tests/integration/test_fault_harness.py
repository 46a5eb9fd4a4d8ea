"""The fault harness's short form (``bench/fault_harness.py``): about 500 unique events across the
five providers, each delivered 3 times in shuffled order, through two worker SIGKILLs, a web
restart and a Redis flush, with the fakes failing a fifth of their calls — nothing acknowledged
is lost, nothing is doubled, and the records equal those of the same events applied once in order."""

from __future__ import annotations

import importlib.util
import sys

from tests.support.servers import REPO

_spec = importlib.util.spec_from_file_location("fault_harness", REPO / "bench" / "fault_harness.py")
assert _spec is not None and _spec.loader is not None
fault_harness = importlib.util.module_from_spec(_spec)
sys.modules["fault_harness"] = fault_harness  # dataclasses look their module up
_spec.loader.exec_module(fault_harness)


def test_short_form_loses_nothing_doubles_nothing_and_ends_as_applied_once_in_order() -> None:
    # a 5 s lease so killed workers' rows come back soon; 30 attempts so that the injected faults
    # (a fifth of all calls) cannot dead-letter an action of several calls (bench/README.md)
    args = fault_harness.parser().parse_args(
        [
            "--events",
            "500",
            "--kills",
            "2",
            "--flushes",
            "1",
            "--web-restarts",
            "1",
            "--lease-s",
            "5",
            "--send-timeout-s",
            "240",
            "--drain-timeout-s",
            "300",
            "--max-attempts",
            "30",
        ]
    )
    figures = fault_harness.run(args)
    print(figures.table())  # shown with -s, and on failure

    # the faults happened
    assert (figures.worker_kills, figures.web_restarts, figures.redis_flushes) == (2, 1, 1)
    assert sum(c.get("calls", 0) for c in figures.faults_injected.values()) > 0
    assert sum(sum(v for k, v in c.items() if k != "calls") for c in figures.faults_injected.values()) > 0
    # every event was acknowledged (the senders retry what was not), and none of them is lost
    assert figures.gave_up == 0
    assert figures.acknowledged == figures.events
    assert figures.lost == 0
    assert figures.inbox_not_done == {}
    assert figures.dead_rows == []
    assert figures.recovery_s is not None, "the hub did not drain after the last fault"
    # no 5xx from the hub: a restarting web process refuses connections, it never answers 5xx
    # (concurrent identical submissions with one Idempotency-Key get the winner's answer)
    assert figures.server_errors == [], figures.server_errors
    # every effect once
    assert figures.emails_twice == 0
    assert figures.ledger_doubled == 0 and figures.transfers_doubled == 0
    assert figures.crm_created_twice == 0
    # the same records as the same events delivered once, in order, without faults
    assert figures.records_differing == 0, "\n".join(figures.record_diff[:20])
