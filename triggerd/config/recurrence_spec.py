"""The ``recurrence`` block: Azure ML's ScheduleRecurrence checks, with the SDK's messages.

The messages are the SDK's word for word (``reference/azureml.md`` §1): the constructor's checks
on ``time_of_day`` and ``start_time``, then ``validate()`` steps 1-9. The SDK stops at the first
failure; triggerd reports every independent one at once, in the SDK's order, and skips only the
checks that depend on an earlier failure (with an invalid frequency, "Can only specify hours if
frequency is Week or Day." cannot be judged; hours not allowed for the frequency are not also
checked for their range). Where the SDK is silent (floats it truncates, booleans, duplicates, a
malformed ``start_time``, an interval past what the calendar can hold) triggerd fails at the
same step with its own message. Absent keys, ``~`` and the string ``"None"`` all mean "not
given", as in published samples. ``end_time`` is triggerd's own key (v1 has none): wall time in
``time_zone`` like ``start_time``, the last moment the schedule may fire.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from triggerd.config.problems import Invalid, show, unknown_key
from triggerd.recurrence import WEEK_DAYS, Frequency, Recurrence, localize, max_interval
from triggerd.timezones import resolve_zone, suggest

_T = TypeVar("_T")

RECURRENCE_KEYS = (
    "frequency",
    "interval",
    "start_time",
    "time_zone",
    "hours",
    "minutes",
    "time_of_day",
    "week_days",
    "end_time",  # triggerd's: v1 recurrences have none
)
_FREQUENCIES = tuple(f.value for f in Frequency)
# [0-9], not \d: \d also matches other scripts' digits ("١٨:٣٠"), which the SDK refuses.
_TIME_OF_DAY = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_START_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"  # date
    r"T([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"  # time, seconds optional
)

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
START_TIME_FORMAT = (
    "start_time must be a date and time in the form YYYY-MM-DDThh:mm:ss, e.g. '2024-01-01T09:00:00'"
)
START_TIME_NOT_REAL = "start_time has the form YYYY-MM-DDThh:mm:ss but is not a real date and time"
START_TIME_RANGE = (
    "start_time is too close to the end of the calendar: in its time_zone it falls outside "
    "the years 1 to 9999 in UTC"
)
END_TZINFO = "Can not specify tzinfo for end_time, use time_zone instead."
END_BEFORE_START = "end_time is before start_time: the schedule would never fire"


def _for_key(message: str, key: str) -> str:
    """A start_time message said of another key (``end_time``)."""
    return message.replace("start_time", key)


def parse_recurrence(value: Any) -> Recurrence | None:
    """The Recurrence a ``recurrence`` mapping describes; raises Invalid with every failure."""
    if value is None or isinstance(value, Recurrence):
        return value
    if not isinstance(value, dict):
        raise Invalid("must be a mapping with keys " + ", ".join(RECURRENCE_KEYS))
    checks = Checks({key: None if value.get(key) == "None" else value.get(key) for key in value})
    for key in value:
        if key not in RECURRENCE_KEYS:
            checks.found.append(Invalid(unknown_key(key, RECURRENCE_KEYS), key))
    recurrence = checks.run()
    if checks.found:
        raise Invalid.every(checks.found)
    return recurrence


class Checks:
    """The checks of one recurrence, in the SDK's order; ``found`` collects the failures."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.found: list[Invalid] = []

    def attempt(self, check: Callable[..., _T], *args: Any) -> _T | None:
        """``check(*args)``, or None (and the failure noted) if it raises Invalid."""
        try:
            return check(*args)
        except Invalid as exc:
            self.found.extend(exc.each())
            return None

    def run(self) -> Recurrence | None:
        raw = self.raw
        # The constructor: time_of_day becomes hours and minutes; start_time must be naive.
        hours = _Part("hours", raw.get("hours"))
        minutes = _Part("minutes", raw.get("minutes"))
        time_of_day = raw.get("time_of_day")
        if time_of_day is not None:
            conflict = hours.given or minutes.given
            if conflict:
                self.found.append(Invalid(SDK_TIME_OF_DAY_AND_HOURS, "time_of_day"))
            clock = self.attempt(_time_of_day, time_of_day)
            if not conflict:
                hours = _Part("time_of_day", [clock[0]] if clock else None, given=True)
                minutes = _Part("time_of_day", [clock[1]] if clock else None, given=True)
        start_time = self.attempt(_start_time, raw.get("start_time"))
        end_time = self.attempt(_start_time, raw.get("end_time"), "end_time")

        # validate(), steps 1 to 9.
        frequency = raw.get("frequency")
        if not isinstance(frequency, str) or frequency not in _FREQUENCIES:
            self.found.append(Invalid(SDK_FREQUENCY, "frequency"))
            frequency = None
        interval = self.attempt(_interval, raw.get("interval"), frequency)
        if frequency is not None:
            self._allowed(frequency, hours, minutes)
        hour_values = self.attempt(_numbers, hours, "hour", 23, SDK_HOURS_RANGE)
        minute_values = self.attempt(_numbers, minutes, "minute", 59, SDK_MINUTES_RANGE)
        week_days = None
        if raw.get("week_days") is not None and frequency not in (None, "Week"):
            self.found.append(Invalid(SDK_WEEK_DAYS_FREQUENCY, "week_days"))
        else:
            week_days = self.attempt(_week_days, raw.get("week_days"))
        time_zone = self.attempt(time_zone_of, raw.get("time_zone"))
        for key, moment in (("start_time", start_time), ("end_time", end_time)):
            if moment is not None and time_zone is not None:
                self.attempt(fits_calendar, moment, time_zone, key)
        if start_time is not None and end_time is not None and end_time < start_time:
            self.found.append(Invalid(END_BEFORE_START, "end_time"))
        if self.found or frequency is None or interval is None or time_zone is None:
            return None
        return Recurrence(
            frequency=Frequency(frequency),
            interval=interval,
            time_zone=time_zone,
            start_time=start_time,
            hours=hour_values,
            minutes=minute_values,
            week_days=week_days,
            end_time=end_time,
        )

    def _allowed(self, frequency: str, hours: _Part, minutes: _Part) -> None:
        """Steps 3 and 4: hours and minutes only with Day or Week (checked: not ranged)."""
        if frequency in ("Week", "Day"):
            return
        if hours.given:
            self.found.append(Invalid(SDK_HOURS_FREQUENCY, hours.key))
            hours.values = None
        if minutes.given and minutes.key != "time_of_day":  # time_of_day: one problem
            self.found.append(Invalid(SDK_MINUTES_FREQUENCY, minutes.key))
        if minutes.given:
            minutes.values = None


