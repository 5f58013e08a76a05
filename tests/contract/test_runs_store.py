"""Runs you can read: the `runs list` filters and the attempt history, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triggerd.runs import DataPath, NewRun, RunRecord, TriggerKind
from triggerd.store import Store, outbox, queries, states

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def new(key: str, schedule: str = "nightly", **extra: object) -> NewRun:
    kind = TriggerKind.DATASTORE if "data_path" in extra else TriggerKind.TIME
    trigger = extra.pop("trigger", kind)
    return NewRun(schedule, trigger, key, T0, {}, **extra)  # type: ignore[arg-type]


def keys(records: list[RunRecord]) -> list[str]:
    return [r.fire_key for r in records]


def test_filters_by_trigger_and_recording_time(store: Store) -> None:
    store.record_fires("a", [new("a:1", "a")], cursor_at=None, now=T0)
    store.write(
        outbox.add_run, new("a:m", "a", trigger=TriggerKind.MANUAL), T0 + timedelta(hours=1)
    )
    store.record_fires("a", [new("a:2", "a")], cursor_at=None, now=T0 + timedelta(hours=2))
    assert keys(store.read(queries.list_runs, triggers=["manual"])) == ["a:m"]
    assert keys(store.read(queries.list_runs, triggers=["time"])) == ["a:2", "a:1"]
    since = store.read(queries.list_runs, since=T0 + timedelta(hours=1))
    assert keys(since) == ["a:2", "a:m"]  # at or after
    until = store.read(queries.list_runs, until=T0 + timedelta(hours=1))
    assert keys(until) == ["a:1"]  # before, not at
    both = store.read(queries.list_runs, since=T0, until=T0 + timedelta(hours=2))
    assert keys(both) == ["a:m", "a:1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in/report 100%_final.csv", ["f:1"]),  # the whole path
        ("100%_", ["f:1"]),  # % and _ are plain characters, not LIKE patterns
        ("100%", ["f:1"]),
        ("%", ["f:1"]),
        ("_", ["f:1"]),
        ("in/", ["f:3", "f:1"]),
        ("REPORT", []),  # case-sensitive on every backend
        ("Report", ["f:3"]),
        ("nothing", []),
    ],
)
def test_filters_by_a_part_of_the_file_path(store: Store, text: str, expected: list[str]) -> None:
    store.record_fires(
        "f",
        [
            new("f:1", "f", data_path=DataPath("inbox", "in/report 100%_final.csv")),
            new("f:2", "f"),  # a time run: no file
            new("f:3", "f", data_path=DataPath("inbox", "in/Report.csv")),
        ],
        cursor_at=None,
        now=T0,
    )
    assert keys(store.read(queries.list_runs, file=text)) == expected


def test_the_schedule_names_the_database_knows(store: Store) -> None:
    store.write(states.ensure, "with-state", T0)
    store.record_fires(
        "with-runs", [new("r:1", "with-runs"), new("r:2", "with-runs")], cursor_at=None, now=T0
    )
    assert store.read(queries.schedule_names) == {"with-state", "with-runs"}


def attempt(store: Store, now: datetime) -> RunRecord:
    run = store.write(outbox.claim_next, "me", now)
    assert run is not None
    return run


def test_a_new_attempt_moves_the_last_ones_error_into_the_history(store: Store) -> None:
    [run_id] = store.record_fires("nightly", [new("n:1")], cursor_at=None, now=T0)
    first = attempt(store, T0)
    assert (first.started_at, first.history) == (T0, None)  # a first attempt has nothing to move
    store.write(outbox.schedule_retry, run_id, at=T0 + timedelta(seconds=5), error="HTTP 503: busy")
    waiting = store.read(queries.get_run, run_id)
    assert (waiting.status, waiting.error) == ("pending", "HTTP 503: busy")  # the why, meanwhile
    second = attempt(store, T0 + timedelta(seconds=5))
    assert (second.attempts, second.error, second.started_at) == (
        2,
        None,
        T0 + timedelta(seconds=5),
    )
    assert second.history == [
        {
            "attempt": 1,
            "started_at": "2026-03-29T00:30:00+00:00",
            "finished_at": None,
            "exit_code": None,
            "error": "HTTP 503: busy",
        }
    ]
    store.write(
        outbox.finish,
        run_id,
        status="failed",
        now=T0 + timedelta(seconds=9),
        exit_code=3,
        error="exited with status 3",
    )
    done = store.read(queries.get_run, run_id)
    assert (done.error, done.exit_code, done.started_at) == (
        "exited with status 3",
        3,
        T0 + timedelta(seconds=5),
    )
    assert [h["attempt"] for h in done.history or []] == [1]
    assert done.first_attempt_started_at() == T0  # max_elapsed still counts from the first


def test_a_retry_by_hand_moves_the_failure_and_starts_a_new_retry_window(store: Store) -> None:
    [run_id] = store.record_fires("nightly", [new("n:1")], cursor_at=None, now=T0)
    attempt(store, T0)
    store.write(
        outbox.finish,
        run_id,
        status="failed",
        now=T0 + timedelta(seconds=2),
        exit_code=1,
        error="exited with status 1",
    )
    retried = store.write(outbox.retry_run, run_id)
    assert (retried.status, retried.error, retried.exit_code, retried.finished_at) == (
        "pending",
        None,
        None,
        None,
    )
    assert retried.history == [
        {
            "attempt": 1,
            "started_at": "2026-03-29T00:30:00+00:00",
            "finished_at": "2026-03-29T00:30:02+00:00",
            "exit_code": 1,
            "error": "exited with status 1",
            "retried": True,
        }
    ]
    later = T0 + timedelta(days=1)
    again = attempt(store, later)
    assert (again.attempts, again.started_at) == (2, later)
    assert len(again.history or []) == 1  # nothing left to move
    assert again.first_attempt_started_at() == later


def test_a_shutdown_keeps_its_reason_while_waiting_and_its_attempt_in_the_history(
    store: Store,
) -> None:
    [run_id] = store.record_fires("nightly", [new("n:1")], cursor_at=None, now=T0)
    attempt(store, T0)
    store.write(outbox.hand_back, run_id, error="interrupted: daemon shutting down")
    waiting = store.read(queries.get_run, run_id)
    assert (waiting.attempts, waiting.error) == (0, "interrupted: daemon shutting down")
    again = attempt(store, T0 + timedelta(minutes=1))
    assert (again.attempts, again.error) == (1, None)
    assert [(h["attempt"], h["error"]) for h in again.history or []] == [
        (1, "interrupted: daemon shutting down")
    ]
    assert again.first_attempt_started_at() == T0


def test_a_run_taken_over_from_a_dead_daemon_shows_that_attempt_in_the_history(
    store: Store,
) -> None:
    [run_id] = store.record_fires("nightly", [new("n:1")], cursor_at=None, now=T0)
    store.write(outbox.claim_next, "dead", T0)
    assert store.write(outbox.take_over_expired, T0 + timedelta(minutes=5)) == [run_id]
    again = attempt(store, T0 + timedelta(minutes=5))
    assert (again.attempts, again.error) == (2, None)
    [entry] = again.history or []
    assert entry["attempt"] == 1
    assert entry["error"] == "the daemon running this run stopped renewing its claim; run again"
