"""The blob-event metrics (``Metrics.events``): what each queue delivered, fired, ignored and
poisoned, how far behind it is, and how long a blob waited from its event to its run."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds from a blob's eventTime to its run recorded: sub-second is the aim, minutes a problem.
EVENT_TO_RUN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)


class EventMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.received = Counter(
            "triggerd_blob_events_received_total",
            "Queue messages received, by queue",
            ["queue"],
            registry=r,
        )
        self.fired = Counter(
            "triggerd_blob_events_fired_total",
            "Runs recorded from blob events, by queue",
            ["queue"],
            registry=r,
        )
        self.ignored = Counter(
            "triggerd_blob_events_ignored_total",
            "Blob events that fired nothing, by queue and reason",
            ["queue", "reason"],
            registry=r,
        )
        self.poisoned = Counter(
            "triggerd_blob_events_poisoned_total",
            "Messages moved to the poison queue, by queue",
            ["queue"],
            registry=r,
        )
        self.lag = Gauge(
            "triggerd_blob_events_queue_lag_seconds",
            "Age of the oldest message of the last batch received (0: the queue was empty)",
            ["queue"],
            registry=r,
        )
        self.up = Gauge(
            "triggerd_blob_events_queue_up",
            "1 while the queue answers, 0 while reading it fails",
            ["queue"],
            registry=r,
        )
        self.failures = Counter(
            "triggerd_blob_events_queue_failures_total",
            "Failed reads or writes of the queue, by queue",
            ["queue"],
            registry=r,
        )
        self.event_to_run = Histogram(
            "triggerd_blob_event_to_run_seconds",
            "Time from a blob's eventTime to its run recorded",
            buckets=EVENT_TO_RUN_BUCKETS,
            registry=r,
        )

    def started(self, queue: str, reasons: Iterable[str]) -> None:
        """A queue's series, at 0 before anything happens (so that increase() sees the first)."""
        for counter in (self.received, self.fired, self.poisoned, self.failures):
            counter.labels(queue)
        for reason in reasons:
            self.ignored.labels(queue, reason)
        self.up.labels(queue).set(1)
        self.lag.labels(queue).set(0)

    def stopped(self, queue: str, reasons: Iterable[str]) -> None:
        """The queue left the configuration: its series go."""
        for metric in (self.received, self.fired, self.poisoned, self.failures, self.up, self.lag):
            metric.remove(queue)
        for reason in reasons:
            self.ignored.remove(queue, reason)
