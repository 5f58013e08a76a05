"""The recurrence block: Azure ML's messages word for word, in the SDK's order, and more checks.

Every case runs in both file forms: native (``schedules[0].recurrence``) and Azure ML
Schedule-YAML (``Schedule.recurrence``). Lines are counted from the ``recurrence:`` line (0).
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from triggerd.config import load_config
from triggerd.config.recurrence_spec import (
    SDK_FREQUENCY,
    SDK_HOURS_FREQUENCY,
    SDK_HOURS_RANGE,
    SDK_INTERVAL,
    SDK_MINUTES_FREQUENCY,
    SDK_MINUTES_RANGE,
    SDK_TIME_OF_DAY_AND_HOURS,
    SDK_TIME_OF_DAY_FORMAT,
    SDK_TIME_OF_DAY_HOUR,
    SDK_TIME_OF_DAY_MINUTE,
    SDK_TIME_ZONE,
    SDK_TZINFO,
    SDK_WEEK_DAYS,
    SDK_WEEK_DAYS_FREQUENCY,
)
from triggerd.errors import ConfigError
from triggerd.recurrence import Frequency, Recurrence

NATIVE = """\
pipelines:
  p: {kind: command, argv: [echo]}
schedules:
  - name: s
    pipeline: p
    recurrence:
"""
AZURE = """\
Schedule:
  pipeline_id: p
  recurrence:
