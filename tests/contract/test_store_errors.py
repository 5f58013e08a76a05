"""A database that cannot be reached, opened or used ends every command with one line, exit 1.

Real databases only: a PostgreSQL server (refused port, missing database, tables dropped under
a current schema), SQLite paths that cannot be created, URLs with no driver or no parse. The
password given in a URL never appears in the output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from tests.support import postgres
from tests.support.daemon import cli
from triggerd.cli import main
from triggerd.store import open_store

SECRET = "Pa55-w0rd-never-shown"

CONFIG = """
pipelines:
  job: {kind: command, argv: [echo, "{greeting}"]}
schedules:
  - name: every-minute
    pipeline: job
    recurrence: {frequency: Minute, interval: 1}
    pipeline_parameters: {greeting: hi}
"""

COMMANDS = [
    ["runs", "list"],
    ["runs", "show", "1"],
    ["runs", "retry", "1"],
    ["schedules", "list"],
    ["schedules", "enable", "every-minute"],
    ["schedules", "disable", "every-minute"],
    ["schedules", "trigger", "every-minute"],
    ["schedules", "backfill", "every-minute", "--from", "2024-01-01", "--to", "2024-01-01T00:03"],
    ["next", "every-minute"],
    ["check"],
]
WRITES = [c for c in COMMANDS if c[0] == "schedules" and c[1] != "list"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "triggerd.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def invoke(config: Path, database: str, *args: str) -> Result:
    full = [*args, "--config", str(config), "--database", database]
    return CliRunner().invoke(main, full, catch_exceptions=False)


def assert_one_line(result: Result, *expected: str) -> str:
    """Exit 1, one line on the output, no traceback, no password; returns the line."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1, result.output
    for part in expected:
        assert part in lines[0], lines[0]
    assert SECRET not in result.output
    assert "Traceback" not in result.output
    return lines[0]


def _refused(_pg: Callable[[], postgres.PostgresServer]) -> tuple[str, str, str]:
    url = f"postgresql+psycopg://nobody:{SECRET}@127.0.0.1:1/x"
    return url, "postgresql+psycopg://nobody:***@127.0.0.1:1/x", ": connection refused"


def _missing_pg_database(pg: Callable[[], postgres.PostgresServer]) -> tuple[str, str, str]:
    port = pg().port
    url = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{port}/nope"
    shown = f"postgresql+psycopg://postgres:***@127.0.0.1:{port}/nope"
    return url, shown, ': database "nope" does not exist'


def _no_driver(_pg: Callable[[], postgres.PostgresServer]) -> tuple[str, str, str]:
    return "bogus://x", "bogus://x", ": no driver for bogus://"


def _missing_driver(_pg: Callable[[], postgres.PostgresServer]) -> tuple[str, str, str]:
    url = f"mysql://u:{SECRET}@127.0.0.1/x"
    return url, "mysql://u:***@127.0.0.1/x", ": no driver for mysql:// (module 'MySQLdb'"


@pytest.mark.parametrize("case", [_refused, _missing_pg_database, _no_driver, _missing_driver])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_says_which_database_and_why_in_one_line(
    request: pytest.FixtureRequest,
    config: Path,
    command: list[str],
    case: Callable[[Callable[[], postgres.PostgresServer]], tuple[str, str, str]],
) -> None:
    url, shown, cause = case(lambda: request.getfixturevalue("pg_server"))
    line = assert_one_line(invoke(config, url, *command), f"cannot open the database {shown}")
    assert cause in line, line


def test_the_environment_variable_is_treated_like_the_option(config: Path) -> None:
    url = f"postgresql+psycopg://nobody:{SECRET}@127.0.0.1:1/x"
    result = CliRunner().invoke(
        main, ["runs", "list", "--config", str(config)], env={"TRIGGERD_DATABASE_URL": url}
    )
    assert_one_line(result, "postgresql+psycopg://nobody:***@127.0.0.1:1/x: connection refused")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_url_that_does_not_parse_is_never_echoed(config: Path, command: list[str]) -> None:
    result = invoke(config, f"nobody:{SECRET} at the db host", *command)
    assert_one_line(result, "is not a SQLAlchemy URL", "it is not shown")


@pytest.mark.parametrize("command", WRITES, ids=" ".join)
def test_a_sqlite_path_that_cannot_be_created_is_named(
    tmp_path: Path, config: Path, command: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = invoke(config, f"sqlite:///{blocker}/state/triggerd.db", *command)
    assert_one_line(result, f"sqlite:///{blocker}/state/triggerd.db: not a directory creating ")
    # /sys refuses new directories even to root: a real "permission denied".
    result = invoke(config, "sqlite:////sys/triggerd-test/triggerd.db", *command)
    line = assert_one_line(result, "sqlite:////sys/triggerd-test/triggerd.db: ")
    assert line.endswith(" creating /sys/triggerd-test"), line
    assert "permission denied" in line or "read-only file system" in line, line


def _break_tables(url: str) -> None:
    """The schema stays current (no migration runs), but the tables the commands use are gone."""
    store = open_store(url)
    try:
        with store.engine.begin() as conn:
            for table in ("runs", "schedule_state", "daemon_instances"):
                conn.execute(text(f"DROP TABLE {table}"))
    finally:
        store.close()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_failing_mid_command_gives_one_line(
    store_url: str, config: Path, command: list[str]
) -> None:
    url = store_url.replace("://postgres@", f"://postgres:{SECRET}@")  # trust: not checked
    _break_tables(url)
    shown = url.replace(SECRET, "***")
    line = assert_one_line(invoke(config, url, *command), f"the database {shown} failed: ")
    assert "no such table" in line or "does not exist" in line, line


@pytest.mark.parametrize(
    "case", [_refused, _missing_pg_database, _no_driver], ids=["refused", "no-database", "bogus"]
)
def test_the_daemon_refuses_with_one_log_line(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    config: Path,
    case: Callable[[Callable[[], postgres.PostgresServer]], tuple[str, str, str]],
) -> None:
    url, shown, cause = case(lambda: request.getfixturevalue("pg_server"))
    event = refused_run(url, tmp_path, config)
    assert event["reason"] == f"cannot open the database {shown}{cause}"


def test_the_daemon_refuses_a_sqlite_path_it_cannot_create(tmp_path: Path, config: Path) -> None:
    url = "sqlite:////sys/triggerd-test/triggerd.db"
    event = refused_run(url, tmp_path, config)
    assert event["reason"].startswith(f"cannot open the database {url}: ")
    assert "creating /sys/triggerd-test" in event["reason"]


def test_the_daemon_refuses_a_database_that_fails_during_startup(
    store_url: str, tmp_path: Path, config: Path
) -> None:
    url = store_url.replace("://postgres@", f"://postgres:{SECRET}@")
    _break_tables(url)  # opens fine (the schema is current), fails at the first query
    event = refused_run(url, tmp_path, config)
    assert event["reason"].startswith(f"the database {url.replace(SECRET, '***')} failed: ")


def refused_run(url: str, state: Path, config: Path) -> dict[str, Any]:
    """`triggerd run` on ``url``: exit 1 and one `daemon.refused` line, no traceback, no secret."""
    result = cli("run", "--log-format", "json", "--database", url, state_dir=state, config=config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stdout.strip().splitlines()
    event: dict[str, Any] = json.loads(line)
    assert event["event"] == "daemon.refused"
    return event
