"""Prometheus metrics, kept in a registry of their own (never the process-global one).

The engine calls one method per event (``fire_recorded``, ``run_finished``, ...); the HTTP
endpoint calls :meth:`Metrics.render`. Every metric name starts with ``triggerd_``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from triggerd import __version__
from triggerd.observability.eventmetrics import EventMetrics

SUCCESS_STATUSES = frozenset({"succeeded", "submitted"})
"""Run statuses that set ``triggerd_last_success_timestamp_seconds``."""
FAILURE_STATUSES = frozenset({"failed"})
"""Run statuses that set ``triggerd_last_failure_timestamp_seconds``."""

# A submission is an HTTP call (well under a second) or a command run to completion (minutes).
SUBMIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
POLL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ATTEMPT_BUCKETS = (1, 2, 3, 5, 10)

_Labelled = Counter | Gauge | Histogram
_M = TypeVar("_M", Counter, Gauge, Histogram)


class ScheduleTimes(Collector):
    """A gauge with one series per schedule, kept as a plain dict and turned into samples at
    scrape time. Every time schedule has one (its next slot): 10,000 labelled ``Gauge``
    children cost 7 MB and a third of a second to make; this costs a float per schedule."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation = name, documentation
        self.values: dict[str, float] = {}

    def set(self, schedules: Iterable[str], value: float) -> None:
        for schedule in schedules:
            self.values[schedule] = value

    def drop(self, schedules: Iterable[str]) -> None:
        for schedule in schedules:
            self.values.pop(schedule, None)

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation, labels=["schedule"])]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=["schedule"])
        for schedule, value in list(self.values.items()):  # a copy: setters run meanwhile
            family.add_metric([schedule], value)
        return [family]


