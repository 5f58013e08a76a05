"""Durations in config files: a whole number in a default unit, or a string with its unit.

``timeout`` and ``misfire_grace_time`` count seconds (``90``, ``"30s"``, ``"10m"``, ``"2h"``,
``"1d"``); ``polling_interval`` counts minutes, as Azure ML does (``5``, ``"30s"``, ``"2m"``).
A duration is greater than 0 and at most ``MAX_DURATION`` (10 years: every wait, deadline and
timer of the daemon can hold it). Digits are ASCII digits only.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import PlainValidator

from triggerd.config.problems import Invalid, show

MAX_DURATION = timedelta(days=3650)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_NAMES = {"s": "seconds", "m": "minutes"}
# re.ASCII: \d and \s would also match other scripts' digits and spaces.
_WITH_UNIT = re.compile(r"([0-9]{1,15})[ \t]*([smhd])", re.ASCII)
_EXAMPLES = "'30s', '10m', '2h', '1d'"


def parse_duration(value: Any, *, unit: str) -> timedelta:
    """``value`` as a timedelta; a bare integer counts ``unit`` ("s" or "m"). Must be > 0.

    A message never shows a string value (it could be a secret under the wrong key).
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value * _UNIT_SECONDS[unit]
    elif isinstance(value, str) and (match := _WITH_UNIT.fullmatch(value.strip(" \t"))):
        seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
    elif isinstance(value, str):
        raise Invalid(
            f"is not a duration: write a whole number of {_UNIT_NAMES[unit]} or a number "
            f"with a unit (s, m, h or d), like {_EXAMPLES}"
        )
    else:
        raise Invalid(
            f"must be a whole number of {_UNIT_NAMES[unit]} or a string like {_EXAMPLES}, "
            f"not {show(value)}"
        )
    if seconds <= 0:
        raise Invalid("must be greater than 0")
    if seconds > MAX_DURATION.total_seconds():
        raise Invalid(f"must be at most {MAX_DURATION.days}d (10 years)")
    return timedelta(seconds=seconds)


def _seconds(value: Any) -> timedelta | None:
    return None if value is None else parse_duration(value, unit="s")


def _minutes(value: Any) -> timedelta:
    return parse_duration(value, unit="m")


Seconds = Annotated[timedelta | None, PlainValidator(_seconds)]
"""A duration whose bare numbers count seconds (or None)."""

Minutes = Annotated[timedelta, PlainValidator(_minutes)]
"""A duration whose bare numbers count minutes (Azure ML's ``polling_interval``)."""
