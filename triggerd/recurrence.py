"""Azure ML recurrence semantics: when a ``ScheduleRecurrence`` fires. Pure.

The rules (``reference/azureml.md`` §1, design "Time semantics"):

- The start S is ``start_time`` (naive wall time in ``time_zone``) or, without one, the *anchor*:
  the moment the daemon first saw the schedule.
- Without a pattern (hours, minutes, week days) S fires, then S + k x interval. Minute and Hour
  count on the absolute timeline; Day, Week and Month on the wall clock of the zone. A monthly
  start on a day that a month lacks (31st, 30th, Feb 29th) skips that month.
- With a pattern (Day, Week and, from Azure ML v2 files, Month) every hour x minute of the
  pattern fires on the days S's date + k x N (Day/N), on the week days of the weeks
  Monday-of-S + k x N weeks (Week/N), or in the months of S + k x N months (Month/N) on its
  ``month_days`` (a day a month lacks is skipped in that month), on every one of its week days,
  or on S's day. Missing parts come from S. Fires are strictly after S, except that an anchor
  itself fires.
- ``end_time`` (naive wall time in the zone, like ``start_time``) ends the series: no fire is
  after it (one exactly at it fires).
- A wall time is localized as RFC 5545 does: ``fold=0``. A time in a spring-forward gap takes the
  offset before the gap (02:30 -> 03:30 summer time); a repeated time fires once, the first time.

Everything is returned as aware datetimes in UTC. Nothing here knows APScheduler: its adapter,
``RecurrenceTrigger``, lives with the scheduler (``engine/scheduler.py``), so ``validate`` and
``next`` never load it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import ClassVar
from zoneinfo import ZoneInfo

from triggerd.humanize import in_order
from triggerd.timezones import resolve_zone


class Frequency(StrEnum):
    MINUTE = "Minute"
    HOUR = "Hour"
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"


WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_UNIT = {
    Frequency.MINUTE: timedelta(minutes=1),
    Frequency.HOUR: timedelta(hours=1),
    Frequency.DAY: timedelta(days=1),
    Frequency.WEEK: timedelta(days=7),
    Frequency.MONTH: timedelta(days=31),
}
_UNIT_NAME = {frequency: frequency.value.lower() for frequency in Frequency}  # "minute", ...
# datetime holds the years 1 to 9999. A recurrence whose period is longer than that span can
# never fire twice, and its period (interval x unit) would overflow timedelta for a large enough
# interval (Month/40,000,000), so config validation refuses an interval above max_interval().
_CALENDAR_SPAN = datetime.max.replace(tzinfo=UTC) - datetime.min.replace(tzinfo=UTC)
_CALENDAR_MONTHS = 9998 * 12 + 11  # from January of the year 1 to December of the year 9999


def max_interval(frequency: Frequency) -> int:
    """The largest interval of ``frequency`` that fits in the calendar (years 1 to 9999).

    Up to it, ``period`` is a valid timedelta and every step of ``next_fire_after`` either
    stays in the calendar or overflows inside it (past the year 9999: no next fire).
    """
    if frequency == Frequency.MONTH:
        return _CALENDAR_MONTHS
    return _CALENDAR_SPAN // _UNIT[frequency]


# Bounds on every search loop: after this many periods (or candidate days) there is no next fire.
_MAX_PERIODS = 2_000
_MAX_ITEMS = 100_000
_OFFSET_BOUND = timedelta(days=1)  # a UTC offset is less than this, either way


def successive(
    next_after: Callable[..., datetime | None],
    after: datetime,
    count: int,
    anchor: datetime | None,
) -> list[datetime]:
    """The next ``count`` instants strictly after ``after`` that ``next_after`` (a timetable's
    ``next_fire_after``) gives one by one; fewer if it ends."""
    times: list[datetime] = []
    current: datetime | None = after
    while len(times) < count and current is not None:
        current = next_after(current, anchor=anchor)
        if current is not None:
            times.append(current)
    return times


def localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall time in ``zone`` (RFC 5545: fold=0 in gaps and overlaps)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True)
class _Start:
    """The effective start S: its instant, its naive wall time in the zone, where it came from."""

    utc: datetime
    wall: datetime
    is_anchor: bool


class WallClock:
    """What a timetable of wall times in a zone, with an optional end, answers alike (a
    ``Recurrence``, a ``cron.CronTimetable``): its zone, the end instant, whether it has ended."""

    time_zone: str
    end_time: datetime | None  # naive wall time in ``zone``

    @property
    def zone(self) -> ZoneInfo:
        return resolve_zone(self.time_zone)

    @property
    def end(self) -> datetime | None:
        """The instant of ``end_time`` (UTC), or None if the series never ends."""
        return localize(self.end_time, self.zone) if self.end_time is not None else None

    def ended(self, now: datetime) -> bool:
        """Whether the series has no fire after ``now`` because ``end_time`` has passed."""
        end = self.end
        return end is not None and now >= end


@dataclass(frozen=True)
class Recurrence(WallClock):
    """A validated recurrence. ``start_time`` is naive wall time in ``time_zone``."""

    frequency: Frequency
    interval: int
    time_zone: str = "UTC"
    start_time: datetime | None = None
    hours: tuple[int, ...] | None = None
    minutes: tuple[int, ...] | None = None
    week_days: tuple[str, ...] | None = None
    end_time: datetime | None = None  # naive wall time in time_zone; no fire after it
    month_days: tuple[int, ...] | None = None  # Month only (Azure ML v2), 1 to 31

    # next_fire_after's last (anchor or None, after, fire): it answers any later ``after``
    # before that fire (startup's next fire and catch-up, a slot's wake-ups; not a field).
    _last: ClassVar[tuple[datetime | None, datetime, datetime] | None] = None

    @property
    def period(self) -> timedelta:
        """Interval x unit (a month counts as 31 days): the basis of the default misfire grace."""
        return _UNIT[Frequency(self.frequency)] * self.interval

    @property
    def has_pattern(self) -> bool:
        parts = (self.hours, self.minutes, self.week_days, self.month_days)
        return any(part is not None for part in parts)

    # -- the heart ---------------------------------------------------------------------------

    def next_fire_after(
        self, after: datetime, *, anchor: datetime | None = None
    ) -> datetime | None:
        """The first fire instant strictly after ``after`` (aware, UTC), or None if there is none.

        ``anchor`` is when the schedule was first seen; it is the start when there is no
        ``start_time``, and then it fires itself ("first run immediate").
        """
        _require_aware("after", after)
        key = anchor if self.start_time is None else None  # the anchor matters only then
        if (last := self._last) is not None and last[0] == key and last[1] <= after < last[2]:
            return last[2]  # no fire in (last after, last fire): the same next fire
        start = self._start(anchor)
        end = self.end
        if end is not None and after >= end:
            return None
        try:
            moment = self._next_unbounded(after, start)
        except OverflowError:  # past year 9999
            return None
        if moment is None or (end is not None and moment > end):
            return None
        object.__setattr__(self, "_last", (key, after, moment))  # one tuple: read by any thread
        return moment

    def _next_unbounded(self, after: datetime, start: _Start) -> datetime | None:
        if self.has_pattern:
            return self._next_on_pattern(after, start)
        if after < start.utc:
            return start.utc
        if self.frequency in (Frequency.MINUTE, Frequency.HOUR):
            return self._next_absolute(after, start)
        if self.frequency == Frequency.MONTH:
            return self._next_month(after, start)
        return self._next_wall_days(after, start)

    def fire_times(
        self, after: datetime, count: int, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """The next ``count`` fire instants strictly after ``after`` (fewer if the series ends)."""
        return successive(self.next_fire_after, after, count, anchor)

    def fire_times_between(
        self, start: datetime, end: datetime, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """Fire instants t with start < t <= end; ValueError past 100,000 of them."""
        _require_aware("end", end)
        times: list[datetime] = []
        current = self.next_fire_after(start, anchor=anchor)
        while current is not None and current <= end:
            if len(times) >= _MAX_ITEMS:
                raise ValueError(
                    f"more than {_MAX_ITEMS} fire times between {start.isoformat()} and "
                    f"{end.isoformat()}; ask for a shorter range"
                )
            times.append(current)
            current = self.next_fire_after(current, anchor=anchor)
        return times

    # -- the start ---------------------------------------------------------------------------

    def _start(self, anchor: datetime | None) -> _Start:
        zone = self.zone
        if self.start_time is not None:
            if self.start_time.tzinfo is not None:
                raise ValueError("start_time must be naive wall time in time_zone")
            return _Start(localize(self.start_time, zone), self.start_time, is_anchor=False)
        if anchor is None:
            raise ValueError("a recurrence without start_time needs an anchor (first seen time)")
        _require_aware("anchor", anchor)
        wall = anchor.astimezone(zone).replace(tzinfo=None, fold=0)
        return _Start(anchor.astimezone(UTC), wall, is_anchor=True)

    # -- no pattern: S + k x interval ---------------------------------------------------------

    def _next_absolute(self, after: datetime, start: _Start) -> datetime:
        """Minute and Hour: constant steps on the UTC timeline (``after >= S``)."""
        step = self.period
        k = (after - start.utc) // step + 1
        return start.utc + k * step

    def _next_wall_days(self, after: datetime, start: _Start) -> datetime | None:
        """Day and Week: S's wall time every N days/weeks (``after >= S``)."""
        step = self.period
        after_wall = after.astimezone(self.zone).replace(tzinfo=None)
        # Start one step early: offsets differ by less than a day, so that step is <= after.
        k = max(1, (after_wall - start.wall) // step - 1)
        for _ in range(_MAX_PERIODS):
            candidate = localize(start.wall + k * step, self.zone)
            if candidate > after:
                return candidate
            k += 1
        return None

    def _next_month(self, after: datetime, start: _Start) -> datetime | None:
        """Month: S's day and wall time every N months, skipping months without that day."""
        first = start.wall.year * 12 + start.wall.month - 1
        after_wall = after.astimezone(self.zone)
        months_after = after_wall.year * 12 + after_wall.month - 1
        k = max(1, (months_after - first) // self.interval - 1)
        for _ in range(_MAX_PERIODS):
            year, month0 = divmod(first + k * self.interval, 12)
            if year > 9999:
                return None
            if start.wall.day <= calendar.monthrange(year, month0 + 1)[1]:
                wall = start.wall.replace(year=year, month=month0 + 1)
                candidate = localize(wall, self.zone)
                if candidate > after:
                    return candidate
            k += 1
        return None

    # -- pattern: hours x minutes on the days of the pattern ----------------------------------

    def _next_on_pattern(self, after: datetime, start: _Start) -> datetime | None:
        if self.frequency not in (Frequency.DAY, Frequency.WEEK, Frequency.MONTH):
            raise ValueError(
                f"hours, minutes and week days need Day, Week or Month, not {self.frequency}"
            )
        if start.is_anchor and after < start.utc:
            return start.utc  # first run immediate; the pattern continues after it
        threshold = max(after, start.utc)
        clock = self._clock_times(start)
        if not clock:
            return None  # an empty hours or minutes list never matches
        zone = self.zone
        best: datetime | None = None
        first_day: date | None = None
        # A day whose last wall time is an offset bound before the threshold's UTC wall time
        # has no candidate after it: it is passed over without localizing its times.
        utc_wall, last_time = threshold.astimezone(UTC).replace(tzinfo=None), clock[-1]
        for day in self._pattern_days(start.wall.date(), threshold.astimezone(zone).date()):
            # Gap localization can put a wall time of the next day before one of this day.
            if first_day is not None and day > first_day + timedelta(days=1):
                break
            if first_day is None and utc_wall - datetime.combine(day, last_time) >= _OFFSET_BOUND:
                continue
            for wall_time in clock:
                candidate = localize(datetime.combine(day, wall_time), zone)
                if candidate > threshold and (best is None or candidate < best):
                    best = candidate
                    if first_day is None:
                        first_day = day
        return best

    def _clock_times(self, start: _Start) -> list[time]:
        """Every hour x minute of the pattern; missing parts from S. Seconds come from a
        start_time, but not from an anchor: ``07:30`` means 07:30:00 whenever the daemon
        first saw the schedule."""
        wall = start.wall
        hours = self.hours if self.hours is not None else (wall.hour,)
        minutes = self.minutes if self.minutes is not None else (wall.minute,)
        second, micro = (0, 0) if start.is_anchor else (wall.second, wall.microsecond)
        return sorted({time(h, m, second, micro) for h in hours for m in minutes})

    def _pattern_days(self, start_day: date, from_day: date) -> Iterator[date]:
        """The pattern's days in order, from about one period before ``from_day``."""
        if self.frequency == Frequency.DAY:
            k = max(0, (from_day - start_day).days // self.interval - 1)
            for i in range(k, k + _MAX_PERIODS):
                yield start_day + timedelta(days=i * self.interval)
            return
        if self.frequency == Frequency.MONTH:
            yield from self._month_pattern_days(start_day, from_day)
            return
        names = self.week_days if self.week_days is not None else (WEEK_DAYS[start_day.weekday()],)
        offsets = sorted({WEEK_DAYS.index(name) for name in names})
        first_monday = start_day - timedelta(days=start_day.weekday())
        k = max(0, (from_day - first_monday).days // (7 * self.interval) - 1)
        for i in range(k, k + _MAX_PERIODS):
            monday = first_monday + timedelta(weeks=i * self.interval)
            for offset in offsets:
                yield monday + timedelta(days=offset)

    def _month_pattern_days(self, start_day: date, from_day: date) -> Iterator[date]:
        """Month/N: the pattern's days of the months of S + k x N months, in order."""
        first = start_day.year * 12 + start_day.month - 1
        months_from = from_day.year * 12 + from_day.month - 1
        k = max(0, (months_from - first) // self.interval - 1)
        offsets = {WEEK_DAYS.index(name) for name in self.week_days or ()}
        for i in range(k, k + _MAX_PERIODS):
            year, month0 = divmod(first + i * self.interval, 12)
            if year > 9999:
                return
            length = calendar.monthrange(year, month0 + 1)[1]
            if self.week_days is not None:
                weekday = date(year, month0 + 1, 1).weekday()  # of the 1st
                days = [d for d in range(1, length + 1) if (weekday + d - 1) % 7 in offsets]
            else:
                wanted = self.month_days if self.month_days is not None else (start_day.day,)
                days = sorted(d for d in set(wanted) if d <= length)  # a lacking day: skipped
            for day in days:
                yield date(year, month0 + 1, day)

    # -- words -------------------------------------------------------------------------------

    def describe(self) -> str:
        """E.g. ``every 2 weeks on Monday, Wednesday at 18:30 (W. Europe Standard Time)``."""
        unit = _UNIT_NAME[Frequency(self.frequency)]
        parts = [f"every {unit}" if self.interval == 1 else f"every {self.interval} {unit}s"]
        start = self.start_time
        if self.month_days is not None:
            parts.append("on day " + ", ".join(str(d) for d in self.month_days))
        if self.week_days is not None:
            parts.append("on " + in_order(self.week_days, WEEK_DAYS))
        elif self.frequency == Frequency.WEEK and start is not None and self.has_pattern:
            parts.append("on " + WEEK_DAYS[start.weekday()])
        elif self.frequency == Frequency.MONTH and start is not None and self.has_pattern:
            parts.append("" if self.month_days is not None else f"on day {start.day}")
        if self.has_pattern:
            parts.append(self._describe_clock())
        if start is not None:
            parts.append(f"from {start.isoformat(sep=' ')}")
        if self.end_time is not None:
            parts.append(f"until {self.end_time.isoformat(sep=' ')}")
        return " ".join(part for part in parts if part) + f" ({self.time_zone})"

    def _describe_clock(self) -> str:
        start = self.start_time
        hours = self.hours if self.hours is not None else (start.hour,) if start else None
        minutes = self.minutes if self.minutes is not None else (start.minute,) if start else None
        if hours is not None and minutes is not None:
            times = sorted(f"{h:02d}:{m:02d}" for h in hours for m in minutes)
            if len(times) <= 8:
                return "at " + ", ".join(times)
        words = []
        if hours is not None:
            words.append("at hours " + ", ".join(str(h) for h in sorted(hours)))
        if minutes is not None:
            words.append("at minutes " + ", ".join(str(m) for m in sorted(minutes)))
        return " ".join(words)
