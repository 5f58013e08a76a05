"""Azure ML recurrence semantics (STUB: being written; the dataclass fields are the interface)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from triggerd.timezones import resolve_zone


class Frequency(StrEnum):
    MINUTE = "Minute"
    HOUR = "Hour"
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"


WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Recurrence:
    """A validated recurrence. ``start_time`` is naive wall time in ``time_zone``."""

    frequency: Frequency
    interval: int
    time_zone: str = "UTC"
    start_time: datetime | None = None
    hours: tuple[int, ...] | None = None
    minutes: tuple[int, ...] | None = None
    week_days: tuple[str, ...] | None = None

    @property
    def zone(self) -> ZoneInfo:
        return resolve_zone(self.time_zone)

    @property
    def period(self) -> timedelta:
        raise NotImplementedError

    def next_fire_after(self, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
        raise NotImplementedError
