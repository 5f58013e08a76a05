"""The ``cron`` block of a native schedule: ``{expression, time_zone, start_time, end_time}``.

``expression`` is five cron fields (``triggerd/cron.py`` says what they mean); ``time_zone`` a
Windows zone ID or an IANA name (default UTC), as in a recurrence; ``start_time`` and
``end_time`` wall times in that zone (``YYYY-MM-DDThh:mm[:ss]``), or with an offset, as Azure ML
v2 writes them (``2022-05-10T10:15:00-04:00``: read as that instant's wall time in the zone).
Every problem is reported at once, each under its key (``cron.expression: ...``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triggerd.config.problems import Invalid, unknown_key
from triggerd.config.recurrence_spec import (
    END_BEFORE_START,
    START_TIME_FORMAT,
    fits_calendar,
    parse_naive,
    time_zone_problem,
    with_offset,
)
from triggerd.cron import CronError, CronTimetable, check_expression
from triggerd.timezones import resolve_zone

CRON_KEYS = ("expression", "time_zone", "start_time", "end_time")
EXPRESSION_NEEDED = (
    "a cron needs an expression: five fields MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK, "
    "e.g. '0 2 * * 1-5'"
)


def parse_cron(value: Any) -> CronTimetable | None:
    """The CronTimetable a ``cron`` mapping describes; raises Invalid with every failure."""
    if value is None or isinstance(value, CronTimetable):
        return value
    if not isinstance(value, dict):
        raise Invalid("must be a mapping with keys " + ", ".join(CRON_KEYS))
    raw = {key: None if item == "None" else item for key, item in value.items()}
    found: list[Invalid] = [
        Invalid(unknown_key(key, CRON_KEYS), key) for key in raw if key not in CRON_KEYS
    ]

    def attempt(check: Any, *args: Any) -> Any:
        try:
            return check(*args)
        except Invalid as exc:
            found.extend(exc.each())
            return None

    expression = attempt(_expression, raw.get("expression"))
    time_zone = attempt(_time_zone, raw.get("time_zone"))
    start_time = attempt(_wall_time, raw.get("start_time"), "start_time", time_zone)
    end_time = attempt(_wall_time, raw.get("end_time"), "end_time", time_zone)
    for key, moment in (("start_time", start_time), ("end_time", end_time)):
        if moment is not None and time_zone is not None:
            attempt(fits_calendar, moment, time_zone, key)
    if start_time is not None and end_time is not None and end_time < start_time:
        found.append(Invalid(END_BEFORE_START, "end_time"))
    if found:
        raise Invalid.every(found)
    assert expression is not None and time_zone is not None
    return CronTimetable(expression, time_zone, start_time, end_time)


def _expression(value: Any) -> str:
    if value is None:
        raise Invalid(EXPRESSION_NEEDED, "expression")
    if not isinstance(value, str):
        raise Invalid(
            "must be a string of five fields, e.g. '0 2 * * 1-5' (quote it in YAML)",
            "expression",
        )
    try:
        return check_expression(value)
    except CronError as exc:
        raise Invalid(str(exc), "expression") from None


def _time_zone(value: Any) -> str:
    if value is None:
        return "UTC"
    if not isinstance(value, str):
        raise Invalid(
            "must be a Windows zone ID or an IANA name, e.g. 'Europe/Berlin'", "time_zone"
        )
    try:
        resolve_zone(value)
    except (ValueError, OSError):  # UnknownTimeZone; a name too long for a file name
        raise Invalid(time_zone_problem(value), "time_zone") from None
    return value


def _wall_time(value: Any, key: str, time_zone: str | None) -> datetime | None:
    """Naive wall time in the zone; a time with an offset is that instant's wall time there."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        moment = with_offset(value) or parse_naive(value, key)
    if moment is None:
        raise Invalid(START_TIME_FORMAT.replace("start_time", key), key)
    if moment.tzinfo is None:
        return moment
    if time_zone is None:
        return None  # the zone's own problem is reported
    return moment.astimezone(resolve_zone(time_zone)).replace(tzinfo=None)
