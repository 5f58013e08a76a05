"""Metrics that survive a restart: at start the daemon seeds each schedule's last success and
last failure from the database (one query), the poll-failure counters at 0, and the next-fire
gauge of every time schedule; a failed poll sets its schedule's last-error gauge; and
``run.recovered`` names the schedule and fire key like every run event.

Real stores (SQLite and the PostgreSQL fixture), real Prometheus exposition text, injected clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from triggerd.config import Config, load_config
from triggerd.engine.runtime import Runtime
from triggerd.engine.scheduler import TimeScheduler
from triggerd.observability.metrics import Metrics
from triggerd.recurrence import Frequency, Recurrence
from triggerd.runs import NewRun, TriggerKind
from triggerd.store import Store, outbox, queries

T0 = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)  # the day before Berlin's spring-forward
CONFIG = """
datastores:
  inbox: {kind: local, path: inbox}
pipelines:
  job: {kind: command, argv: [echo]}
schedules:
  - name: nightly
    pipeline: job
    recurrence:
      frequency: Day
      interval: 1
      start_time: "2024-03-01T00:00:00"
      hours: [2]
      minutes: [30]
      time_zone: W. Europe Standard Time
  - name: hourly
    pipeline: job
    recurrence: {frequency: Hour, interval: 1, start_time: "2024-03-01T00:00:00"}
  - name: watch
    pipeline: job
    datastore: inbox
