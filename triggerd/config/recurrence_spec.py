"""The ``recurrence`` block: Azure ML's ScheduleRecurrence checks, in the SDK's order.

The first failure wins, with the SDK's message word for word (``reference/azureml.md`` §1): the
constructor's checks on ``time_of_day`` and ``start_time`` first, then ``validate()`` steps 1-9.
Where the SDK is silent (floats it truncates, booleans, duplicates, a malformed ``start_time``)
triggerd fails at the same step with its own message. Absent keys, ``~`` and the string
``"None"`` all mean "not given", as in published samples.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from triggerd.config.problems import Invalid, show, unknown_key
from triggerd.recurrence import WEEK_DAYS, Frequency, Recurrence
from triggerd.timezones import UnknownTimeZone, resolve_zone

RECURRENCE_KEYS = (
    "frequency",
    "interval",
    "start_time",
    "time_zone",
    "hours",
    "minutes",
    "time_of_day",
    "week_days",
)
_FREQUENCIES = tuple(f.value for f in Frequency)
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})")
_START_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?")

SDK_FREQUENCY = (
    "Invalid value for frequency, only one of Minute, Hour, Day, Week, or Month accepted"
)
SDK_INTERVAL = "Interval must be an integer greater than 0."
SDK_HOURS_FREQUENCY = "Can only specify hours if frequency is Week or Day."
SDK_MINUTES_FREQUENCY = "Can only specify minutes if frequency is Week or Day."
SDK_WEEK_DAYS_FREQUENCY = "Can only specify week days if frequency is Week."
SDK_HOURS_RANGE = "Hours must be between 0 and 23."
SDK_MINUTES_RANGE = "Minutes must be between 0 and 59."
SDK_WEEK_DAYS = (
    "Week days must be a list of str, accepted values: "
    "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday."
)
SDK_TIME_ZONE = "Time zone is not a valid TimeZone enum."
SDK_TIME_OF_DAY_AND_HOURS = "Can not specify time_of_day and hours or minutes."
SDK_TIME_OF_DAY_FORMAT = "time_of_day should be in the format hh:mm."
SDK_TIME_OF_DAY_HOUR = "Time of day hour value must be between 0 and 23."
SDK_TIME_OF_DAY_MINUTE = "Time of day minute value must be between 0 and 59."
SDK_TZINFO = "Can not specify tzinfo for start_time, use time_zone instead."


def parse_recurrence(value: Any) -> Recurrence | None:
    """The Recurrence a ``recurrence`` mapping describes; raises Invalid at the first failure."""
    if value is None or isinstance(value, Recurrence):
        return value
    if not isinstance(value, dict):
        raise Invalid("must be a mapping with keys " + ", ".join(RECURRENCE_KEYS))
    for key in value:
        if key not in RECURRENCE_KEYS:
            raise Invalid(unknown_key(key, RECURRENCE_KEYS), key)
    raw = {key: None if value.get(key) == "None" else value.get(key) for key in RECURRENCE_KEYS}

    # The constructor: time_of_day becomes hours and minutes; start_time must be naive.
    hours, minutes = raw["hours"], raw["minutes"]
    hours_key, minutes_key = "hours", "minutes"
    if raw["time_of_day"] is not None:
        if hours is not None or minutes is not None:
            raise Invalid(SDK_TIME_OF_DAY_AND_HOURS, "time_of_day")
        hour, minute = _time_of_day(raw["time_of_day"])
        hours, minutes = [hour], [minute]
        hours_key = minutes_key = "time_of_day"
    start_time = _start_time(raw["start_time"])

    # validate(), steps 1 to 9.
    frequency = raw["frequency"]
    if not isinstance(frequency, str) or frequency not in _FREQUENCIES:
        raise Invalid(SDK_FREQUENCY, "frequency")
    interval = _interval(raw["interval"])
    if hours is not None and frequency not in ("Week", "Day"):
        raise Invalid(SDK_HOURS_FREQUENCY, hours_key)
    if minutes is not None and frequency not in ("Week", "Day"):
        raise Invalid(SDK_MINUTES_FREQUENCY, minutes_key)
    if raw["week_days"] is not None and frequency != "Week":
        raise Invalid(SDK_WEEK_DAYS_FREQUENCY, "week_days")
    hour_values = _numbers(hours, "hour", 23, SDK_HOURS_RANGE, hours_key)
    minute_values = _numbers(minutes, "minute", 59, SDK_MINUTES_RANGE, minutes_key)
    week_days = _week_days(raw["week_days"])
    time_zone = _time_zone(raw["time_zone"])
    return Recurrence(
        frequency=Frequency(frequency),
        interval=interval,
        time_zone=time_zone,
        start_time=start_time,
        hours=hour_values,
        minutes=minute_values,
        week_days=week_days,
    )


def _time_of_day(value: Any) -> tuple[int, int]:
    match = _TIME_OF_DAY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise Invalid(SDK_TIME_OF_DAY_FORMAT, "time_of_day")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23:
        raise Invalid(SDK_TIME_OF_DAY_HOUR, "time_of_day")
    if minute > 59:
        raise Invalid(SDK_TIME_OF_DAY_MINUTE, "time_of_day")
    return hour, minute


def _start_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise Invalid(SDK_TZINFO, "start_time")
        return value
    if isinstance(value, str):
        try:
            aware = datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            aware = False
        if aware:
            raise Invalid(SDK_TZINFO, "start_time")
        match = _START_TIME.fullmatch(value)
        if match is not None:
            try:
                year, month, day, hour, minute, second = (int(p or 0) for p in match.groups())
                return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
            except ValueError:
                pass
    raise Invalid(
        f"start_time {show(value)} is not a date and time in the form YYYY-MM-DDThh:mm:ss",
        "start_time",
    )


def _interval(value: Any) -> int:
    if isinstance(value, bool | float):
        raise Invalid(f"interval must be an integer, not {show(value)}", "interval")
    if not isinstance(value, int) or value < 1:
        raise Invalid(SDK_INTERVAL, "interval")
    return value


def _numbers(
    values: Any, what: str, highest: int, range_message: str, key: str
) -> tuple[int, ...] | None:
    if values is None:
        return None
    if not isinstance(values, list):
        example = "[9, 17]" if what == "hour" else "[0, 30]"
        raise Invalid(f"must be a list of {what}s from 0 to {highest}, e.g. {example}", key)
    if not values:
        raise Invalid(f"must list at least one {what} (or be left out)", key)
    for i, item in enumerate(values):
        if isinstance(item, bool) or not isinstance(item, int):
            raise Invalid(f"{what} must be an integer, not {show(item)}", key, i)
        if not 0 <= item <= highest:
            raise Invalid(range_message, key, i)
    for i, item in enumerate(values):
        if item in values[:i]:
            raise Invalid(f"{what} {item} is listed twice", key, i)
    return tuple(sorted(values))


def _week_days(values: Any) -> tuple[str, ...] | None:
    if values is None:
        return None
    if not isinstance(values, list):
        raise Invalid(SDK_WEEK_DAYS, "week_days")
    if not values:
        raise Invalid("must list at least one week day (or be left out)", "week_days")
    for i, day in enumerate(values):
        if day not in WEEK_DAYS:
            raise Invalid(SDK_WEEK_DAYS, "week_days", i)
    for i, day in enumerate(values):
        if day in values[:i]:
            raise Invalid(f"week day {day} is listed twice", "week_days", i)
    return tuple(sorted(values, key=WEEK_DAYS.index))


def _time_zone(value: Any) -> str:
    if value is None:
        return "UTC"
    if not isinstance(value, str):
        raise Invalid(SDK_TIME_ZONE, "time_zone")
    try:
        resolve_zone(value)
    except UnknownTimeZone:
        raise Invalid(SDK_TIME_ZONE, "time_zone") from None
    return value
