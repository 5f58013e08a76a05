"""A recurrence mapping that passes every check is read in one pass (``_passes``), without the
checks' bookkeeping; any other goes through the checks (``Checks``), which say what is wrong.
Either way the Recurrence, or the failures, are what the checks alone give."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from triggerd.config import recurrence_spec
from triggerd.config.problems import Invalid
from triggerd.config.recurrence_spec import parse_recurrence
from triggerd.recurrence import Recurrence

BERLIN = "Europe/Berlin"
VALID: dict[str, dict[str, Any]] = {
    "every 5 minutes": {"frequency": "Minute", "interval": 5, "time_zone": BERLIN},
    "hourly, with a start": {
        "frequency": "Hour",
        "interval": 2,
        "start_time": "2024-03-31T01:30:00",
        "time_zone": "W. Europe Standard Time",
    },
    "daily at hours and minutes": {
        "frequency": "Day",
        "interval": 1,
        "hours": [17, 9],
        "minutes": [30, 0],
        "time_zone": "America/New_York",
    },
    "weekly on days": {
        "frequency": "Week",
        "interval": 1,
        "week_days": ["Sunday", "Monday"],
        "hours": [9],
        "minutes": [0],
        "time_zone": BERLIN,
    },
    "monthly, no time zone (UTC)": {"frequency": "Month", "interval": 3},
    "a start without seconds and an end": {
        "frequency": "Day",
        "interval": 1,
        "start_time": "2024-10-27T02:30",
        "end_time": "2025-10-26T02:30:00",
        "time_zone": BERLIN,
    },
    "a start as a datetime": {
        "frequency": "Hour",
        "interval": 1,
        "start_time": datetime(2024, 1, 1),
    },
    "the largest interval": {"frequency": "Month", "interval": 119_987},
    # not given in the one pass's sense: left to the checks, which read them as not given
    "'None' as a value": {"frequency": "Day", "interval": 1, "hours": "None", "time_zone": "None"},
    "time_of_day": {"frequency": "Day", "interval": 1, "time_of_day": "18:30"},
}
DAILY = {"frequency": "Day", "interval": 1}
INVALID: dict[str, dict[str, Any]] = {
    "an unknown key": {**DAILY, "hour": [9]},
    "hours for an hourly recurrence": {"frequency": "Hour", "interval": 1, "hours": [9]},
    "week days for a daily one": {**DAILY, "week_days": ["Monday"]},
    "a boolean interval": {"frequency": "Day", "interval": True},
    "an interval past the calendar": {"frequency": "Month", "interval": 119_988},
    "an hour listed twice": {**DAILY, "hours": [9, 9]},
    "an unknown zone": {**DAILY, "time_zone": "Europe/Nowhere"},
    "a zone that is a number": {**DAILY, "time_zone": 5},
    "a start with an offset": {**DAILY, "start_time": "2024-01-01T09:00:00+01:00"},
    "a start that is no date": {**DAILY, "start_time": "2024-02-30T00:00:00"},
    "a start past the calendar": {
        **DAILY,
        "start_time": "0001-01-01T00:00:00",
        "time_zone": "Etc/GMT-14",
    },
    "an end before the start": {
        **DAILY,
        "start_time": "2024-01-02T00:00:00",
        "end_time": "2024-01-01T00:00:00",
    },
    "time_of_day and hours": {**DAILY, "time_of_day": "18:30", "hours": [9]},
    "no frequency": {"interval": 1},
}


def by_the_checks(value: dict[str, Any]) -> Recurrence | list[tuple[str, tuple[str | int, ...]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recurrence_spec, "_passes", lambda value: None)
        return read(value)


def read(value: dict[str, Any]) -> Recurrence | list[tuple[str, tuple[str | int, ...]]]:
    try:
        recurrence = parse_recurrence(value)
    except Invalid as exc:
        return [(failure.message, failure.key) for failure in exc.each()]
    assert recurrence is not None
    return recurrence


@pytest.mark.parametrize("value", list(VALID.values()), ids=list(VALID))
def test_a_valid_recurrence_is_the_one_the_checks_build(value: dict[str, Any]) -> None:
    recurrence = read(value)
    assert isinstance(recurrence, Recurrence)
    assert recurrence == by_the_checks(value)


@pytest.mark.parametrize("value", list(INVALID.values()), ids=list(INVALID))
def test_an_invalid_recurrence_fails_as_the_checks_say(value: dict[str, Any]) -> None:
    assert recurrence_spec._passes(value) is None
    failures = read(value)
    assert isinstance(failures, list)
    assert failures == by_the_checks(value)
