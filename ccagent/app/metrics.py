"""Prometheus metrics of one daemon (R-OPS-5).

A registry per instance (not the global default) so tests and the demo can
build several pipelines in one process without "duplicated timeseries" errors.
Whatever only ever grows is a Counter (``..._total``: ``rate()`` and ``increase()`` survive a
restart's reset); a Gauge is a level that goes both ways.  Figures owned by another object (the
PBX client's counters, the dialer's projects) are read at scrape time, never copied on the hot path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ccagent.core.dialer.engine import DialerEngine


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
        # was ccagent_db_write_errors_total (renamed in issue 13, the name the docs and alerts use)
        self.write_failures = Counter(
            "ccagent_db_write_failures", "Failed database flushes (retried until the limit)", registry=r
        )
        self.write_failing_s = Gauge(
            "ccagent_db_write_failing_seconds",
            "How long database writes have been failing without a success (0 when writing)",
            registry=r,
        )
        self.healthy = Gauge(
            "ccagent_healthy",
            "1 while the daemon pings systemd's watchdog; 0 once writes failed past "
            "daemon.write_failure_limit_s or the consumer stalled",
            registry=r,
        )
        self.healthy.set(1)
        self.pbx_connected = Gauge(
            "ccagent_pbx_connected", "1 while logged in to the PBX (AMI / ESL), else 0", registry=r
        )

    def watch_client(self, get_counters: Callable[[], Any]) -> None:
        """Export a PBX client's plain counters (a dataclass) as ``ccagent_pbx_client_<name>_total``
        (a high-water mark, which is a level, as a gauge ``ccagent_pbx_client_<name>``)."""
        self.registry.register(_ClientCollector(get_counters))

    def watch_dialer(self, engine: DialerEngine) -> None:
        """Export the dialer's figures per project, read from its engine at scrape time."""
        self.registry.register(_DialerCollector(engine))


class _ClientCollector(Collector):
    """Reads the client's counters at scrape time: no copying on the hot path."""

    def __init__(self, get_counters: Callable[[], Any]) -> None:
        self._get = get_counters

    def collect(self) -> Iterator[Metric]:
        counters = self._get()
        if counters is None or not dataclasses.is_dataclass(counters):
            return
        for f in dataclasses.fields(counters):
            value = getattr(counters, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            name = f"ccagent_pbx_client_{f.name}"
            if f.name in _CLIENT_LEVELS:
                yield GaugeMetricFamily(name, f"PBX client level {f.name}", value=value)
            else:
                yield CounterMetricFamily(name, f"PBX client counter {f.name}", value=value)


# the client fields that are levels, not running totals
_CLIENT_LEVELS = frozenset({"queue_high_water"})


class _DialerCollector(Collector):
    """Projects dialing, lines in use and abandon rate per project, from the dialer's engine.

    Lines in use are the attempts in flight (planned, ringing, answered, connected), including
    those of a project paused meanwhile, which still hold a trunk line.  The abandon rate is
    abandoned / answered since this daemon started dialing the project (what the pacer holds
    under its target; a project's whole record is in the reports).
    """

    def __init__(self, engine: DialerEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self._engine
        running = GaugeMetricFamily("ccagent_dialer_projects_running", "Projects the dialer is dialing")
        running.add_metric([], len(engine.projects))
        yield running
        lines = GaugeMetricFamily(
            "ccagent_dialer_lines_in_use", "Dialer calls in flight, per project", labels=["project"]
        )
        in_flight: dict[str, int] = dict.fromkeys(engine.projects, 0)
        for attempt in list(engine.attempts.values()):
            in_flight[attempt.project_id] = in_flight.get(attempt.project_id, 0) + 1
        for project, n in sorted(in_flight.items()):
            lines.add_metric([project], n)
        yield lines
        rate = GaugeMetricFamily(
            "ccagent_dialer_abandon_rate",
            "Abandoned / answered dialer calls since the daemon started the project",
            labels=["project"],
        )
        for project, p in sorted(engine.projects.items()):
            answered = p.stats.get("answered", 0.0)
            rate.add_metric([project], p.stats.get("abandoned", 0.0) / answered if answered else 0.0)
        yield rate