"""


def write_recurrence(tmp_path: Path, form: str, body: str) -> tuple[Path, Path, int, str]:
    """(config path, file holding the recurrence, line before the block, key prefix)."""
    block = textwrap.indent(textwrap.dedent(body), " " * (6 if form == "native" else 4))
    if form == "native":
        path = tmp_path / "triggerd.yaml"
        path.write_text(NATIVE + block)
        return path, path, NATIVE.count("\n"), "schedules[0].recurrence"
    (tmp_path / "pipelines.yaml").write_text("pipelines:\n  p: {kind: command, argv: [echo]}\n")
    path = tmp_path / "s.yaml"
    path.write_text(AZURE + block)
    return tmp_path, path, AZURE.count("\n"), "Schedule.recurrence"


@pytest.fixture(params=["native", "azure"])
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# (body, key below recurrence, line in the body, message)
SDK_CASES = {
    "time_of_day with hours": (
        "frequency: Day\ninterval: 1\nhours: [7]\ntime_of_day: '07:30'",
        "time_of_day",
        4,
        SDK_TIME_OF_DAY_AND_HOURS,
    ),
    "time_of_day with empty minutes": (
        "frequency: Day\ninterval: 1\nminutes: []\ntime_of_day: '07:30'",
        "time_of_day",
        4,
        SDK_TIME_OF_DAY_AND_HOURS,
    ),
    "time_of_day format": (
        "frequency: Day\ninterval: 1\ntime_of_day: '7.30'",
        "time_of_day",
        3,
        SDK_TIME_OF_DAY_FORMAT,
    ),
    "time_of_day hour": (
        "frequency: Day\ninterval: 1\ntime_of_day: '24:00'",
        "time_of_day",
        3,
        SDK_TIME_OF_DAY_HOUR,
    ),
    "time_of_day minute": (
        "frequency: Day\ninterval: 1\ntime_of_day: '12:60'",
        "time_of_day",
        3,
        SDK_TIME_OF_DAY_MINUTE,
    ),
    "start_time with offset": (
        "frequency: Day\ninterval: 1\nstart_time: 2019-11-01T09:00:00+01:00",
        "start_time",
        3,
        SDK_TZINFO,
    ),
    "start_time in UTC with Z": (
        "frequency: Day\ninterval: 1\nstart_time: '2019-11-01T09:00:00Z'",
        "start_time",
        3,
        SDK_TZINFO,
    ),
    "frequency wrong case": ("frequency: day\ninterval: 1", "frequency", 1, SDK_FREQUENCY),
    "frequency null": ("frequency: ~\ninterval: 1", "frequency", 1, SDK_FREQUENCY),
    "frequency missing": ("interval: 1\ntime_zone: UTC", "frequency", 0, SDK_FREQUENCY),
    "interval zero": ("frequency: Day\ninterval: 0", "interval", 2, SDK_INTERVAL),
    "interval missing": ("frequency: Day\ntime_zone: UTC", "interval", 0, SDK_INTERVAL),
    "interval a string": ("frequency: Day\ninterval: '2'", "interval", 2, SDK_INTERVAL),
    "hours with Hour": (
        "frequency: Hour\ninterval: 1\nhours: [1]",
        "hours",
        3,
        SDK_HOURS_FREQUENCY,
    ),
    "empty hours with Month": (
        "frequency: Month\ninterval: 1\nhours: []",
        "hours",
        3,
        SDK_HOURS_FREQUENCY,
    ),
    "time_of_day with Month": (
        "frequency: Month\ninterval: 1\ntime_of_day: '07:30'",
        "time_of_day",
        3,
        SDK_HOURS_FREQUENCY,
    ),
    "minutes with Minute": (
        "frequency: Minute\ninterval: 5\nminutes: [1]",
        "minutes",
        3,
        SDK_MINUTES_FREQUENCY,
    ),
    "week_days with Day": (
        "frequency: Day\ninterval: 1\nweek_days: [Monday]",
        "week_days",
        3,
        SDK_WEEK_DAYS_FREQUENCY,
    ),
    "hour 24": ("frequency: Day\ninterval: 1\nhours: [1, 24]", "hours[1]", 3, SDK_HOURS_RANGE),
    "hour -1": ("frequency: Day\ninterval: 1\nhours:\n  - -1", "hours[0]", 4, SDK_HOURS_RANGE),
    "minute 60": (
        "frequency: Week\ninterval: 1\nminutes: [60]",
        "minutes[0]",
        3,
        SDK_MINUTES_RANGE,
    ),
    "week day lower case": (
        "frequency: Week\ninterval: 1\nweek_days:\n  - Monday\n  - tuesday",
        "week_days[1]",
        5,
        SDK_WEEK_DAYS,
    ),
    "week days not a list": (
        "frequency: Week\ninterval: 1\nweek_days: Monday",
        "week_days",
        3,
        SDK_WEEK_DAYS,
    ),
    "time zone": (
        "frequency: Day\ninterval: 1\ntime_zone: Mars Standard Time",
        "time_zone",
        3,
        SDK_TIME_ZONE,
    ),
    # Order: the first failure wins; the constructor checks come before validate().
    "frequency before interval and zone": (
        "frequency: Daily\ninterval: 0\ntime_zone: Nowhere",
        "frequency",
        1,
        SDK_FREQUENCY,
    ),
    "constructor before validate": (
        "frequency: Daily\ninterval: 1\ntime_of_day: '7h30'",
        "time_of_day",
        3,
        SDK_TIME_OF_DAY_FORMAT,
    ),
    "hours frequency before hours range": (
        "frequency: Hour\ninterval: 1\nhours: [99]",
        "hours",
        3,
        SDK_HOURS_FREQUENCY,
    ),
}

EXTRA_CASES = {
    "interval float": (
        "frequency: Day\ninterval: 1.5",
        "interval",
        2,
        "interval must be an integer, not 1.5",
    ),
    "interval boolean": (
        "frequency: Day\ninterval: true",
        "interval",
        2,
        "interval must be an integer, not true",
    ),
    "hour float": (
        "frequency: Day\ninterval: 1\nhours: [9.5]",
        "hours[0]",
        3,
        "hour must be an integer, not 9.5",
    ),
    "hour boolean": (
        "frequency: Day\ninterval: 1\nhours: [true]",
        "hours[0]",
        3,
        "hour must be an integer, not true",
    ),
    "minute string": (
        "frequency: Day\ninterval: 1\nminutes: ['30']",
        "minutes[0]",
        3,
        "minute must be an integer, not '30'",
    ),
    "hour listed twice": (
        "frequency: Day\ninterval: 1\nhours: [9, 10, 9]",
        "hours[2]",
        3,
        "hour 9 is listed twice",
    ),
    "minute listed twice": (
        "frequency: Week\ninterval: 1\nminutes:\n  - 0\n  - 0",
        "minutes[1]",
        5,
        "minute 0 is listed twice",
    ),
    "week day listed twice": (
        "frequency: Week\ninterval: 1\nweek_days: [Monday, Friday, Monday]",
        "week_days[2]",
        3,
        "week day Monday is listed twice",
    ),
    "empty hours": (
        "frequency: Day\ninterval: 1\nhours: []",
        "hours",
        3,
        "must list at least one hour (or be left out)",
    ),
    "hours not a list": (
        "frequency: Day\ninterval: 1\nhours: 9",
        "hours",
        3,
        "must be a list of hours from 0 to 23, e.g. [9, 17]",
    ),
    "start_time month 13": (
        "frequency: Day\ninterval: 1\nstart_time: 2024-13-01T09:00",
        "start_time",
        3,
        "start_time '2024-13-01T09:00' is not a date and time in the form YYYY-MM-DDThh:mm:ss",
    ),
    "start_time date only": (
        "frequency: Day\ninterval: 1\nstart_time: 2024-01-01",
        "start_time",
        3,
        "start_time '2024-01-01' is not a date and time in the form YYYY-MM-DDThh:mm:ss",
    ),
    "unknown key": (
        "frequency: Day\ninterval: 1\nfrequncy: Day",
        "frequncy",
        3,
        "unknown key 'frequncy' (did you mean 'frequency'?)",
    ),
}


@pytest.mark.parametrize(
    ("body", "key", "line", "message"),
    [*SDK_CASES.values(), *EXTRA_CASES.values()],
    ids=[*SDK_CASES, *EXTRA_CASES],
)
def test_invalid_recurrence_is_one_problem_at_its_key(
    tmp_path: Path, form: str, body: str, key: str, line: int, message: str
) -> None:
    config, file, before, prefix = write_recurrence(tmp_path, form, body)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = [(p.file, p.key, p.line, p.message) for p in caught.value.problems]
    # Line 0 of the body: the key is missing, the problem points at `recurrence:`.
    assert problems == [(str(file), f"{prefix}.{key}", before + line, message)]


VALID_CASES = {
    "None and null mean not given": (
        """\
        frequency: Minute
        interval: 15
        start_time: None
        time_zone: ~
        hours: None
        minutes: null
        time_of_day: None
        week_days: None
        """,
        Recurrence(Frequency.MINUTE, 15),
    ),
    "absent keys": ("frequency: Hour\ninterval: 2", Recurrence(Frequency.HOUR, 2)),
    "time_of_day becomes hours and minutes": (
        "frequency: Week\ninterval: 2\nweek_days: [Wednesday, Monday]\ntime_of_day: '18:30'",
        Recurrence(
            Frequency.WEEK, 2, hours=(18,), minutes=(30,), week_days=("Monday", "Wednesday")
        ),
    ),
    "unquoted time_of_day is not base 60": (
        "frequency: Day\ninterval: 1\ntime_of_day: 18:30",
        Recurrence(Frequency.DAY, 1, hours=(18,), minutes=(30,)),
    ),
    "short time_of_day": (
        "frequency: Day\ninterval: 1\ntime_of_day: '7:05'",
        Recurrence(Frequency.DAY, 1, hours=(7,), minutes=(5,)),
    ),
    "hours and minutes sorted": (
        "frequency: Day\ninterval: 1\nhours: [17, 9]\nminutes: [45, 0]",
        Recurrence(Frequency.DAY, 1, hours=(9, 17), minutes=(0, 45)),
    ),
    "unquoted start_time stays wall time": (
        "frequency: Month\ninterval: 1\nstart_time: 2019-11-01T09:00:00\n"
        "time_zone: Pacific Standard Time",
        Recurrence(
            Frequency.MONTH,
            1,
            time_zone="Pacific Standard Time",
            start_time=datetime(2019, 11, 1, 9, 0),
        ),
    ),
    "start_time without seconds": (
        "frequency: Hour\ninterval: 1\nstart_time: '2020-01-13T12:55'",
        Recurrence(Frequency.HOUR, 1, start_time=datetime(2020, 1, 13, 12, 55)),
    ),
    "IANA time zone": (
        "frequency: Day\ninterval: 1\ntime_zone: America/New_York",
        Recurrence(Frequency.DAY, 1, time_zone="America/New_York"),
    ),
    "Windows time zone": (
        "frequency: Day\ninterval: 1\ntime_zone: W. Europe Standard Time",
        Recurrence(Frequency.DAY, 1, time_zone="W. Europe Standard Time"),
    ),
}


@pytest.mark.parametrize(("body", "expected"), list(VALID_CASES.values()), ids=list(VALID_CASES))
def test_valid_recurrence_builds_the_recurrence(
    tmp_path: Path, form: str, body: str, expected: Recurrence
) -> None:
    config, _, _, _ = write_recurrence(tmp_path, form, body)
    schedule = next(iter(load_config(config).schedules.values()))
    assert schedule.recurrence == expected
    assert schedule.trigger == "recurrence"
