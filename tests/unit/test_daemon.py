"""The daemon's own decisions, without its threads: health and readiness, a clock step, the
database file disappearing, a reload the config or the database refuses. A real SQLite store,
an injected wall clock and monotonic clock."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from triggerd.config import load_config
from triggerd.engine.daemon import Daemon
from triggerd.runs import NewRun
from triggerd.settings import Settings
from triggerd.store import Store, open_store, outbox, queries, states

CONFIG = """
pipelines:
  job: {kind: command, argv: [echo, hi]}
schedules:
  - name: nightly
    pipeline: job
    recurrence: {frequency: Day, interval: 1, time_of_day: "02:30",
                 time_zone: W. Europe Standard Time}
"""


class Clocks:
    def __init__(self) -> None:
        self.wall = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)  # Berlin springs forward at 01:00
        self.mono = 100.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'state' / 'triggerd.db'}", daemon=True)
    yield opened
    opened.close()


@pytest.fixture
def made(config_path: Path, store: Store, tmp_path: Path) -> Iterator[tuple[Daemon, Clocks]]:
    clocks = Clocks()
    settings = Settings(config=config_path, state_dir=tmp_path / "state", http_address="off")
    daemon = Daemon(
        load_config(config_path), store, settings, clock=clocks.now, monotonic=clocks.monotonic
    )
    yield daemon, clocks
    if daemon._deadline is not None:
        daemon._deadline.cancel()  # a test's stop must not end the test process
    daemon.runtime.close()


def test_health_says_starting_then_which_loop_went_silent(made: tuple[Daemon, Clocks]) -> None:
    daemon, clocks = made
    assert daemon.health.alive() == (True, "starting (catching up)")
    assert daemon.health.ready() == (False, "starting")
    daemon.health.started = True
    daemon.scheduler.start()
    try:
        daemon.scheduler._scheduler.loop_at = clocks.mono  # (its loop reads the real clock)
        daemon.dispatcher.loop_at = daemon.polls.loop_at = clocks.mono
        daemon.health.beat()
        assert daemon.health.alive() == (True, "scheduler and dispatcher running")
        assert daemon.health.ready() == (True, "1 schedules loaded")
        clocks.mono += 16.0  # fifteen seconds without a beat of any loop
        ok, reason = daemon.health.alive()
        assert (ok, reason.startswith("scheduler loop silent")) == (False, True)
    finally:
        daemon.scheduler.shutdown()


def test_a_failing_event_queue_is_said_by_readyz_and_leaves_the_daemon_ready(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue out of reach is not mended by a restart: ready, and the text says what fails."""
    monkeypatch.setenv(
        "TEST_QUEUE_CONN",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;",
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG
        + """
  - name: landing
    pipeline: job
    datastore: blobs
datastores:
  blobs:
    kind: azure_blob
    container: landing
    connection_string_env: TEST_QUEUE_CONN
    events: {queue: landing-events}
""",
        encoding="utf-8",
    )
    clocks = Clocks()
    settings = Settings(config=path, state_dir=tmp_path / "state", http_address="off")
    daemon = Daemon(
        load_config(path), store, settings, clock=clocks.now, monotonic=clocks.monotonic
    )
    try:
        daemon.health.started = True
        assert daemon.health.ready() == (True, "2 schedules loaded")
        store.write(states.ensure, "landing", clocks.now())
        store.write(states.record_poll, "landing", now=clocks.now(), entries=0)  # its baseline
        ((_, feed),) = daemon.runtime.feeds._feeds.values()
        feed.turn()  # the queue does not answer
        ok, text = daemon.health.ready()
        assert ok and text.startswith("2 schedules loaded; events queue landing-events failing: ")
        assert "cannot reach the storage account" in text
    finally:
        daemon.runtime.close()


def test_heartbeat_writes_failing_make_it_not_ready_until_one_succeeds(
    made: tuple[Daemon, Clocks], store: Store
) -> None:
    daemon, _ = made
    daemon.health.started = True
    with store.writing() as conn:  # the heartbeat's table gone: every heartbeat write fails
        conn.execute(text("ALTER TABLE daemon_instances RENAME TO away"))
    with capture_logs() as logs:
        daemon._heartbeat()
    ok, reason = daemon.health.ready()
    assert (ok, reason.startswith("database writes failing: ")) == (False, True)
    assert "daemon.heartbeat_failed" in [e["event"] for e in logs if e["log_level"] == "error"]
    with store.writing() as conn:
        conn.execute(text("ALTER TABLE away RENAME TO daemon_instances"))
    daemon._heartbeat()
    assert daemon.health.ready() == (True, "1 schedules loaded")


