"""The recurrence block: Azure ML's messages word for word, in the SDK's order, and more checks.

Every case runs in both file forms: native (``schedules[0].recurrence``) and Azure ML
Schedule-YAML (``Schedule.recurrence``). Lines are counted from the ``recurrence:`` line (0).
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
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
    SDK_TZINFO,
    SDK_WEEK_DAYS,
    SDK_WEEK_DAYS_FREQUENCY,
    START_TIME_FORMAT,
    START_TIME_NOT_REAL,
    START_TIME_RANGE,
    time_zone_problem,
)
from triggerd.errors import ConfigError
from triggerd.recurrence import Frequency, Recurrence, max_interval

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
        time_zone_problem("Mars Standard Time"),
    ),
    # A check that depends on an earlier failure is skipped: hours that the frequency does not
    # allow are not also checked for their range.
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
        "minute must be an integer, not a string",
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
        START_TIME_NOT_REAL,
    ),
    "start_time date only": (
        "frequency: Day\ninterval: 1\nstart_time: 2024-01-01",
        "start_time",
        3,
        START_TIME_FORMAT,
    ),
    "unknown key": (
        "frequency: Day\ninterval: 1\nfrequncy: Day",
        "frequncy",
        3,
        "unknown key 'frequncy' (did you mean 'frequency'?)",
    ),
}


# Digits are ASCII digits: the SDK refuses "١٨:٣٠" (Arabic-Indic digits), and so does triggerd.
DIGIT_CASES = {
    "time_of_day in Arabic-Indic digits": (
        "frequency: Day\ninterval: 1\ntime_of_day: '\u0661\u0668:\u0663\u0660'",
        "time_of_day",
        3,
        SDK_TIME_OF_DAY_FORMAT,
    ),
    "time_of_day in full-width digits": (
        "frequency: Day\ninterval: 1\ntime_of_day: '\uff11\uff18:\uff13\uff10'",
        "time_of_day",
        3,
        SDK_TIME_OF_DAY_FORMAT,
    ),
    "start_time in Devanagari digits": (
        "frequency: Day\ninterval: 1\nstart_time: '\u0968\u0966\u0968\u096a-01-01T09:00:00'",
        "start_time",
        3,
        START_TIME_FORMAT,
    ),
}

# What the engine cannot compute: the calendar holds the years 1 to 9999.
RANGE_CASES = {
    **{
        f"{frequency.value} interval past the calendar": (
            f"frequency: {frequency.value}\ninterval: {max_interval(frequency) + 1}\n"
            "time_zone: W. Europe Standard Time",
            "interval",
            2,
            f"Interval is too large: a {frequency.value} recurrence repeats at most every "
            f"{max_interval(frequency):,} {frequency.value.lower()}s (the calendar ends with "
            "the year 9999)",
        )
        for frequency in Frequency
    },
    "Month interval 40,000,000": (
        "frequency: Month\ninterval: 40000000",
        "interval",
        2,
        "Interval is too large: a Month recurrence repeats at most every 119,987 months "
        "(the calendar ends with the year 9999)",
    ),
    "start_time at the end of the calendar, west of UTC": (
        "frequency: Day\ninterval: 1\nstart_time: '9999-12-31T23:00:00'\n"
        "time_zone: Pacific Standard Time",
        "start_time",
        3,
        START_TIME_RANGE,
    ),
    "start_time at the start of the calendar, east of UTC": (
        "frequency: Day\ninterval: 1\nstart_time: '0001-01-01T00:30:00'\n"
        "time_zone: W. Europe Standard Time",
        "start_time",
        3,
        START_TIME_RANGE,
    ),
    "time zone name longer than a file name": (
        f"frequency: Day\ninterval: 1\ntime_zone: {'Europe/' + 'x' * 300}",
        "time_zone",
        3,
        time_zone_problem("Europe/" + "x" * 300),
    ),
}


@pytest.mark.parametrize(
    ("body", "key", "line", "message"),
    [*SDK_CASES.values(), *EXTRA_CASES.values(), *DIGIT_CASES.values(), *RANGE_CASES.values()],
    ids=[*SDK_CASES, *EXTRA_CASES, *DIGIT_CASES, *RANGE_CASES],
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


# (body, [(key below recurrence, line in the body, message), ...] in line order): every
# independent problem of one recurrence at once; a check that depends on a failed one is skipped.
MULTI_CASES = {
    "hours and minutes out of range": (
        "frequency: Day\ninterval: 1\nhours: [25]\nminutes: [61]",
        [("hours[0]", 3, SDK_HOURS_RANGE), ("minutes[0]", 4, SDK_MINUTES_RANGE)],
    ),
    "frequency, interval and time zone": (
        "frequency: Daily\ninterval: 0\ntime_zone: Nowhere",
        [
            ("frequency", 1, SDK_FREQUENCY),
            ("interval", 2, SDK_INTERVAL),
            ("time_zone", 3, time_zone_problem("Nowhere")),
        ],
    ),
    "constructor and validate": (
        "frequency: Daily\ninterval: 1\ntime_of_day: '7h30'",
        [("frequency", 1, SDK_FREQUENCY), ("time_of_day", 3, SDK_TIME_OF_DAY_FORMAT)],
    ),
    "time_of_day with empty minutes": (
        "frequency: Day\ninterval: 1\nminutes: []\ntime_of_day: '07:30'",
        [
            ("minutes", 3, "must list at least one minute (or be left out)"),
            ("time_of_day", 4, SDK_TIME_OF_DAY_AND_HOURS),
        ],
    ),
    "time_of_day with hours, and its own format": (
        "frequency: Day\ninterval: 1\nhours: [7]\ntime_of_day: '7h30'",
        [("time_of_day", 4, SDK_TIME_OF_DAY_AND_HOURS), ("time_of_day", 4, SDK_TIME_OF_DAY_FORMAT)],
    ),
    "invalid frequency: no frequency checks, but every range check": (
        "frequency: Yearly\ninterval: 1\nhours: [99]\nweek_days: [Funday]",
        [
            ("frequency", 1, SDK_FREQUENCY),
            ("hours[0]", 3, SDK_HOURS_RANGE),
            ("week_days[0]", 4, SDK_WEEK_DAYS),
        ],
    ),
    "hours and minutes the frequency does not allow": (
        "frequency: Hour\ninterval: 1\nhours: [99]\nminutes: [99]\nstart_time: soon",
        [
            ("hours", 3, SDK_HOURS_FREQUENCY),
            ("minutes", 4, SDK_MINUTES_FREQUENCY),
            ("start_time", 5, START_TIME_FORMAT),
        ],
    ),
    "every bad item of a list": (
        "frequency: Day\ninterval: 1\nhours:\n  - 24\n  - 9\n  - 9\n  - 7.5",
        [
            ("hours[0]", 4, SDK_HOURS_RANGE),
            ("hours[2]", 6, "hour 9 is listed twice"),
            ("hours[3]", 7, "hour must be an integer, not 7.5"),
        ],
    ),
    "week days and time zone": (
        "frequency: Week\ninterval: 1\nweek_days: [Mon, Friday, Friday]\ntime_zone: Mars",
        [
            ("week_days[0]", 3, SDK_WEEK_DAYS),
            ("week_days[2]", 3, "week day Friday is listed twice"),
            ("time_zone", 4, time_zone_problem("Mars")),
        ],
    ),
    "a misspelled key and what it leaves missing": (
        "frequncy: Day\ninterval: 0",
        [
            ("frequency", 0, SDK_FREQUENCY),
            ("frequncy", 1, "unknown key 'frequncy' (did you mean 'frequency'?)"),
            ("interval", 2, SDK_INTERVAL),
        ],
    ),
}


@pytest.mark.parametrize(("body", "expected"), list(MULTI_CASES.values()), ids=list(MULTI_CASES))
def test_every_independent_problem_of_a_recurrence_is_reported(
    tmp_path: Path, form: str, body: str, expected: list[tuple[str, int, str]]
) -> None:
    config, file, before, prefix = write_recurrence(tmp_path, form, body)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = [(p.file, p.key, p.line, p.message) for p in caught.value.problems]
    assert problems == [
        (str(file), f"{prefix}.{key}", before + line, message) for key, line, message in expected
    ]


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
    # Integers as YAML 1.2 (and the Azure ML SDK) read them: 08 and 09 are 8 and 9, 010 is 10.
    "hours with leading zeros": (
        "frequency: Day\ninterval: 010\nhours: [08, 09]\nminutes: [00, 030]\n"
        "time_zone: W. Europe Standard Time",
        Recurrence(
            Frequency.DAY, 10, time_zone="W. Europe Standard Time", hours=(8, 9), minutes=(0, 30)
        ),
    ),
    "interval in octal and hex": (
        "frequency: Week\ninterval: 0o10\nweek_days: [Monday]\nhours: [0x10]\n"
        "time_zone: W. Europe Standard Time",
        Recurrence(
            Frequency.WEEK,
            8,
            time_zone="W. Europe Standard Time",
            hours=(16,),
            week_days=("Monday",),
        ),
    ),
    "start_time one hour before the calendar ends, east of UTC": (
        "frequency: Day\ninterval: 1\nstart_time: '9999-12-31T22:00:00'\n"
        "time_zone: W. Europe Standard Time",
        Recurrence(
            Frequency.DAY,
            1,
            time_zone="W. Europe Standard Time",
            start_time=datetime(9999, 12, 31, 22, 0),
        ),
    ),
}


@pytest.mark.parametrize(("body", "expected"), list(VALID_CASES.values()), ids=list(VALID_CASES))
def test_valid_recurrence_builds_the_recurrence(
    tmp_path: Path, form: str, body: str, expected: Recurrence
) -> None:
    config, _, _, _ = write_recurrence(tmp_path, form, body)
    schedule = next(iter(load_config(config).schedules.values()))
    assert schedule.trigger.recurrence == expected
    assert schedule.trigger.kind == "recurrence"


@pytest.mark.parametrize("frequency", list(Frequency), ids=[f.value for f in Frequency])
@pytest.mark.parametrize("pattern", [False, True], ids=["no pattern", "pattern"])
def test_the_largest_interval_loads_and_the_engine_computes_it(
    tmp_path: Path, form: str, frequency: Frequency, pattern: bool
) -> None:
    """At max_interval the period is a timedelta and the next fires are computed (the first
    at start_time, then none: the next one is past the year 9999), in a DST zone."""
    body = (
        f"frequency: {frequency.value}\ninterval: {max_interval(frequency)}\n"
        "start_time: '2030-03-31T02:30:00'\ntime_zone: W. Europe Standard Time"
    )
    if pattern and frequency in (Frequency.DAY, Frequency.WEEK):
        body += "\nhours: [2]\nminutes: [30]"
    config, _, _, _ = write_recurrence(tmp_path, form, body)
    recurrence = next(iter(load_config(config).schedules.values())).trigger.recurrence
    assert recurrence is not None
    assert recurrence.period >= timedelta(days=3_650_000)
    after = datetime(2025, 1, 1, tzinfo=UTC)
    times = recurrence.fire_times(after, 3)
    assert len(times) <= 1
    assert all(t.year == 2030 for t in times)
    assert recurrence.fire_times_between(after, datetime(9999, 12, 31, tzinfo=UTC)) == times
