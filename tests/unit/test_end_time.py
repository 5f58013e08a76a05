"""``end_time`` on a native (v1-style) recurrence, triggerd's extension: no slot after it,
`triggerd next` stops at it, `schedules list` shows the schedule as ended, the planner and the
scheduler fire nothing past it. Zone: W. Europe Standard Time (Europe/Berlin), whose clocks go
back on 2024-10-27 at 03:00 (02:xx twice)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time

from triggerd.cli import main
from triggerd.config import load_config
from triggerd.config.triggers import CatchupPolicy, TimeTrigger
from triggerd.engine.planner import plan_time_fires
from triggerd.engine.scheduler import RecurrenceTrigger
from triggerd.errors import ConfigError
from triggerd.recurrence import Recurrence
from triggerd.store import open_store

CONFIG = """\
pipelines:
  job: {kind: command, argv: [/bin/true], cwd: "."}
schedules:
  - name: campaign
    pipeline: job
    recurrence:
      frequency: Minute
      interval: 15
      start_time: "2024-10-27T01:30:00"
      end_time: "2024-10-27T02:30:00"  # falls in the repeated hour: its first occurrence
      time_zone: W. Europe Standard Time
  - name: paused-campaign
    pipeline: job
    status: Disabled
    recurrence:
      frequency: Day
      interval: 1
      start_time: "2024-10-01T09:00:00"
      end_time: "2024-10-03T09:00:00"
      time_zone: W. Europe Standard Time
  - name: forever
    pipeline: job
    recurrence: {frequency: Day, interval: 1, start_time: "2024-10-01T09:00:00"}
"""


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "triggerd.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    state = tmp_path / "state"
    open_store(f"sqlite:///{state / 'triggerd.db'}").close()
    return config, state


def cli(world: tuple[Path, Path], *args: str) -> Result:
    config, state = world
    full = [*args, "--config", str(config), "--state-dir", str(state)]
    return CliRunner().invoke(main, full, catch_exceptions=False)


def campaign(world: tuple[Path, Path]) -> Recurrence:
    trigger = load_config(world[0]).schedules["campaign"].trigger
    assert isinstance(trigger, TimeTrigger) and trigger.recurrence is not None
    return trigger.recurrence


def test_no_slot_after_end_time(world: tuple[Path, Path]) -> None:
    every = campaign(world)
    after = datetime(2024, 10, 26, 23, 0, tzinfo=UTC)
    times = [t.astimezone(every.zone).isoformat() for t in every.fire_times(after, 10)]
    assert times == [
        "2024-10-27T01:30:00+02:00",
        "2024-10-27T01:45:00+02:00",
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:15:00+02:00",
        "2024-10-27T02:30:00+02:00",  # end_time itself fires; the second 02:30 is after it
    ]
    assert every.next_fire_after(datetime(2024, 10, 27, 0, 30, tzinfo=UTC)) is None


def test_next_stops_at_end_time(world: tuple[Path, Path]) -> None:
    result = cli(world, "next", "campaign", "--after", "2024-10-27T02:10:00+02:00", "--count", "5")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["2024-10-27T02:15:00+02:00", "2024-10-27T02:30:00+02:00"]
    later = cli(world, "next", "campaign", "--after", "2024-10-28T00:00:00Z", "--json")
    assert json.loads(later.output) == {"schedule": "campaign", "times": []}


def listed(world: tuple[Path, Path]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """`schedules list --json` by name, and the STATUS column of the table by name."""
    as_json = cli(world, "schedules", "list", "--json")
    assert as_json.exit_code == 0, as_json.output
    items = {item["name"]: item for item in json.loads(as_json.output)}
    rows = cli(world, "schedules", "list").output.splitlines()[1:]
    return items, {row.split()[0]: _status_cell(row) for row in rows}


def _status_cell(line: str) -> str:
    """The STATUS column of a `schedules list` row (columns are two spaces apart or more)."""
    cells = [cell.strip() for cell in line.split("  ") if cell.strip()]
    return cells[3]


@freeze_time("2024-10-27T00:20:00Z")  # 02:20 CEST: one slot of the campaign left
def test_schedules_list_before_the_end(world: tuple[Path, Path]) -> None:
    items, statuses = listed(world)
    assert items["campaign"]["ended"] is False
    assert items["campaign"]["next_fire"] == "2024-10-27T02:30:00+02:00"
    assert statuses["campaign"] == "Active"


@freeze_time("2024-10-27T00:31:00Z")  # 02:31 CEST, the first time round: the campaign is over
def test_schedules_list_shows_a_schedule_whose_end_time_passed_as_ended(
    world: tuple[Path, Path],
) -> None:
    items, statuses = listed(world)
    assert (items["campaign"]["ended"], items["campaign"]["next_fire"]) == (True, None)
    assert statuses["campaign"] == "Active (ended)"
    assert items["paused-campaign"]["ended"] is True
    assert statuses["paused-campaign"] == "Disabled"
    assert (items["forever"]["ended"], statuses["forever"]) == (False, "Active")
    assert items["forever"]["next_fire"] == "2024-10-27T09:00:00+00:00"


def test_an_active_override_shows_ended_too(world: tuple[Path, Path]) -> None:
    assert cli(world, "schedules", "enable", "paused-campaign").exit_code == 0
    _, statuses = listed(world)  # today is long after 2024-10-03
    assert statuses["paused-campaign"] == "Active (override, ended)"


def test_the_planner_records_no_slot_past_end_time(world: tuple[Path, Path]) -> None:
    every = campaign(world)
    first_seen = datetime(2024, 10, 26, 23, 0, tzinfo=UTC)
    plan = plan_time_fires(
        every,
        first_seen=first_seen,
        cursor=None,
        now=datetime(2024, 10, 27, 3, 0, tzinfo=UTC),  # well past the end
        running_since=first_seen,
        policy=CatchupPolicy("all", timedelta(days=1), 100),
    )
    assert len(plan.fires) == 5
    assert max(plan.fires) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_the_scheduler_stops_waking_an_ended_schedule(world: tuple[Path, Path]) -> None:
    trigger = RecurrenceTrigger(campaign(world), None)
    last = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(last, last) is None  # APScheduler drops the job


def problems(tmp_path: Path, recurrence: str) -> list[str]:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "pipelines:\n  job: {kind: command, argv: [/bin/true]}\n"
        f"schedules:\n  - name: s\n    pipeline: job\n    recurrence: {recurrence}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


@pytest.mark.parametrize(
    ("recurrence", "expected"),
    [
        (
            '{frequency: Day, interval: 1, end_time: "2024-10-27T02:30:00+01:00"}',
            "schedules[0].recurrence.end_time: Can not specify tzinfo for end_time, use "
            "time_zone instead.",
        ),
        (
            '{frequency: Day, interval: 1, end_time: "next week"}',
            "schedules[0].recurrence.end_time: end_time must be a date and time in the form "
            "YYYY-MM-DDThh:mm:ss, e.g. '2024-01-01T09:00:00'",
        ),
        (
            '{frequency: Day, interval: 1, start_time: "2024-02-01T00:00:00", '
            'end_time: "2024-01-31T23:59:59"}',
            "schedules[0].recurrence.end_time: end_time is before start_time: the schedule "
            "would never fire",
        ),
    ],
)
def test_a_bad_end_time_is_one_clear_line(tmp_path: Path, recurrence: str, expected: str) -> None:
    assert problems(tmp_path, recurrence) == [expected]