class Metrics:
    """The daemon's metrics; safe to call from any thread."""

    def __init__(
        self,
        *,
        version: str = __version__,
        clock: Callable[[], float] = time.time,
        process: bool = True,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._lock = threading.Lock()
        # schedule -> the (metric, label values) series it owns, removed by forget_schedule
        self._series: dict[str, set[tuple[_Labelled, tuple[str, ...]]]] = {}
        r = self.registry
        if process:
            ProcessCollector(namespace="triggerd", registry=r)
        self.build_info = Gauge(
            "triggerd_build_info", "Always 1; the version is a label", ["version"], registry=r
        )
        self.build_info.labels(version).set(1)
        self.schedules = Gauge(
            "triggerd_schedules", "Schedules in the configuration in force", registry=r
        )
        self.fires = Counter(
            "triggerd_fires_total",
            "Fires recorded, by schedule, trigger kind (time|datastore) and outcome",
            ["schedule", "trigger", "outcome"],
            registry=r,
        )
        self.runs = Counter(
            "triggerd_runs_total",
            "Runs finished, by final status",
            ["schedule", "status"],
            registry=r,
        )
        self.submit_duration = Histogram(
            "triggerd_submit_duration_seconds",
            "Time from the start of a submission to its outcome",
            ["schedule"],
            buckets=SUBMIT_BUCKETS,
            registry=r,
        )
        self.run_attempts = Histogram(
            "triggerd_run_attempts",
            "Attempts a finished run took",
            buckets=ATTEMPT_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "triggerd_last_success_timestamp_seconds",
            "Unix time of the schedule's last run that succeeded or was submitted",
            ["schedule"],
            registry=r,
        )
        self.last_failure = Gauge(
            "triggerd_last_failure_timestamp_seconds",
            "Unix time of the schedule's last run that failed",
            ["schedule"],
            registry=r,
        )
        self.next_fire = ScheduleTimes(
            "triggerd_next_fire_timestamp_seconds", "Unix time of the time schedule's next slot"
        )
        r.register(self.next_fire)
        self.retries = Counter(
            "triggerd_run_retries_total",
            "Transient submit failures that scheduled another attempt",
            ["schedule"],
            registry=r,
        )
        self.poll_duration = Histogram(
            "triggerd_poll_duration_seconds",
            "Time one datastore poll took (listing and settling)",
            ["schedule"],
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.datastore_entries = Gauge(
            "triggerd_datastore_entries",
            "Entries the last successful poll listed",
            ["schedule"],
            registry=r,
        )
        self.poll_failures = Counter(
            "triggerd_poll_failures_total", "Datastore polls that failed", ["schedule"], registry=r
        )
        self.last_poll_error = Gauge(
            "triggerd_last_poll_error_timestamp_seconds",
            "Unix time of the datastore schedule's last failed poll",
            ["schedule"],
            registry=r,
        )
        self.runs_followed = Gauge(
            "triggerd_runs_followed",
            "Submitted remote runs the daemon follows, not ended yet (the whole database)",
            registry=r,
        )
        self.follow_failures = Counter(
            "triggerd_follow_failures_total",
            "Status checks of followed remote runs that failed (tried again later)",
            ["schedule"],
            registry=r,
        )
        self.runs_queued = Gauge(
            "triggerd_runs_queued", "Runs not finished yet, by state", ["state"], registry=r
        )
        self.config_reloads = Counter(
            "triggerd_config_reloads_total",
            "Configuration reloads, by result (success|failure)",
            ["result"],
            registry=r,
        )
        self.clock_steps = Counter(
            "triggerd_clock_steps_total",
            "Wall-clock steps of more than a few seconds the daemon noticed, by direction",
            ["direction"],
            registry=r,
        )
        self.events = EventMetrics(r)  # blob events from Storage queues
        # Series that should read 0 before anything happens, so rate() and alerts see them.
        for state in ("pending", "running"):
            self.runs_queued.labels(state).set(0)
        for result in ("success", "failure"):
            self.config_reloads.labels(result)
        for direction in ("forward", "backward"):
            self.clock_steps.labels(direction)

    def fire_recorded(self, schedule: str, trigger: str, outcome: str) -> None:
        """A fire was recorded; ``outcome`` is ``planned`` or ``skipped``."""
        self._own(schedule, self.fires, schedule, trigger, outcome).inc()

    def run_finished(self, schedule: str, status: str, attempts: int, duration_s: float) -> None:
        self._own(schedule, self.runs, schedule, status).inc()
        self._own(schedule, self.submit_duration, schedule).observe(duration_s)
        self.run_attempts.observe(attempts)
        if status in SUCCESS_STATUSES:
            self._own(schedule, self.last_success, schedule).set(self._clock())
        elif status in FAILURE_STATUSES:
            self._own(schedule, self.last_failure, schedule).set(self._clock())

    def seed_runs(self, last: Mapping[str, tuple[datetime | None, datetime | None]]) -> None:
        """At start: each schedule's last success and last failure (finish times), as the
        database holds them, so the gauges and the alerts on them survive a restart."""
        for schedule, (success, failure) in last.items():
            if success is not None:
                self._own(schedule, self.last_success, schedule).set(success.timestamp())
            if failure is not None:
                self._own(schedule, self.last_failure, schedule).set(failure.timestamp())

    def seed_polls(self, schedules: Iterable[str]) -> None:
        """At start: every datastore schedule's poll-failure counter, at 0 until one fails (so
        that ``increase()`` sees the first failure)."""
        for schedule in schedules:
            self._own(schedule, self.poll_failures, schedule)

    def next_fire_at(self, schedules: Iterable[str], when: datetime | None) -> None:
        """The next slot of these time schedules (None: their recurrence has no more)."""
        if when is None:
            self.next_fire.drop(schedules)
        else:
            self.next_fire.set(schedules, when.timestamp())

    def run_retry(self, schedule: str) -> None:
        self._own(schedule, self.retries, schedule).inc()

    def poll_completed(self, schedule: str, duration_s: float, entries: int) -> None:
        self._own(schedule, self.poll_duration, schedule).observe(duration_s)
        self._own(schedule, self.datastore_entries, schedule).set(entries)

    def poll_failed(self, schedule: str) -> None:
        self._own(schedule, self.poll_failures, schedule).inc()
        self._own(schedule, self.last_poll_error, schedule).set(self._clock())

    def set_followed(self, count: int) -> None:
        self.runs_followed.set(count)

    def follow_failed(self, schedule: str) -> None:
        self._own(schedule, self.follow_failures, schedule).inc()

    def set_queue_depth(self, pending: int, running: int) -> None:
        self.runs_queued.labels("pending").set(pending)
        self.runs_queued.labels("running").set(running)

    def config_reload(self, ok: bool) -> None:
        self.config_reloads.labels("success" if ok else "failure").inc()

    def clock_stepped(self, *, forward: bool) -> None:
        self.clock_steps.labels("forward" if forward else "backward").inc()

    def set_schedules(self, count: int) -> None:
        self.schedules.set(count)

    def forget_schedule(self, name: str) -> None:
        """Drop every series labelled with schedule ``name`` (it left the configuration)."""
        self.next_fire.drop([name])
        with self._lock:
            owned = self._series.pop(name, set())
            for metric, values in owned:
                metric.remove(*values)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition text and its content type, for ``GET /metrics``.

        ``accept`` is the request's ``Accept`` header: OpenMetrics when the scraper asks for it,
        else the classic text format (``text/plain; version=0.0.4``), which every Prometheus
        reads. prometheus-client's own handler negotiates the same way.
        """
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def _own(self, schedule: str, metric: _M, *values: str) -> _M:
        """The child of ``metric`` for ``values``, remembered as belonging to ``schedule``."""
        with self._lock:
            self._series.setdefault(schedule, set()).add((metric, values))
            return metric.labels(*values)

    def _drop(self, schedule: str, metric: _Labelled, *values: str) -> None:
        with self._lock:
            owned = self._series.get(schedule, set())
            if (metric, values) in owned:
                owned.discard((metric, values))
                metric.remove(*values)
