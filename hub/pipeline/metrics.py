"""Metrics shared by every process: counters and histograms kept in Redis, gauges read at scrape.

Web and worker processes may run on different machines, so prometheus-client's in-process
registry (or its multiprocess mode, which needs a shared directory) cannot see them all. Each
process adds to Redis hashes instead (in the same pipeline as the work it counts, where there is
one), and ``GET /metrics`` renders them with a prometheus-client collector. A flushed Redis
resets the counters, which Prometheus treats as a counter reset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

COUNTERS_KEY = "partnerhub:metrics:counters"
HISTOGRAMS_KEY = "partnerhub:metrics:histograms"

#: processing latency buckets, seconds (received -> done)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

COUNTER_HELP = {
    "webhooks_received": "Events accepted into the inbox, per connector.",
    "webhooks_duplicate": "Deliveries of events already in the inbox, per connector.",
    "webhooks_rejected": "Webhook requests refused, per connector and reason.",
    "webhooks_discarded": "Deliveries answered 2xx but not stored (unverified or unknown e-mail "
    "senders), per connector and reason.",
    "events_processed": "Inbox events processed, per connector and outcome.",
    "events_retried": "Failed attempts scheduled for retry, per connector and error kind.",
    "dead_letters": "Events and outbox items that went dead, per source and error kind.",
    "echoes_dropped": "Inbound changes recognised as the hub's own writes and dropped.",
}
HISTOGRAM_HELP = {
    "processing_latency_seconds": "Time from an event's receipt to the end of its processing.",
}


def _field(name: str, labels: Mapping[str, str]) -> str:
    return name + "|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _unfield(field: str) -> tuple[str, dict[str, str]]:
    name, _, rest = field.partition("|")
    labels = dict(part.split("=", 1) for part in rest.split(",") if part)
    return name, labels


def incr(redis: Any, name: str, labels: Mapping[str, str], amount: int = 1) -> None:
    """Add to a counter. ``redis`` may be a pipeline (the caller executes it)."""
    redis.hincrby(COUNTERS_KEY, _field(name, labels), amount)


def observe(redis: Any, name: str, labels: Mapping[str, str], value: float) -> None:
    base = _field(name, labels)
    for bound in LATENCY_BUCKETS:
        if value <= bound:
            redis.hincrby(HISTOGRAMS_KEY, f"{base}|le={bound}", 1)
    redis.hincrby(HISTOGRAMS_KEY, f"{base}|le=+Inf", 1)
    redis.hincrbyfloat(HISTOGRAMS_KEY, f"{base}|sum", value)


def observe_many(redis: Any, name: str, labels: Mapping[str, str], values: Iterable[float]) -> None:
    """``observe`` for many values at once: one command per bucket, not per value."""
    base = _field(name, labels)
    counts = [0] * len(LATENCY_BUCKETS)
    total, seen = 0.0, 0
    for value in values:
        seen += 1
        total += value
        for i, bound in enumerate(LATENCY_BUCKETS):
            if value <= bound:
                counts[i] += 1
    if not seen:
        return
    for bound, count in zip(LATENCY_BUCKETS, counts, strict=True):
        if count:
            redis.hincrby(HISTOGRAMS_KEY, f"{base}|le={bound}", count)
    redis.hincrby(HISTOGRAMS_KEY, f"{base}|le=+Inf", seen)
    redis.hincrbyfloat(HISTOGRAMS_KEY, f"{base}|sum", total)


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()
    }


class HubCollector:
    """Reads the shared counters and histograms from Redis, and gauges from ``gauges()``."""

    def __init__(self, redis: Any, gauges: Callable[[], Iterable[tuple[str, str, dict[str, str], float]]]):
        self.redis = redis
        self.gauges = gauges

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Any] = {}

        def family(factory: Any, name: str, help_text: str, labels: Mapping[str, str]) -> Any:
            if name not in families:
                families[name] = factory(f"partnerhub_{name}", help_text, labels=sorted(labels))
            return families[name]

        def values(labels: Mapping[str, str]) -> list[str]:
            return [labels[k] for k in sorted(labels)]

        for field, value in sorted(_decode(self.redis.hgetall(COUNTERS_KEY)).items()):
            name, labels = _unfield(field)
            family(CounterMetricFamily, name, COUNTER_HELP.get(name, name), labels).add_metric(
                values(labels), float(value)
            )

        series: dict[str, dict[str, Any]] = defaultdict(lambda: {"buckets": {}, "sum": 0.0})
        for field, value in _decode(self.redis.hgetall(HISTOGRAMS_KEY)).items():
            base, _, tail = field.rpartition("|")
            if tail == "sum":
                series[base]["sum"] = float(value)
            elif tail.startswith("le="):
                series[base]["buckets"][tail[3:]] = float(value)
        for base, data in sorted(series.items()):
            name, labels = _unfield(base)
            buckets = [(str(b), data["buckets"].get(str(b), 0.0)) for b in LATENCY_BUCKETS]
            buckets.append(("+Inf", data["buckets"].get("+Inf", 0.0)))
            family(HistogramMetricFamily, name, HISTOGRAM_HELP.get(name, name), labels).add_metric(
                values(labels), buckets, data["sum"]
            )

        for name, help_text, labels, reading in self.gauges():
            family(GaugeMetricFamily, name, help_text, labels).add_metric(values(labels), reading)
        yield from families.values()
