"""What the engine asks of any time schedule's calendar: the ``Timetable`` protocol. Pure.

A ``Recurrence`` (Azure ML's frequency/interval/pattern, ``recurrence.py``) and a
``CronTimetable`` (a five-field cron expression, ``cron.py``) both answer it; the scheduler,
the time pass, the planner and the CLI ask only this. Every instant given or returned is
aware, and returned in UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo


@runtime_checkable
class Timetable(Protocol):
    """When a time schedule fires: pure functions of the time asked about."""

    @property
    def zone(self) -> ZoneInfo:
        """The zone its wall-clock times are read in."""
        ...

    @property
    def start_time(self) -> datetime | None:
        """Naive wall time in ``zone``: no slot before it (None: from the anchor)."""
        ...

    @property
    def end_time(self) -> datetime | None:
        """Naive wall time in ``zone``: no slot after it (None: no end)."""
        ...

    @property
    def end(self) -> datetime | None:
        """The instant of ``end_time`` (UTC), or None if it never ends."""
        ...

    def ended(self, now: datetime) -> bool:
        """Whether it has no fire after ``now`` because ``end_time`` has passed."""
        ...

    @property
    def period(self) -> timedelta:
        """The spacing of its slots (the shortest one for a cron expression): the basis of the
        default misfire grace."""
        ...

    def next_fire_after(
        self, after: datetime, *, anchor: datetime | None = None
    ) -> datetime | None:
        """The first fire instant strictly after ``after``, or None if there is none;
        ``anchor`` is when the daemon first saw the schedule."""
        ...

    def fire_times(
        self, after: datetime, count: int, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """The next ``count`` fire instants strictly after ``after`` (fewer if it ends)."""
        ...

    def fire_times_between(
        self, start: datetime, end: datetime, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """Fire instants t with start < t <= end; ValueError past 100,000 of them."""
        ...

    def describe(self) -> str:
        """One line for people, e.g. ``every day at 02:30 (Europe/Berlin)``."""
        ...
