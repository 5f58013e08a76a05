"""What the daemon records of its config and reloads: the files it runs on and the last valid
set at start and at each accepted reload, `config.unchanged` for files that are the ones in
force, the result of every reload (a real SQLite store, injected clocks, no threads)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from triggerd.config import read_config
from triggerd.engine.daemon import Daemon
from triggerd.settings import Settings
from triggerd.store import Store, configrecord, instances, open_store

CONFIG = """
pipelines:
  job: {kind: command, argv: [echo, hi]}
schedules:
  - name: nightly
    pipeline: job
    recurrence: {frequency: Day, interval: 1, time_of_day: "02:30",
                 time_zone: W. Europe Standard Time}
"""


class Clock:
    def __init__(self) -> None:
        self.wall = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)  # Berlin springs forward at 01:00

    def now(self) -> datetime:
        return self.wall


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


def start(config_path: Path, store: Store, clock: Clock) -> Daemon:
    loaded = read_config(config_path)
    settings = Settings(config=config_path, state_dir=config_path.parent / "state")
    return Daemon(loaded.config, store, settings, clock=clock.now, files=loaded.files)


def row(store: Store, daemon: Daemon) -> instances.Instance:
    [found] = [
        d
        for d in store.read(instances.recent, datetime.min.replace(tzinfo=UTC))
        if d.id == daemon.instance_id
    ]
    return found


def test_a_start_records_the_config_once_and_a_restart_on_it_writes_nothing(
    config_path: Path, store: Store
) -> None:
    clock = Clock()
    first = start(config_path, store, clock)
    try:
        digest = read_config(config_path).files.digest
        config = row(store, first).config
        assert config is not None
        assert (config["digest"], config["loaded_at"]) == (digest, clock.wall.isoformat())
        assert config["files"] == [
            {
                "path": str(config_path),
                "sha256": read_config(config_path).files.sha256s[str(config_path)],
            }
        ]
        recorded = store.read(configrecord.recorded)
        assert recorded is not None
        assert (recorded.texts, recorded.loaded_by) == (
            {str(config_path): CONFIG},
            first.instance_id,
        )
    finally:
        first.runtime.close()
    clock.wall += timedelta(hours=1)
    second = start(config_path, store, clock)
    try:
        assert row(store, second).config["digest"] == digest  # type: ignore[index]
        recorded = store.read(configrecord.recorded)
        assert recorded is not None
        assert (recorded.loaded_by, recorded.loaded_at) == (
            first.instance_id,
            clock.wall - timedelta(hours=1),
        )
    finally:
        second.runtime.close()


def test_every_reload_is_recorded_with_its_result(config_path: Path, store: Store) -> None:
    clock = Clock()
    daemon = start(config_path, store, clock)
    try:
        clock.wall += timedelta(minutes=1)
        with capture_logs() as logs:
            assert daemon.reload() is False
        assert [(e["event"], e["log_level"]) for e in logs] == [("config.unchanged", "info")]
        assert row(store, daemon).reload == {
            "at": clock.wall.isoformat(),
            "result": "unchanged",
            "problems": [],
        }

        config_path.write_text("schedules:\n  - name: broken\n", encoding="utf-8")
        clock.wall += timedelta(minutes=1)
        with capture_logs() as logs:
            assert daemon.reload() is False
        refused = row(store, daemon).reload
        assert refused is not None and refused["result"] == "refused"
        assert refused["problems"] and all(
            p.startswith(f"{config_path}:") for p in refused["problems"]
        )
        assert len(refused["problems"]) == len(
            [e for e in logs if e["event"] == "config.reload_failed"]
        )
        recorded = store.read(configrecord.recorded)
        assert recorded is not None and recorded.texts == {str(config_path): CONFIG}

        edited = CONFIG.replace("[echo, hi]", "[echo, hello]")  # a pipeline, no schedule
        config_path.write_text(edited, encoding="utf-8")
        clock.wall += timedelta(minutes=1)
        with capture_logs() as logs:
            assert daemon.reload() is True
        [reloaded] = [e for e in logs if e["event"] == "config.reloaded"]
        assert (reloaded["added"], reloaded["removed"], reloaded["changed"]) == ([], [], [])
        shown = row(store, daemon)
        assert shown.reload == {"at": clock.wall.isoformat(), "result": "ok", "problems": []}
        assert shown.config is not None
        assert shown.config["digest"] == read_config(config_path).files.digest
        assert shown.config["loaded_at"] == clock.wall.isoformat()
        recorded = store.read(configrecord.recorded)
        assert recorded is not None and recorded.texts == {str(config_path): edited}
    finally:
        daemon.runtime.close()
