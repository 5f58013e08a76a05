"""Commands that only read never create a database; a missing one is an error that says where.

Real SQLite files in a temporary state directory, the real CLI (click's CliRunner).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd.cli import main
from triggerd.store import open_store

CONFIG = """
pipelines:
  job: {kind: command, argv: [echo, "{greeting}"]}
schedules:
  - name: every-minute
    pipeline: job
    recurrence: {frequency: Minute, interval: 1}
    pipeline_parameters: {greeting: hi}
  - name: nightly
    pipeline: job
    recurrence: {frequency: Day, interval: 1, start_time: "2024-01-01T02:30:00", time_zone: UTC}
    pipeline_parameters: {greeting: night}
"""

READ_ONLY = [
    ["runs", "list"],
    ["runs", "list", "--json"],
    ["runs", "show", "1"],
    ["runs", "retry", "1"],  # writes, but cannot succeed on an empty database
    ["schedules", "list"],
    ["schedules", "list", "--json"],
    ["next", "every-minute"],
    ["check"],
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "triggerd.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def invoke(config: Path, state: Path) -> Any:
    def run(*args: str) -> Result:
        full = [*args, "--config", str(config), "--state-dir", str(state)]
        return CliRunner().invoke(main, full, catch_exceptions=False)

    return run


def assert_says_where_it_looked(result: Result, database: Path) -> None:
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert f"no triggerd database at {database.absolute()}" in line, line
    for hint in ("--state-dir", "--database", "TRIGGERD_STATE_DIR", "TRIGGERD_DATABASE_URL"):
        assert hint in line, line


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_creates_no_state_directory(
    invoke: Any, state: Path, command: list[str]
) -> None:
    assert_says_where_it_looked(invoke(*command), state / "triggerd.db")
    assert not state.exists()


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_creates_nothing_in_an_empty_state_directory(
    invoke: Any, state: Path, command: list[str]
) -> None:
    state.mkdir()
    assert_says_where_it_looked(invoke(*command), state / "triggerd.db")
    assert list(state.iterdir()) == []  # no database, no -wal, no .migrate.lock


def test_a_relative_database_url_is_shown_as_the_absolute_path(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["runs", "list", "--config", str(config), "--database", "sqlite:///rel/t.db"]
    )
    assert_says_where_it_looked(result, tmp_path / "rel" / "t.db")
    assert not (tmp_path / "rel").exists()


def test_a_deleted_database_is_not_recreated_by_reads(invoke: Any, state: Path) -> None:
    assert invoke("schedules", "trigger", "every-minute").exit_code == 0
    assert len(json.loads(invoke("runs", "list", "--json").output)) == 1
    for path in state.glob("triggerd.db*"):
        path.unlink()
    for command in READ_ONLY:
        assert_says_where_it_looked(invoke(*command), state / "triggerd.db")
    assert list(state.iterdir()) == []


def test_next_with_a_start_time_needs_no_database(invoke: Any, state: Path) -> None:
    result = invoke("next", "nightly", "--after", "2024-03-01T00:00:00Z", "--count", "2")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["2024-03-01T02:30:00+00:00", "2024-03-02T02:30:00+00:00"]
    assert not state.exists()


def test_next_without_a_start_time_needs_the_stored_anchor(invoke: Any, state: Path) -> None:
    result = invoke("next", "every-minute")
    assert_says_where_it_looked(result, state / "triggerd.db")
    assert "schedule 'every-minute' has no start_time" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["schedules", "enable", "every-minute"],
        ["schedules", "disable", "every-minute"],
        ["schedules", "trigger", "every-minute"],
        ["schedules", "backfill", "every-minute", "--from", "2024-01-01", "--to", "2024-01-01"],
    ],
    ids=" ".join,
)
def test_commands_that_record_still_create_the_database(
    invoke: Any, state: Path, command: list[str]
) -> None:
    result = invoke(*command)
    assert result.exit_code == 0, result.output
    assert (state / "triggerd.db").is_file()


@pytest.fixture
def current_database(state: Path) -> Path:
    """A database at the newest schema, without its .migrate.lock (as after a restore)."""
    path = (state / "triggerd.db").absolute()
    open_store(f"sqlite:///{path}", daemon=True).close()
    for extra in state.iterdir():
        if extra != path:
            extra.unlink()
    return path


def test_reads_take_no_write_lock_on_a_current_schema(invoke: Any, current_database: Path) -> None:
    """A writer holds SQLite's write lock (a daemon mid-transaction): reads go on at once."""
    writer = sqlite3.connect(current_database, isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")
        assert invoke("runs", "list").exit_code == 0
        assert invoke("schedules", "list").exit_code == 0
        assert invoke("next", "every-minute").exit_code == 0
        assert "no daemon is running" in invoke("check").output
        assert "no run with id 1" in invoke("runs", "show", "1").output
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    assert not Path(f"{current_database}.migrate.lock").exists()


def test_a_read_migrates_an_existing_database_that_is_behind(invoke: Any, state: Path) -> None:
    state.mkdir()
    (state / "triggerd.db").touch()  # exists, no schema at all
    result = invoke("runs", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []
    assert (state / "triggerd.db").stat().st_size > 0


def test_a_state_directory_whose_name_a_url_would_misread_holds_the_database(
    tmp_path: Path, config: Path
) -> None:
    odd = tmp_path / "we ird?#%41dir"  # '?', '#' and '%41' mean something in a URL
    runner = CliRunner()
    args = ["--config", str(config), "--state-dir", str(odd)]
    disabled = runner.invoke(main, ["schedules", "disable", "nightly", *args])
    assert disabled.exit_code == 0, disabled.output
    assert sorted(p.name for p in odd.iterdir()) == ["triggerd.db", "triggerd.db.migrate.lock"]
    assert not (tmp_path / "we ird").exists()
    listed = runner.invoke(main, ["schedules", "list", "--json", *args])
    assert listed.exit_code == 0, listed.output
    [nightly] = [s for s in json.loads(listed.output) if s["name"] == "nightly"]
    assert nightly["status"] == "Disabled"
