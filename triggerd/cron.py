"""Cron expressions: when ``MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK`` fires, in a time zone. Pure.

The fields are cron's (Vixie cron, as Debian runs it): numbers, ``*``, ranges ``1-5``, lists
``1,15``, steps ``*/15`` and ``8-18/2``, the names ``jan``-``dec`` and ``sun``-``sat`` (any
letter case); 0 and 7 are both Sunday. When DAYS and DAYS-OF-WEEK are both restricted (neither
starts with ``*``), a day matching *either* fires. Azure ML's v2 documentation says its service
ignores DAYS and MONTHS (it reads them as ``*``): triggerd honours them, as every cron does.
Quartz's and cronsim's extensions (``L``, ``W``, ``#``, ``?``, a seconds field, ``@daily``) are
refused: Azure ML has none of them.

The library cronsim (Healthchecks' cron evaluator: small, typed, no dependencies, released
regularly, written to match Debian's cron; croniter was declared abandoned by its author in
2024-25 before pallets-eco took it over) parses the fields and matches the days, on naive wall
times only. The wall clock is triggerd's, the same as a recurrence's patterns
(``recurrence.py``, RFC 5545), not cronsim's own Debian-style DST handling: every matching
wall time is localized with ``fold=0``. A time inside a spring-forward gap takes the offset
before the gap (02:30 on Berlin's spring day fires at 03:30 CEST); gap times that land on one
instant fire once (``*/15``'s 02:00-02:45 are 03:00-03:45's instants); a repeated time (fall
back) fires once, at its first occurrence, so ``*/15`` fires four times in the repeated hour,
not eight.

A cron expression has no phase: its slots are the same whenever the daemon first saw the
schedule, so ``anchor`` changes nothing (the planner still never fires a slot from before the
schedule was first seen, and a v1 recurrence's "first run at once" has no counterpart here).
``start_time`` and ``end_time`` (naive wall times in the zone) bound the slots, both included.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import ClassVar
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from triggerd.recurrence import WallClock, localize, successive

FIELDS = ("MINUTES", "HOURS", "DAYS", "MONTHS", "DAYS-OF-WEEK")
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES: tuple[tuple[str, ...], ...] = (
    (),
    (),
    (),
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
)
_NAME_BASE = (0, 0, 0, 1, 0)  # the number of a field's first name
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ATOM = r"(?:[0-9]+|[a-z]+)"
_ITEM = re.compile(rf"(?P<base>\*|{_ATOM}(?:-{_ATOM})?)(?:/(?P<step>[0-9]+))?")
# Quartz's and cronsim's day extensions: L (last), W (weekday), # (nth), ? (no value).
_EXTENSION = re.compile(r"[0-9]*L|L?W|[0-9]+W|.*#.*|\?", re.IGNORECASE)
_SHOWN = re.compile(r"[0-9A-Za-z*,/#?@-]{1,8}")

_MAX_ITEMS = 100_000  # as recurrence.py: fire_times_between refuses more
_DAY_MINUTES = 24 * 60
_SCAN_DAYS = 4 * 366  # days looked at for two consecutive matching days
# A matching wall time inside a spring-forward gap localizes to an instant after the gap, later
# than the real wall times just after it: candidates start this far (in offsets) before ``after``.
_OFFSET_LOOKBACK = timedelta(days=1)


class CronError(ValueError):
    """An expression triggerd cannot run; the message says which field and why."""


def _shown(token: str) -> str:
    """A piece of the expression, quoted, or a placeholder if it does not look like cron."""
    if not token:
        return "an empty value"
    return repr(token) if _SHOWN.fullmatch(token) else "(a value not shown)"


def check_expression(expression: str) -> str:
    """The expression with its fields separated by one space; raises CronError naming the
    field and the problem (the first one found)."""
    parts = expression.split()
    if len(parts) == 1 and parts[0].startswith("@"):
        nick = parts[0].lower()
        hint = f", e.g. {_NICKNAMES[nick]!r}" if nick in _NICKNAMES else ""
        raise CronError(f"{_shown(parts[0])} is not supported: write the five fields{hint}")
    if len(parts) != len(FIELDS):
        raise CronError(
            f"needs five fields {' '.join(FIELDS)} (e.g. '0 2 * * 1-5'), got {len(parts)}"
        )
    for index, part in enumerate(parts):
        for item in part.split(","):
            _check_item(index, item)
    try:
        CronSim(" ".join(parts), datetime(2000, 1, 1))  # noqa: DTZ001 - wall time
    except CronSimError:
        raise CronError(
            "DAYS never comes in the MONTHS given: the expression would never fire"
        ) from None
    return " ".join(parts)


def _check_item(index: int, item: str) -> None:
    name = FIELDS[index]
    if _EXTENSION.fullmatch(item):
        raise CronError(
            f"{name}: {_shown(item)} is not supported: Azure ML's cron has numbers, names, "
            "ranges, lists and steps (no L, W, # or ?)"
        )
    match = _ITEM.fullmatch(item.lower())
    if match is None:
        low, high = _RANGES[index]
        names = _NAMES[index]
        extras = f", names {names[0]}-{names[-1]}" if names else ""
        raise CronError(
            f"{name}: {_shown(item)} is not a cron value (numbers {low}-{high}{extras}, "
            "*, ranges a-b, lists a,b and steps */n)"
        )
    step = match["step"]
    if step is not None and int(step) == 0:
        raise CronError(f"{name}: {_shown(item)} has a step of 0")
    base = match["base"]
    if base == "*":
        return
    ends = [_value(index, text) for text in base.split("-")]
    if len(ends) == 2 and ends[1] < ends[0]:
        raise CronError(
            f"{name}: the range {_shown(base)} runs backwards; write it from low to high"
        )


def _value(index: int, text: str) -> int:
    name, (low, high), names = FIELDS[index], _RANGES[index], _NAMES[index]
    if text.isdigit():
        number = int(text)
        if not low <= number <= high:
            raise CronError(f"{name}: {number} is out of range {low}-{high}")
        return number
    if text in names:
        return names.index(text) + _NAME_BASE[index]
    if names and text[:3] in names:
        raise CronError(f"{name}: write names with three letters: {text[:3]!r}")
    if names:
        raise CronError(
            f"{name}: {_shown(text)} is not a name; use {names[0]}, {names[1]} ... {names[-1]}"
        )
    raise CronError(f"{name}: {_shown(text)} is not a number from {low} to {high}")


@dataclass(frozen=True)
class CronTimetable(WallClock):
    """A validated cron expression in a zone, optionally bounded by start and end wall times.

    Two timetables with the same expression (spaces aside), zone and bounds are equal and hash
    alike: the scheduler gives them one job.
    """

    expression: str
    time_zone: str = "UTC"
    start_time: datetime | None = None  # naive wall time in time_zone; no slot before it
    end_time: datetime | None = None  # naive wall time in time_zone; no slot after it
    _period: timedelta = field(init=False, repr=False, compare=False)
    # next_fire_after's last (after, slot): it answers any later ``after`` before that slot.
    _last: ClassVar[tuple[datetime, datetime] | None] = None

    def __post_init__(self) -> None:
        expression, period = _parse(self.expression)
        object.__setattr__(self, "expression", expression)
        object.__setattr__(self, "_period", period)
        for key in ("start_time", "end_time"):
            value = getattr(self, key)
            if value is not None and value.tzinfo is not None:
                raise ValueError(f"{key} must be naive wall time in time_zone")

    @property
    def period(self) -> timedelta:
        """The shortest spacing of two slots on the wall clock, at most a day (a longer one
        would not change the default misfire grace, which it is the basis of)."""
        return self._period

    @property
    def start(self) -> datetime | None:
        """The instant of ``start_time`` (UTC), or None."""
        return localize(self.start_time, self.zone) if self.start_time is not None else None

    # -- the heart ---------------------------------------------------------------------------

    def next_fire_after(
        self, after: datetime, *, anchor: datetime | None = None
    ) -> datetime | None:
        """The first slot strictly after ``after`` (aware, returned in UTC), or None if there is
        none. ``anchor`` changes nothing: a cron expression has no phase."""
        _require_aware("after", after)
        if (last := self._last) is not None and last[0] <= after < last[1]:
            return last[1]  # no slot in (last after, last slot): the same next slot
        threshold = self._lower(after)
        best: datetime | None = None
        for instant, real in self._candidates(threshold):
            if instant > threshold and (best is None or instant < best):
                best = instant
            if real and instant > threshold:
                break  # later wall times localize later still
        end = self.end
        if best is None or (end is not None and best > end):
            return None
        object.__setattr__(self, "_last", (after, best))  # one tuple: read by any thread
        return best

    def fire_times(
        self, after: datetime, count: int, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """The next ``count`` slots strictly after ``after`` (fewer if the series ends)."""
        return successive(self.next_fire_after, after, count, anchor)

    def fire_times_between(
        self, start: datetime, end: datetime, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """Slots t with start < t <= end; ValueError past 100,000 of them."""
        _require_aware("start", start)
        _require_aware("end", end)
        lower = self._lower(start)
        upper = min(end, self.end) if self.end is not None else end
        found: set[datetime] = set()
        for instant, real in self._candidates(lower):
            if real and instant > upper:
                break
            if lower < instant <= upper:
                found.add(instant)
                if len(found) > _MAX_ITEMS:
                    raise ValueError(
                        f"more than {_MAX_ITEMS} fire times between {start.isoformat()} and "
                        f"{end.isoformat()}; ask for a shorter range"
                    )
        return sorted(found)

    def _lower(self, after: datetime) -> datetime:
        """``after``, or just before ``start_time`` if that is later."""
        start = self.start
        if start is not None and start - timedelta(microseconds=1) > after:
            return start - timedelta(microseconds=1)
        return after.astimezone(UTC)

    def _candidates(self, after: datetime) -> Iterator[tuple[datetime, bool]]:
        """(instant, is a real wall time) of every matching wall time, in wall-clock order, from
        early enough that none localizing after ``after`` is missed.

        A real wall time localizes later than every wall time before it. A time in a gap does
        not: it lands in the first hour (the gap's size) after the gap. So a wall time in a gap
        just before ``after``'s own wall time can come after ``after``: candidates start at
        ``after`` read with the smaller of its offset and the offset a day earlier.
        """
        zone = self.zone
        try:
            offset = min(_offset(after, zone), _offset(after - _OFFSET_LOOKBACK, zone))
            wall = (after + offset).replace(tzinfo=None) - timedelta(seconds=1)
            sim = CronSim(self.expression, wall)
            for candidate in sim:
                instant = localize(candidate, zone)
                real = instant.astimezone(zone).replace(tzinfo=None) == candidate
                yield instant, real
        except (OverflowError, ValueError):  # past the year 9999
            return

    # -- words -------------------------------------------------------------------------------

    def describe(self) -> str:
        """E.g. ``cron '0 2 * * 1-5': at 02:00 on Monday through Friday (Europe/Berlin)``."""
        text = f"cron {self.expression!r}"
        try:
            words = CronSim(self.expression, datetime(2000, 1, 1)).explain()  # noqa: DTZ001
        except Exception:  # words are a nicety; the expression is enough
            words = ""
        if words:
            text += ": " + words[0].lower() + words[1:]
        if self.start_time is not None:
            text += f" from {self.start_time.isoformat(sep=' ')}"
        if self.end_time is not None:
            text += f" until {self.end_time.isoformat(sep=' ')}"
        return f"{text} ({self.time_zone})"


@lru_cache(maxsize=4096)
def _parse(expression: str) -> tuple[str, timedelta]:
    """The expression tidied and its shortest spacing; raises CronError. Cached: a config
    repeats a few expressions many times."""
    tidy = check_expression(expression)
    return tidy, _shortest_spacing(tidy)


def _offset(moment: datetime, zone: ZoneInfo) -> timedelta:
    offset = moment.astimezone(zone).utcoffset()
    return offset if offset is not None else timedelta(0)


def _shortest_spacing(expression: str) -> timedelta:
    """The shortest spacing of two consecutive slots on the wall clock, at most a day.

    Every matching day has the same times, so the spacing is the smallest gap between two of
    them, or from the last to the first across midnight when two consecutive days match.
    """
    sim = CronSim(expression, datetime(2000, 1, 1))  # noqa: DTZ001 - wall time
    times = sorted(hour * 60 + minute for hour in sim.hours for minute in sim.minutes)
    spans = [later - earlier for earlier, later in itertools.pairwise(times)]
    if _consecutive_days(sim, expression.split()):
        spans.append(_DAY_MINUTES - (times[-1] - times[0]))
    return timedelta(minutes=min([*spans, _DAY_MINUTES]))


def _consecutive_days(sim: CronSim, fields: list[str]) -> bool:
    """Whether two consecutive days both match (looked for over four years from 2000)."""
    if fields[2] == "*" and fields[3] == "*":  # only the week days count
        days = {day % 7 for day in sim.weekdays if isinstance(day, int)}
        return any((day + 1) % 7 in days for day in days)
    day, previous = date(2000, 1, 1), False
    for _ in range(_SCAN_DAYS):
        matches = day.month in sim.months and sim.match_day(day)
        if matches and previous:
            return True
        day, previous = day + timedelta(days=1), matches
    return False


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
