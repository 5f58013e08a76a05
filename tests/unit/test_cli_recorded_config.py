"""The commands that read or change state work while a config file is broken: from the last
valid config a daemon recorded on the database, with a warning per problem; `validate` and
`run` still insist on a valid config (click's CliRunner, real SQLite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd.cli import main
from triggerd.clock import utcnow
from triggerd.config import read_config
from triggerd.store import configrecord, open_store, states

GOOD = """\
pipelines:
  job: {kind: command, argv: [echo, hi]}
datastores:
  inbox: {kind: local, path: ../data}
schedules:
  - name: hourly
    pipeline: job
    recurrence: {frequency: Hour, interval: 1, time_zone: W. Europe Standard Time,
                 start_time: "2024-03-30T12:00:00"}
  - name: new-files
    pipeline: job
    datastore: inbox
    path_on_datastore: incoming
"""
OTHER = """\
schedules:
  - name: other
    pipeline: job
    recurrence: {frequency: Day, interval: 1}
"""
BROKEN = "schedules:\n  - name: other\n    pipeline: [\n"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "site" / "config"
    directory.mkdir(parents=True)
    (directory / "main.yaml").write_text(GOOD, encoding="utf-8")
    (directory / "other.yaml").write_text(OTHER, encoding="utf-8")
    return directory


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def record(config_dir: Path, state: Path) -> None:
    """What a daemon started on ``config_dir`` records."""
    store = open_store(f"sqlite:///{state / 'triggerd.db'}", daemon=True)
    try:
        store.write(configrecord.record, read_config(config_dir).files, utcnow(), "host:1:ab")
    finally:
        store.close()


@pytest.fixture
def invoke(config_dir: Path, state: Path) -> Any:
    def run(*args: str) -> Result:
        full = [*args, "--config", str(config_dir), "--state-dir", str(state)]
        return CliRunner().invoke(main, full, catch_exceptions=False)

    return run


def warned(result: Result, config_dir: Path) -> None:
    lines = result.stderr.splitlines()
    assert lines, "no warning"
    assert all(line.startswith("warning: ") for line in lines)
    assert lines[0].startswith(f"warning: {config_dir / 'other.yaml'}:4: ")
    assert "using the last valid config the daemon recorded at " in lines[-1]
    assert "(2 files, loaded by host:1:ab)" in lines[-1]


def test_schedules_list_and_next_work_from_the_recorded_config(
    invoke: Any, config_dir: Path, state: Path
) -> None:
    record(config_dir, state)
    (config_dir / "other.yaml").write_text(BROKEN, encoding="utf-8")
    listed = invoke("schedules", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert sorted(item["name"] for item in json.loads(listed.stdout)) == [
        "hourly",
        "new-files",
        "other",
    ]
    warned(listed, config_dir)
    upcoming = invoke("next", "hourly", "--after", "2024-03-30T22:30:00Z", "--count", "2")
    assert upcoming.exit_code == 0, upcoming.output
    assert upcoming.stdout.split() == ["2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00"]
    warned(upcoming, config_dir)


def test_disable_and_reset_work_from_the_recorded_config(
    invoke: Any, config_dir: Path, state: Path
) -> None:
    record(config_dir, state)
    (config_dir / "other.yaml").write_text(BROKEN, encoding="utf-8")
    disabled = invoke("schedules", "disable", "new-files", "--note", "incident 42")
    assert disabled.exit_code == 0, disabled.output
    warned(disabled, config_dir)
    store = open_store(f"sqlite:///{state / 'triggerd.db'}")
    try:
        saved = store.read(states.get, "new-files")
        assert saved is not None and saved.enabled is False
        reset = invoke("schedules", "reset", "new-files")
        assert reset.exit_code == 0, reset.output
        saved = store.read(states.get, "new-files")
        assert saved is not None and saved.enabled is None
    finally:
        store.close()
    unknown = invoke("schedules", "disable", "nope")
    assert unknown.exit_code == 1
    assert "no schedule named 'nope'" in unknown.output


def test_validate_still_fails_on_the_broken_file(
    invoke: Any, config_dir: Path, state: Path
) -> None:
    record(config_dir, state)
    (config_dir / "other.yaml").write_text(BROKEN, encoding="utf-8")
    result = invoke("validate")
    assert result.exit_code == 1
    assert "warning:" not in result.output
    assert f"{config_dir / 'other.yaml'}:4: " in result.output


def test_without_a_recorded_config_a_broken_file_exits_2_as_before(
    invoke: Any, config_dir: Path, state: Path
) -> None:
    (config_dir / "other.yaml").write_text(BROKEN, encoding="utf-8")
    no_database = invoke("schedules", "list")
    assert no_database.exit_code == 2
    assert no_database.stderr.startswith(f"{config_dir / 'other.yaml'}:4: ")
    assert "warning:" not in no_database.stderr
    assert not state.exists()  # looking for a recorded config created nothing
    open_store(f"sqlite:///{state / 'triggerd.db'}", daemon=True).close()
    nothing_recorded = invoke("schedules", "disable", "hourly")
    assert nothing_recorded.exit_code == 2
    assert "warning:" not in nothing_recorded.stderr