"""


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    text = metrics.render()[0].decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "triggerd.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def finished(store: Store, schedule: str, status: str, at: datetime, key: str) -> int:
    new = NewRun(schedule, TriggerKind.MANUAL, f"{schedule}:{key}", None, {})
    run_id = store.write(outbox.add_run, new, at - timedelta(minutes=1))
    store.write(outbox.finish, run_id, status=status, now=at)
    return run_id


def test_last_finished_is_the_latest_finish_per_schedule_and_outcome(store: Store) -> None:
    finished(store, "nightly", "succeeded", T0, "a")
    finished(store, "nightly", "submitted", T0 + timedelta(hours=2), "b")  # a success too
    finished(store, "nightly", "succeeded", T0 + timedelta(hours=1), "c")  # not the latest
    finished(store, "nightly", "failed", T0 - timedelta(days=1), "d")
    finished(store, "hourly", "failed", T0, "e")
    store.write(outbox.add_run, NewRun("hourly", TriggerKind.MANUAL, "hourly:f", None, {}), T0)
    assert store.read(queries.last_finished) == {
        "nightly": (T0 + timedelta(hours=2), T0 - timedelta(days=1)),
        "hourly": (None, T0),
    }


def test_a_restart_seeds_the_gauges_from_the_database(config: Config, store: Store) -> None:
    finished(store, "nightly", "succeeded", T0 - timedelta(hours=9), "a")
    finished(store, "nightly", "failed", T0 - timedelta(hours=3), "b")
    finished(store, "gone", "succeeded", T0, "c")  # no longer in the config: not seeded
    metrics = Metrics(process=False)
    runtime = Runtime(
        config, store, clock=lambda: T0, owner="me", running_since=T0, metrics=metrics
    )
    try:
        runtime.startup()
    finally:
        runtime.close()
    success = value(metrics, "triggerd_last_success_timestamp_seconds", schedule="nightly")
    failure = value(metrics, "triggerd_last_failure_timestamp_seconds", schedule="nightly")
    assert success == (T0 - timedelta(hours=9)).timestamp()
    assert failure == (T0 - timedelta(hours=3)).timestamp()
    assert value(metrics, "triggerd_last_success_timestamp_seconds", schedule="hourly") is None
    assert value(metrics, "triggerd_last_success_timestamp_seconds", schedule="gone") is None
    # The poll-failure counter of the datastore schedule reads 0 before any poll failed.
    assert value(metrics, "triggerd_poll_failures_total", schedule="watch") == 0.0
    assert value(metrics, "triggerd_poll_failures_total", schedule="nightly") is None


def test_a_run_that_fails_sets_the_failure_gauge_and_a_failed_poll_the_error_gauge() -> None:
    now = [1_700_000_000.0]
    metrics = Metrics(process=False, clock=lambda: now[0])
    metrics.run_finished("nightly", "failed", attempts=3, duration_s=1.0)
    now[0] += 60
    metrics.run_finished("nightly", "succeeded", attempts=1, duration_s=1.0)
    metrics.poll_failed("watch")
    assert value(metrics, "triggerd_last_failure_timestamp_seconds", schedule="nightly") == (
        1_700_000_000.0
    )
    assert value(metrics, "triggerd_last_success_timestamp_seconds", schedule="nightly") == (
        1_700_000_060.0
    )
    assert value(metrics, "triggerd_poll_failures_total", schedule="watch") == 1.0
    assert value(metrics, "triggerd_last_poll_error_timestamp_seconds", schedule="watch") == (
        1_700_000_060.0
    )
    metrics.forget_schedule("watch")  # it left the config: its series go with it
    assert value(metrics, "triggerd_last_poll_error_timestamp_seconds", schedule="watch") is None


@pytest.fixture
def scheduler_metrics() -> Iterator[tuple[TimeScheduler, Metrics]]:
    metrics = Metrics(process=False)
    scheduler = TimeScheduler(lambda *names: None, on_next_fire=metrics.next_fire_at)
    yield scheduler, metrics
    scheduler.shutdown()


def test_the_next_fire_gauge_is_set_when_a_schedule_is_added_and_after_each_wake_up(
    scheduler_metrics: tuple[TimeScheduler, Metrics],
) -> None:
    scheduler, metrics = scheduler_metrics
    # 02:30 in Berlin does not exist on 2024-03-31; the recurrence says when it fires instead.
    nightly = Recurrence(
        frequency=Frequency.DAY,
        interval=1,
        start_time=datetime(2024, 3, 1),
        hours=(2,),
        minutes=(30,),
        time_zone="W. Europe Standard Time",
    )
    first = nightly.next_fire_after(T0)
    assert first is not None
    scheduler.add("nightly", nightly, T0, first_fire=first)
    gauge = "triggerd_next_fire_timestamp_seconds"
    assert value(metrics, gauge, schedule="nightly") == first.timestamp()
    scheduler.add("also-nightly", nightly, T0)  # computed by the scheduler itself
    expected = nightly.next_fire_after(datetime.now(UTC))
    assert expected is not None
    assert value(metrics, gauge, schedule="also-nightly") == expected.timestamp()
    metrics.next_fire.set(["nightly"], 0)
    scheduler._wake((nightly, None))  # as APScheduler calls the group's job
    assert value(metrics, gauge, schedule="nightly") == expected.timestamp()


def test_a_recurrence_without_more_slots_drops_the_gauge() -> None:
    metrics = Metrics(process=False)
    metrics.next_fire_at(["once"], T0)
    assert value(metrics, "triggerd_next_fire_timestamp_seconds", schedule="once") is not None
    metrics.next_fire_at(["once"], None)
    assert value(metrics, "triggerd_next_fire_timestamp_seconds", schedule="once") is None


def test_run_recovered_names_the_schedule_and_the_fire_key(config: Config, store: Store) -> None:
    new = NewRun("nightly", TriggerKind.MANUAL, "nightly:manual:1", None, {})
    run_id = store.write(outbox.add_run, new, T0)
    claimed = store.write(outbox.claim_next, "dead-daemon", T0)
    assert claimed is not None
    later = T0 + timedelta(minutes=5)  # its claim (30 s) has expired
    runtime = Runtime(config, store, clock=lambda: later, owner="me", running_since=later)
    try:
        with capture_logs() as logs:
            runtime.startup()
    finally:
        runtime.close()
    [recovered] = [e for e in logs if e["event"] == "run.recovered"]
    assert recovered == {
        "event": "run.recovered",
        "log_level": "warning",
        "run_id": run_id,
        "schedule": "nightly",
        "fire_key": "nightly:manual:1",
        # SQLite: one daemon per file, so every run in flight at start is an orphan; on
        # PostgreSQL another replica may be alive: only expired claims are taken over.
        "reason": "daemon died mid-run"
        if store.engine.dialect.name == "sqlite"
        else ("claim expired"),
    }


def test_a_schedule_that_leaves_the_config_loses_its_next_fire_series() -> None:
    metrics = Metrics(process=False)
    metrics.next_fire_at(["kept", "gone"], T0)
    metrics.forget_schedule("gone")
    gauge = "triggerd_next_fire_timestamp_seconds"
    assert value(metrics, gauge, schedule="kept") == T0.timestamp()
    assert value(metrics, gauge, schedule="gone") is None
    text = metrics.render()[0].decode()
    assert "# TYPE triggerd_next_fire_timestamp_seconds gauge" in text
    assert 'triggerd_next_fire_timestamp_seconds{schedule="kept"}' in text