@dataclass
class _Part:
    """The hours or the minutes: the key they came from, and their values (None if unknown)."""

    key: str
    values: Any
    given: bool = False

    def __post_init__(self) -> None:
        self.given = self.given or self.values is not None


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


def _start_time(value: Any, key: str = "start_time") -> datetime | None:
    """A naive wall time (``start_time``, or ``end_time`` with its own messages)."""
    if value is None:
        return None
    tzinfo = SDK_TZINFO if key == "start_time" else END_TZINFO
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise Invalid(tzinfo, key)
        return value
    if isinstance(value, str):
        if with_offset(value) is not None:
            raise Invalid(tzinfo, key)
        return parse_naive(value, key)
    raise Invalid(_for_key(START_TIME_FORMAT, key), key)


def with_offset(value: str) -> datetime | None:
    """The aware datetime ``value`` spells with an offset, or None if it has none."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def parse_naive(value: str, key: str) -> datetime:
    """``YYYY-MM-DDThh:mm[:ss]`` without an offset, or Invalid naming ``key``."""
    match = _START_TIME.fullmatch(value)
    if match is None:
        raise Invalid(_for_key(START_TIME_FORMAT, key), key)
    try:
        year, month, day, hour, minute, second = (int(p or 0) for p in match.groups())
        return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
    except ValueError:
        raise Invalid(_for_key(START_TIME_NOT_REAL, key), key) from None


def fits_calendar(moment: datetime, time_zone: str, key: str = "start_time") -> None:
    try:
        localize(moment, resolve_zone(time_zone))
    except OverflowError:
        raise Invalid(_for_key(START_TIME_RANGE, key), key) from None


def _interval(value: Any, frequency: str | None) -> int:
    if isinstance(value, bool | float):
        raise Invalid(f"interval must be an integer, not {show(value)}", "interval")
    if not isinstance(value, int) or value < 1:
        raise Invalid(SDK_INTERVAL, "interval")
    if frequency is not None and value > max_interval(Frequency(frequency)):
        highest = max_interval(Frequency(frequency))
        raise Invalid(
            f"Interval is too large: a {frequency} recurrence repeats at most every "
            f"{highest:,} {frequency.lower()}s (the calendar ends with the year 9999)",
            "interval",
        )
    return value


def _numbers(part: _Part, what: str, highest: int, range_message: str) -> tuple[int, ...] | None:
    values, key = part.values, part.key
    if values is None:
        return None
    if not isinstance(values, list):
        example = "[9, 17]" if what == "hour" else "[0, 30]"
        raise Invalid(f"must be a list of {what}s from 0 to {highest}, e.g. {example}", key)
    if not values:
        raise Invalid(f"must list at least one {what} (or be left out)", key)
    found: list[Invalid] = []
    seen: set[int] = set()
    for i, item in enumerate(values):
        if isinstance(item, bool) or not isinstance(item, int):
            found.append(Invalid(f"{what} must be an integer, not {show(item)}", key, i))
        elif not 0 <= item <= highest:
            found.append(Invalid(range_message, key, i))
        elif item in seen:
            found.append(Invalid(f"{what} {item} is listed twice", key, i))
        else:
            seen.add(item)
    if found:
        raise Invalid.every(found)
    return tuple(sorted(values))


def _week_days(values: Any) -> tuple[str, ...] | None:
    if values is None:
        return None
    if not isinstance(values, list):
        raise Invalid(SDK_WEEK_DAYS, "week_days")
    if not values:
        raise Invalid("must list at least one week day (or be left out)", "week_days")
    found: list[Invalid] = []
    seen: set[str] = set()
    for i, day in enumerate(values):
        if not isinstance(day, str) or day not in WEEK_DAYS:
            found.append(Invalid(SDK_WEEK_DAYS, "week_days", i))
            continue
        if day in seen:
            found.append(Invalid(f"week day {day} is listed twice", "week_days", i))
        seen.add(day)
    if found:
        raise Invalid.every(found)
    return tuple(sorted(values, key=WEEK_DAYS.index))


# What a zone name looks like: letters, spaces and . ( ) _ + / -, not too long, no digits.
_ZONE_SHAPE = re.compile(r"[A-Za-z][A-Za-z .()_+/-]{0,39}")


def time_zone_problem(value: str) -> str:
    """The SDK's message for an unknown time zone, then the value and the zone it most likely
    meant (``timezones.suggest``). Text is never echoed in case it is a secret put under the
    wrong key: the value is named only when it is close to a zone or shaped like a zone name."""
    suggestion = suggest(value) if len(value) <= 100 else None
    if suggestion is None and not _ZONE_SHAPE.fullmatch(value):
        return f"{SDK_TIME_ZONE} Use a Windows zone ID or an IANA name (the value is not shown)"
    message = f"{SDK_TIME_ZONE} {value!r} is neither a Windows zone ID nor an IANA name"
    return f"{message}: {suggestion}" if suggestion else message


def time_zone_of(value: Any) -> str:
    """The zone ``value`` names (UTC when not given), or Invalid naming ``time_zone``."""
    if value is None:
        return "UTC"
    if not isinstance(value, str):
        raise Invalid(SDK_TIME_ZONE, "time_zone")
    try:
        resolve_zone(value)
    except (ValueError, OSError):  # UnknownTimeZone; a name too long for a file name
        raise Invalid(time_zone_problem(value), "time_zone") from None
    return value