def test_a_database_file_deleted_under_it_stops_the_daemon_with_exit_1(
    made: tuple[Daemon, Clocks], tmp_path: Path
) -> None:
    daemon, _ = made
    (tmp_path / "state" / "triggerd.db").unlink()
    with capture_logs() as logs:
        daemon._heartbeat()
    lost = [e for e in logs if e["event"] == "store.lost"]
    assert (
        lost and lost[0]["reason"] == f"the database file {tmp_path}/state/triggerd.db was deleted"
    )
    assert daemon.stop_requested.is_set() and daemon.exit_code == 1
    assert daemon.health.alive() == (False, f"database lost: {lost[0]['reason']}")
    daemon._heartbeat()  # logged once
    assert daemon.stop_requested.is_set()


def test_a_step_back_is_logged_once_and_moves_waiting_retries_back(
    made: tuple[Daemon, Clocks], store: Store
) -> None:
    daemon, clocks = made
    store.write(states.ensure, "nightly", clocks.wall)
    new = NewRun("nightly", "time", "nightly:1", clocks.wall, {})  # type: ignore[arg-type]
    store.record_fires("nightly", [new], cursor_at=clocks.wall, now=clocks.wall)
    run = store.write(outbox.claim_next, "me", clocks.wall)
    assert run is not None
    due = clocks.wall + timedelta(seconds=5)
    store.write(outbox.schedule_retry, run.id, at=due, error="HTTP 503")
    clocks.wall -= timedelta(hours=1)
    clocks.mono += 1.0
    with capture_logs() as logs:
        assert daemon.clock_watch.check() is not None
        assert daemon.clock_watch.check() is None
    [stepped] = [e for e in logs if e["event"] == "clock.stepped"]
    assert (stepped["direction"], stepped["step_s"]) == ("backward", -3601.0)  # 1 s passed
    daemon._heartbeat()
    moved = store.read(queries.get_run, run.id).next_attempt_at
    assert moved == clocks.wall + timedelta(seconds=4)  # still 5 s after the failure


def test_a_reload_the_config_refuses_keeps_the_config_in_force(
    made: tuple[Daemon, Clocks], config_path: Path
) -> None:
    daemon, _ = made
    config_path.write_text("schedules:\n  - name: broken\n", encoding="utf-8")
    with capture_logs() as logs:
        assert daemon.reload() is False
    problems = [e for e in logs if e["event"] == "config.reload_failed"]
    assert problems and all(e["file"] == str(config_path) for e in problems)
    assert list(daemon.runtime.config.schedules) == ["nightly"]


def test_a_reload_the_database_refuses_is_tried_again(
    made: tuple[Daemon, Clocks], config_path: Path, store: Store
) -> None:
    daemon, clocks = made
    config_path.write_text(CONFIG.replace("nightly", "renamed"), encoding="utf-8")
    with store.writing() as conn:
        conn.execute(text("ALTER TABLE schedule_state RENAME TO away"))
    with capture_logs() as logs:
        assert daemon.reload() is False
    [refused] = [e for e in logs if e["event"] == "config.reload_failed"]
    assert refused["problem"].startswith("the database refused the change")
    assert list(daemon.runtime.config.schedules) == ["nightly"]  # nothing half applied
    assert daemon._reload_due() is False
    clocks.mono += 6.0
    assert daemon._reload_due() is True  # tried again by itself
    with store.writing() as conn:
        conn.execute(text("ALTER TABLE away RENAME TO schedule_state"))
    with capture_logs() as logs:
        assert daemon.reload() is True
    assert list(daemon.runtime.config.schedules) == ["renamed"]
    assert _events(logs, "config.reloaded")[0]["added"] == ["renamed"]


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


def test_a_reload_that_applies_freezes_the_new_config_out_of_the_collector(
    made: tuple[Daemon, Clocks], config_path: Path
) -> None:
    daemon, _ = made
    gc.unfreeze()
    try:
        config_path.write_text(CONFIG.replace("nightly", "renamed"), encoding="utf-8")
        assert daemon.reload() is True
        new = daemon.runtime.config.schedules["renamed"]
        # Frozen: the cyclic collector's full passes no longer walk it (they paused fires).
        assert gc.get_freeze_count() > 0
        assert not any(o is new for o in gc.get_objects())
    finally:
        gc.unfreeze()
