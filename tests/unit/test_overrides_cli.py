"""`schedules disable|enable --note` and `schedules reset`: an override says who, when and why,
`schedules list` shows it is one, and `reset` returns to the config's `status`.

The real CLI (click's CliRunner) on a real SQLite file.
"""

from __future__ import annotations

import json
import os
import pwd
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd.cli import main
from triggerd.store import open_store, states

CONFIG = """
pipelines:
  job: {kind: command, argv: [echo, hi]}
schedules:
  - name: nightly
    pipeline: job
    recurrence: {frequency: Day, interval: 1, time_zone: Europe/Berlin, hours: [2], minutes: [30]}
  - name: paused
    pipeline: job
    status: Disabled
    recurrence: {frequency: Hour, interval: 1, time_zone: America/New_York}
"""

PEOPLE = {"SUDO_USER": None, "USER": "alice"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "triggerd.yaml"
    path.parent.mkdir()
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def invoke(config: Path, tmp_path: Path) -> Any:
    def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
        full = [*args, "--config", str(config), "--state-dir", str(tmp_path / "state")]
        return CliRunner().invoke(main, full, env=env or PEOPLE, catch_exceptions=False)

    return run


def listed(invoke: Any) -> dict[str, dict[str, Any]]:
    result = invoke("schedules", "list", "--json")
    assert result.exit_code == 0, result.output
    return {item["name"]: item for item in json.loads(result.output)}


def status_column(invoke: Any) -> dict[str, str]:
    """NAME -> STATUS of the `schedules list` table."""
    lines = invoke("schedules", "list").output.splitlines()
    start = lines[0].index("STATUS")
    end = lines[0].index("NEXT FIRE")
    return {line.split()[0]: line[start:end].strip() for line in lines[1:]}


def test_disable_with_a_note_shows_who_when_and_why(invoke: Any) -> None:
    before = datetime.now(UTC)
    result = invoke("schedules", "disable", "nightly", "--note", "deploy freeze, INC-42")
    assert result.exit_code == 0, result.output
    assert "nightly: Disabled (override) by alice at " in result.output
    assert ': "deploy freeze, INC-42"; the config says Active\n' in result.output
    assert "back to the config with: triggerd schedules reset nightly" in result.output
    item = listed(invoke)["nightly"]
    assert (item["status"], item["status_source"], item["next_fire"]) == (
        "Disabled",
        "override",
        None,
    )
    override = item["override"]
    assert (override["enabled"], override["note"], override["by"]) == (
        False,
        "deploy freeze, INC-42",
        "alice",
    )
    assert before <= datetime.fromisoformat(override["at"]) <= datetime.now(UTC)
    assert status_column(invoke) == {"nightly": "Disabled (override)", "paused": "Disabled"}


def test_a_schedule_without_an_override_shows_its_config_status(
    invoke: Any, tmp_path: Path
) -> None:
    open_store(f"sqlite:///{tmp_path / 'state' / 'triggerd.db'}", create=True).close()
    items = listed(invoke)
    assert {n: (i["status"], i["status_source"], i["override"]) for n, i in items.items()} == {
        "nightly": ("Active", "config", None),
        "paused": ("Disabled", "config", None),
    }


def test_enable_overrides_a_disabled_config_until_reset(invoke: Any) -> None:
    assert invoke("schedules", "enable", "paused").exit_code == 0
    assert status_column(invoke)["paused"] == "Active (override)"
    assert listed(invoke)["paused"]["next_fire"] is not None
    result = invoke("schedules", "reset", "paused")
    assert result.exit_code == 0, result.output
    assert "paused: override cleared (was Active by alice at " in result.output
    assert "status now Disabled, from the config (" in result.output
    item = listed(invoke)["paused"]
    assert (item["status"], item["status_source"], item["override"]) == ("Disabled", "config", None)
    assert status_column(invoke)["paused"] == "Disabled"


def test_reset_without_an_override_says_so(invoke: Any) -> None:
    invoke("schedules", "disable", "paused")  # creates the database; another schedule
    result = invoke("schedules", "reset", "nightly")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "nightly: no override to clear; status now Active, from the config"
    )


def test_the_user_behind_sudo_is_recorded(invoke: Any) -> None:
    invoke("schedules", "disable", "nightly", env={"SUDO_USER": "bob", "USER": "root"})
    assert listed(invoke)["nightly"]["override"]["by"] == "bob"


def test_without_user_variables_the_login_name_is_recorded(invoke: Any) -> None:
    invoke("schedules", "disable", "nightly", env={"SUDO_USER": None, "USER": None})
    assert listed(invoke)["nightly"]["override"]["by"] == pwd.getpwuid(os.getuid()).pw_name


def test_a_second_override_replaces_the_first_note(invoke: Any) -> None:
    invoke("schedules", "disable", "nightly", "--note", "freeze")
    invoke("schedules", "enable", "nightly")
    override = listed(invoke)["nightly"]["override"]
    assert (override["enabled"], override["note"]) == (True, None)


def test_the_override_is_one_write_that_keeps_the_anchor(invoke: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'triggerd.db'}"
    store = open_store(url, create=True)
    anchor = datetime(2026, 3, 1, 12, tzinfo=UTC)
    store.write(states.ensure, "nightly", anchor)
    store.close()
    invoke("schedules", "disable", "nightly")
    invoke("schedules", "disable", "paused")
    store = open_store(url)
    try:
        known = store.read(states.get_all)
    finally:
        store.close()
    assert known["nightly"].first_seen_at == anchor
    fresh = known["paused"]
    assert fresh.first_seen_at.microsecond == 0  # a new anchor, to the second
    assert fresh.override_at is not None
    assert fresh.override_at - fresh.first_seen_at < timedelta(seconds=1)


@pytest.mark.parametrize("command", ["enable", "disable", "reset"])
def test_an_unknown_schedule_is_refused(invoke: Any, command: str) -> None:
    invoke("schedules", "disable", "nightly")
    result = invoke("schedules", command, "nighty")
    assert result.exit_code == 1
    assert "no schedule named 'nighty'" in result.output


def test_reset_does_not_create_a_database(invoke: Any, tmp_path: Path) -> None:
    result = invoke("schedules", "reset", "nightly")
    assert result.exit_code == 1
    assert "no triggerd database at" in result.output
    assert not (tmp_path / "state").exists()
