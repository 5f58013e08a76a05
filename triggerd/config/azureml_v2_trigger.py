"""The ``trigger`` of an Azure ML v2 schedule file: a ``Recurrence``, or triggerd's ``cron`` keys.

The rules are azure-ai-ml's (``RecurrenceTriggerSchema``, ``RecurrencePatternSchema``,
``CronTriggerSchema``) and Microsoft's "Schedule machine learning pipeline jobs" page:

- ``type`` is ``recurrence`` or ``cron``; ``frequency`` one of minute, hour, day, week, month and
  ``week_days`` monday ... sunday, in any letter case (the SDK lowercases them before checking).
- ``schedule`` (the pattern) needs ``hours`` and ``minutes`` (an integer or a list; an empty list
  means "from start_time", as the SDK itself sends a trigger without a pattern); ``week_days``
  with week or month, ``month_days`` (1 to 31) with month. A day a month lacks is skipped there.
- ``start_time`` and ``end_time`` are ISO 8601, with or without an offset: without one they are
  wall time in ``time_zone``; with one they are that instant, read as wall time in ``time_zone``.

The SDK's own messages are used where it has one (``Missing data for required field.``,
``Unknown field.``, ``Value ... passed is not in set [...]``); triggerd's say the rest.
Every failure is collected: ``Invalid.every``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from triggerd.config.problems import Invalid, show, unknown_key
from triggerd.config.recurrence_spec import (
    END_BEFORE_START,
    SDK_HOURS_RANGE,
    SDK_INTERVAL,
    SDK_MINUTES_RANGE,
    Checks,
    fits_calendar,
    time_zone_of,
)
from triggerd.recurrence import WEEK_DAYS, Frequency, Recurrence, max_interval
from triggerd.timezones import resolve_zone

MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."
NOT_INTEGER = "Not a valid integer."
NOT_DATETIME = "Not a valid ISO8601-formatted datetime string"
TYPES = ("cron", "recurrence")
FREQUENCIES = ("minute", "hour", "day", "week", "month")
V2_WEEK_DAYS = tuple(day.lower() for day in WEEK_DAYS)
COMMON_KEYS = ("type", "start_time", "end_time", "time_zone")
RECURRENCE_KEYS = (*COMMON_KEYS, "frequency", "interval", "schedule")
CRON_KEYS = (*COMMON_KEYS, "expression")
PATTERN_KEYS = ("hours", "minutes", "week_days", "month_days")
_WORD = re.compile(r"[A-Za-z_ -]{1,20}")


def not_in_set(value: Any, allowed: tuple[str, ...]) -> str:
    """azure-ai-ml's ``Value 'x' passed is not in set [...]``; the value only when it is a short
    word (text is otherwise never echoed: it may be a secret under the wrong key)."""
    listed = "[" + ", ".join(f"'{a}'" for a in allowed) + "]"
    shown = f"{value!r} " if isinstance(value, str) and _WORD.fullmatch(value) else ""
    return f"Value {shown}passed is not in set {listed}"


def trigger_type(trigger: dict[str, Any]) -> str:
    """``recurrence`` or ``cron``, or Invalid at ``type``."""
    value = trigger.get("type")
    if value is None:
        raise Invalid(MISSING, "type")
    if not isinstance(value, str) or value.lower() not in TYPES:
        raise Invalid(not_in_set(value, TYPES), "type")
    return value.lower()


def unknown_keys(trigger: dict[str, Any], known: tuple[str, ...], *where: str) -> list[Invalid]:
    return [
        Invalid(f"{unknown_key(key, known)} (azure-ai-ml: {UNKNOWN})", *where, key)
        for key in trigger
        if key not in known
    ]


def cron_mapping(trigger: dict[str, Any]) -> dict[str, Any]:
    """A v2 cron trigger as the native ``cron:`` mapping (checked there). An offset in
    ``start_time``/``end_time`` becomes wall time in ``time_zone`` when the zone is known."""
    found = unknown_keys(trigger, CRON_KEYS)
    if trigger.get("expression") is None:
        found.append(Invalid(MISSING, "expression"))
    if found:
        raise Invalid.every(found)
    mapping = {key: trigger[key] for key in CRON_KEYS[1:] if key in trigger}
    zone_name = trigger.get("time_zone") or "UTC"
    for key in ("start_time", "end_time"):
        value = mapping.get(key)
        if isinstance(value, str):
            moment = _aware(value)
            if moment is not None and _known_zone(zone_name):
                wall = moment.astimezone(resolve_zone(zone_name)).replace(tzinfo=None)
                mapping[key] = wall.strftime("%Y-%m-%dT%H:%M:%S")
    return {key: mapping[key] for key in ("expression", *COMMON_KEYS[1:]) if key in mapping}


def parse_v2_recurrence(trigger: dict[str, Any]) -> Recurrence:
    """The Recurrence a v2 ``type: recurrence`` trigger describes; Invalid with every failure."""
    checks = _V2Checks(trigger)
    recurrence = checks.run()
    if checks.found or recurrence is None:
        raise Invalid.every(checks.found or [Invalid(MISSING, "frequency")])
    return recurrence


class _V2Checks(Checks):
    """The checks of one v2 recurrence, in azure-ai-ml's order (``attempt`` as for v1)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        super().__init__(raw)
        self.found.extend(unknown_keys(raw, RECURRENCE_KEYS))

    def run(self) -> Recurrence | None:
        raw = self.raw
        frequency = self.attempt(_frequency, raw.get("frequency"))
        interval = self.attempt(_interval, raw.get("interval"), frequency)
        pattern = self.attempt(_pattern, raw.get("schedule"), frequency) or {}
        time_zone = self.attempt(time_zone_of, raw.get("time_zone"))
        start = self.attempt(_moment, raw.get("start_time"), time_zone, "start_time")
        end = self.attempt(_moment, raw.get("end_time"), time_zone, "end_time")
        if start is not None and end is not None and end < start:
            self.found.append(Invalid(END_BEFORE_START, "end_time"))
        if self.found or frequency is None or interval is None or time_zone is None:
            return None
        return Recurrence(
            frequency=Frequency(frequency.capitalize()),
            interval=interval,
            time_zone=time_zone,
            start_time=start,
            end_time=end,
            **pattern,
        )


