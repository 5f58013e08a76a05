"""`triggerd schedules describe NAME [--json]` through the real CLI (click's CliRunner) on a
real SQLite database, filled by a real poller over a real folder (injected clock)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time

from triggerd.cli import main
from triggerd.config import load_config
from triggerd.engine.poller import DatastorePoller
from triggerd.store import open_store

CONFIG = """
datastores:
  inbox: {{kind: local, path: {root}}}
pipelines:
  job: {{kind: command, argv: [echo, "{{f}}"], cwd: "."}}
schedules:
  - name: files
    pipeline: job
    description: new files of the inbox
    datastore: inbox
    path_on_datastore: incoming
    polling_interval: 1m
    data_path_parameter_name: f
    pipeline_parameters: {{threshold: 0.5}}
  - name: nightly
    pipeline: job
    pipeline_parameters: {{f: none}}
    recurrence:
      frequency: Day
      interval: 1
      time_zone: Europe/Berlin
      start_time: "2026-03-01T02:30:00"
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class World:
    """A config, an inbox folder, a database and the poller of ``files``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.folder = tmp_path / "inbox" / "incoming"
        self.folder.mkdir(parents=True)
        self.config = tmp_path / "triggerd.yaml"
        self.config.write_text(CONFIG.format(root=json.dumps(str(tmp_path / "inbox"))))
        self.state = tmp_path / "state"
        self.store = open_store(f"sqlite:///{self.state / 'triggerd.db'}")
        self.clock = Clock()
        config = load_config(self.config)
        self.poller = DatastorePoller(
            config.schedules["files"], config, self.store, clock=self.clock, is_enabled=lambda: True
        )
        self._mtime = 1_700_000_000 * 10**9

    def write(self, name: str, text: str = "x") -> None:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        self._mtime += 10**9
        os.utime(path, ns=(self._mtime, self._mtime))

    def poll(self) -> None:
        self.clock.now += timedelta(minutes=1)
        self.poller.poll()

    def cli(self, *args: str) -> Result:
        full = [*args, "--config", str(self.config), "--state-dir", str(self.state)]
        return CliRunner().invoke(main, full, catch_exceptions=False)

    def describe(self, name: str = "files") -> dict[str, Any]:
        result = self.cli("schedules", "describe", name, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def drive(world: World) -> None:
    """A baseline file, a fired file, an excluded file, a sub-folder, a failed poll, a file
    still settling."""
    world.write("baseline.csv")
    world.poll()  # 1: the baseline
    world.write("fired.csv")
    world.write("upload.tmp")
    (world.folder / "archive").mkdir()
    world.poll()  # 2: fired.csv seen, upload.tmp and archive left out
    world.poll()  # 3: fired.csv fires
    world.folder.rename(world.folder.with_name("away"))
    world.poll()  # 4: the folder is gone
    world.folder.with_name("away").rename(world.folder)
    world.write("growing.csv")
    world.poll()  # 5: growing.csv is waiting to settle


def test_each_file_a_poll_saw_and_did_not_fire_shows_with_its_reason(world: World) -> None:
    drive(world)
    view = world.describe()
    assert {(f["path"], f["reason"], f["detail"]) for f in view["not_fired"]} == {
        ("incoming/baseline.csv", "baseline", None),
        ("incoming/upload.tmp", "excluded", "*.tmp"),
        ("incoming/archive", "not_regular", "directory"),
    }
    [settling] = view["settling"]
    assert settling == {
        "path": "incoming/growing.csv",
        "size": 1,
        "since": (world.clock.now).isoformat(),
    }
    [run] = view["runs"]
    assert (run["status"], run["data_path"]["relative_path"]) == ("pending", "incoming/fired.csv")
    assert view["file_counts"] == {
        "baseline": 1,
        "fired": 1,
        "settling": 1,
        "excluded": 1,
        "not_regular": 1,
    }
    assert (view["entries"], view["last_poll"]) == (3, world.clock.now.isoformat())


def test_the_poll_history_is_newest_first_with_the_failure(world: World) -> None:
    drive(world)
    growing, failed, fired, seen, baseline = world.describe()["polls"]
    assert (baseline["baseline"], baseline["listed"], baseline["new"]) == (True, 1, 1)
    assert (seen["new"], seen["settling"], seen["excluded"]) == (1, 1, 2)
    assert (fired["fired"], fired["settling"]) == (1, 0)
    assert failed["listed"] is None and "does not exist" in failed["error"]
    assert (growing["new"], growing["settling"], growing["error"]) == (1, 1, None)
    assert growing["started_at"] == world.clock.now.isoformat()


def test_the_human_view_has_a_header_and_a_table_per_section(world: World) -> None:
    drive(world)
    result = world.cli("schedules", "describe", "files")
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "Status: Active (config)" in lines
    assert "Trigger: datastore inbox, folder incoming" in lines
    assert "Parameters: threshold=0.5" in lines
    assert "Description: new files of the inbox" in lines
    assert "incoming/upload.tmp excluded *.tmp" in lines
    assert "incoming/archive not_regular directory" in lines
    assert "incoming/baseline.csv baseline -" in lines
    assert "Not fired (3):" in lines and "Waiting to settle (1):" in lines
    assert any(line.startswith("incoming/growing.csv 1 2026-03-28 12:05:00Z") for line in lines)
    assert any("does not exist" in line for line in lines)


def test_a_disabled_schedule_shows_the_override_with_its_note(world: World) -> None:
    world.poll()
    result = world.cli("schedules", "disable", "files", "--note", "inbox migration")
    assert result.exit_code == 0, result.output
    status = world.describe()["status"]
    assert status["status"] == "Disabled" and status["source"] == "override"
    assert status["config"] == "Active"
    assert status["override"]["enabled"] is False
    assert status["override"]["note"] == "inbox migration"
    assert status["override"]["at"] is not None
    text = world.cli("schedules", "describe", "files").stdout
    assert '"inbox migration"; config: Active)' in text


@freeze_time("2026-03-27T12:00:00Z")
def test_a_time_schedule_shows_its_definition_and_next_fires_across_dst(world: World) -> None:
    view = world.describe("nightly")
    assert view["next_fires"] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",  # 02:30 does not exist that night: the gap's rule
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
        "2026-04-01T02:30:00+02:00",
    ]
    trigger = view["definition"]["trigger"]
    assert (trigger["kind"], trigger["frequency"], trigger["interval"]) == ("recurrence", "Day", 1)
    assert (trigger["time_zone"], trigger["start_time"]) == ("Europe/Berlin", "2026-03-01T02:30:00")
    assert view["definition"]["source"] == str(world.config)
    assert "polls" not in view
    nexts = world.cli("next", "nightly", "--json").stdout
    assert json.loads(nexts)["times"] == view["next_fires"]  # the same code path as `next`
    world.cli("schedules", "disable", "nightly")
    assert world.describe("nightly")["next_fires"] == []


def test_a_datastore_definition_has_its_filters_with_the_defaults(world: World) -> None:
    trigger = world.describe()["definition"]["trigger"]
    assert trigger["datastore"] == "inbox" and trigger["path_on_datastore"] == "incoming"
    assert (trigger["polling_interval_s"], trigger["settle_s"]) == (60.0, None)
    assert trigger["include"] == ["*"] and "*.tmp" in trigger["exclude"]
    assert trigger["on_existing"] == "ignore"


def test_describe_never_creates_the_database(tmp_path: Path) -> None:
    config = tmp_path / "triggerd.yaml"
    config.write_text(CONFIG.format(root=json.dumps(str(tmp_path))))
    state = tmp_path / "state"
    result = CliRunner().invoke(
        main,
        ["schedules", "describe", "files", "--config", str(config), "--state-dir", str(state)],
    )
    assert result.exit_code == 1
    assert "no triggerd database at" in result.output
    assert not state.exists()


def test_an_unknown_schedule_is_an_error(world: World) -> None:
    result = world.cli("schedules", "describe", "nope")
    assert result.exit_code == 1
    assert "nope" in result.output
