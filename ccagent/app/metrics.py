"""Prometheus metrics of one daemon (R-OPS-5).

A registry per instance (not the global default) so tests and the demo can
build several pipelines in one process without "duplicated timeseries" errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages = Counter("ccagent_pbx_messages", "Raw PBX messages processed", registry=r)
        self.events = Counter("ccagent_pbx_events", "Normalized PBX events applied", registry=r)
        self.bad_events = Counter(
            "ccagent_bad_events",
            "PBX messages that could not be translated or applied (skipped)",
            ["stage"],
            registry=r,
        )
        self.dropped_late = Counter(
            "ccagent_late_events", "Events for calls already finished (late or replayed)", registry=r
        )
        self.calls_written = Counter("ccagent_calls_written", "Finished calls written", registry=r)
        self.legs_written = Counter("ccagent_legs_written", "Legs written", registry=r)
        self.reconciled = Counter(
            "ccagent_calls_reconciled", "Calls closed by reconciliation after a lost connection", registry=r
        )
        self.reconnects = Counter("ccagent_pbx_reconnects", "PBX (re)connections", registry=r)
        self.open_calls = Gauge("ccagent_open_calls", "Calls in progress", registry=r)
        self.queue_depth = Gauge("ccagent_event_queue_depth", "Events waiting for the consumer", registry=r)
        self.commit_latency = Histogram(
            "ccagent_event_to_commit_seconds",
            "From event arrival to its database commit",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.write_errors = Counter(
            "ccagent_db_write_errors", "Failed database flushes (retried)", registry=r
        )

    def watch_client(self, get_counters: Callable[[], Any]) -> None:
        """Export a PBX client's plain counters (a dataclass) as ``ccagent_pbx_client_<name>``."""
        self.registry.register(_ClientCollector(get_counters))


class _ClientCollector(Collector):
    """Reads the client's counters at scrape time: no copying on the hot path."""

    def __init__(self, get_counters: Callable[[], Any]) -> None:
        self._get = get_counters

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counters = self._get()
        if counters is None or not dataclasses.is_dataclass(counters):
            return
        for f in dataclasses.fields(counters):
            value = getattr(counters, f.name)
            if isinstance(value, int | float):
                yield GaugeMetricFamily(
                    f"ccagent_pbx_client_{f.name}", f"PBX client counter {f.name}", value=value
                )