def _frequency(value: Any) -> str:
    if value is None:
        raise Invalid(MISSING, "frequency")
    if not isinstance(value, str) or value.lower() not in FREQUENCIES:
        raise Invalid(not_in_set(value, FREQUENCIES), "frequency")
    return value.lower()


def _interval(value: Any, frequency: str | None) -> int:
    if value is None:
        raise Invalid(MISSING, "interval")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{NOT_INTEGER} (interval is {show(value)})", "interval")
    if value < 1:
        raise Invalid(SDK_INTERVAL, "interval")
    if frequency is not None:
        highest = max_interval(Frequency(frequency.capitalize()))
        if value > highest:
            raise Invalid(
                f"Interval is too large: a {frequency} recurrence repeats at most every "
                f"{highest:,} {frequency}s (the calendar ends with the year 9999)",
                "interval",
            )
    return value


def _pattern(value: Any, frequency: str | None) -> dict[str, Any] | None:
    """``schedule``: the Recurrence's hours, minutes, week_days and month_days."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("must be a mapping with hours and minutes (and week_days, month_days)")
    found = unknown_keys(value, PATTERN_KEYS, "schedule")
    result: dict[str, Any] = {}
    for key, highest, lowest, message in (
        ("hours", 23, 0, SDK_HOURS_RANGE),
        ("minutes", 59, 0, SDK_MINUTES_RANGE),
        ("month_days", 31, 1, "Month days must be between 1 and 31."),
    ):
        if key not in value or value[key] is None:
            if key != "month_days":
                found.append(Invalid(MISSING, "schedule", key))
            continue
        try:
            result[key] = _numbers(value[key], key, lowest, highest, message)
        except Invalid as exc:
            found.extend(exc.each())
    if value.get("week_days") is not None:
        try:
            result["week_days"] = _week_days(value["week_days"])
        except Invalid as exc:
            found.extend(exc.each())
    found.extend(_allowed(frequency, value))
    if found:
        raise Invalid.every(found)
    return {key: values for key, values in result.items() if values is not None}


def _allowed(frequency: str | None, pattern: dict[str, Any]) -> list[Invalid]:
    """Which frequency takes which part of a pattern (Microsoft's v2 page)."""
    given = [key for key in PATTERN_KEYS if pattern.get(key) is not None]
    if frequency is None or not given:
        return []
    if frequency in ("minute", "hour"):
        message = "a schedule (hours, minutes, ...) needs frequency day, week or month"
        return [Invalid(message, "schedule")]
    found = []
    if "week_days" in given and frequency == "day":
        found.append(
            Invalid(
                "week_days can only be given with frequency week or month", "schedule", "week_days"
            )
        )
    if "month_days" in given and frequency != "month":
        found.append(
            Invalid("month_days can only be given with frequency month", "schedule", "month_days")
        )
    elif "month_days" in given and "week_days" in given:
        found.append(Invalid("give month_days or week_days, not both", "schedule", "month_days"))
    return found


def _numbers(
    value: Any, key: str, lowest: int, highest: int, message: str
) -> tuple[int, ...] | None:
    """An integer or a list of them, each in range, none twice; an empty list: not given."""
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    found: list[Invalid] = []
    seen: set[int] = set()
    for i, item in enumerate(items):
        at = ("schedule", key, i) if isinstance(value, list) else ("schedule", key)
        if isinstance(item, bool) or not isinstance(item, int):
            found.append(Invalid(f"{NOT_INTEGER} ({key} holds {show(item)})", *at))
        elif not lowest <= item <= highest:
            found.append(Invalid(message, *at))
        elif item in seen:
            found.append(Invalid(f"{item} is listed twice", *at))
        else:
            seen.add(item)
    if found:
        raise Invalid.every(found)
    return tuple(sorted(seen))


def _week_days(value: Any) -> tuple[str, ...] | None:
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    found: list[Invalid] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        at = ("schedule", "week_days", i) if isinstance(value, list) else ("schedule", "week_days")
        if not isinstance(item, str) or item.lower() not in V2_WEEK_DAYS:
            found.append(Invalid(not_in_set(item, V2_WEEK_DAYS), *at))
        elif item.lower() in seen:
            found.append(Invalid(f"week day {item.lower()} is listed twice", *at))
        else:
            seen.add(item.lower())
    if found:
        raise Invalid.every(found)
    return tuple(sorted((day.capitalize() for day in seen), key=WEEK_DAYS.index))


def _aware(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _known_zone(name: Any) -> bool:
    try:
        time_zone_of(name)
    except Invalid:
        return False
    return True


def _moment(value: Any, time_zone: str | None, key: str) -> datetime | None:
    """``start_time``/``end_time`` as naive wall time in ``time_zone``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise Invalid(
                f"{NOT_DATETIME} (e.g. '2024-01-01T09:00:00' or, with an offset, "
                "'2024-01-01T09:00:00+01:00')",
                key,
            ) from None
    else:
        raise Invalid(f"{NOT_DATETIME} ({key} is {show(value)})", key)
    if moment.tzinfo is not None:
        if time_zone is None:
            return None  # its zone's problem is reported already
        try:
            moment = moment.astimezone(resolve_zone(time_zone)).replace(tzinfo=None)
        except OverflowError:
            raise Invalid(f"{key} is outside the years 1 to 9999 in its time_zone", key) from None
    moment = moment.replace(microsecond=0)
    if time_zone is not None:
        fits_calendar(moment, time_zone, key)
    return moment
