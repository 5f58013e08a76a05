"""The recurrence's two shortcuts give the answers of the plain search, whatever is asked.

- ``next_fire_after`` (of a recurrence and of a cron timetable) keeps its last answer and
  reuses it for any ``after`` from that one up to the fire found; asked in any order, with
  anchors changing, it must answer as a fresh timetable does (``dataclasses.replace`` copies
  the fields, not what was kept).
- the pattern search passes over days whose wall times all lie a day or more before the
  threshold; with that turned off (``_OFFSET_BOUND`` at ``timedelta.max``: nothing is passed
  over) it must find the same fire, across DST gaps and overlaps in zones on both sides of UTC.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from triggerd import recurrence
from triggerd.cron import CronTimetable
from triggerd.recurrence import Frequency, Recurrence
from triggerd.timetable import Timetable

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=800)  # two years of DST changes from START

RECURRENCES = [
    Recurrence(Frequency.MINUTE, 5, "UTC", datetime(2024, 1, 1, 0, 2)),
    Recurrence(Frequency.HOUR, 3, "Asia/Kathmandu"),  # no start_time: the anchor is the start
    Recurrence(
        Frequency.DAY, 1, "Europe/Berlin", datetime(2024, 1, 1), hours=(2, 3), minutes=(30,)
    ),
    Recurrence(Frequency.DAY, 2, "Pacific/Kiritimati", hours=(0, 23), minutes=(0, 59)),  # +14 h
    Recurrence(
        Frequency.WEEK,
        2,
        "America/Los_Angeles",
        datetime(2024, 3, 4, 1, 30),
        hours=(1, 2),
        minutes=(0, 30),
        week_days=("Sunday", "Wednesday"),
    ),
    Recurrence(Frequency.WEEK, 1, "Pacific/Pago_Pago", minutes=(15,)),  # -11 h, no start
    Recurrence(Frequency.MONTH, 1, "Australia/Sydney", datetime(2024, 1, 31, 2, 30)),
    Recurrence(
        Frequency.MONTH,
        3,
        "Australia/Adelaide",
        datetime(2024, 1, 5),
        month_days=(1, 31),
        hours=(2,),
    ),
    Recurrence(
        Frequency.MONTH,
        1,
        "W. Europe Standard Time",
        datetime(2024, 2, 1, 2, 30),
        week_days=("Sunday",),
    ),
    Recurrence(
        Frequency.DAY,
        1,
        "UTC",
        datetime(2024, 1, 1),
        hours=(9,),
        end_time=datetime(2025, 6, 1),
    ),
]


CRONS = [
    CronTimetable("*/7 2-3 * * *", "Europe/Berlin"),  # in and around the DST gap and overlap
    CronTimetable("30 1 * * SUN", "America/Los_Angeles", end_time=datetime(2025, 3, 1)),
]


def _afters(rng: random.Random, count: int) -> list[datetime]:
    """Instants in random order, some close together (inside one gap between fires)."""
    afters: list[datetime] = []
    while len(afters) < count:
        at = START + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
        afters.append(at)
        for _ in range(rng.randrange(4)):  # a few more just after it, as wake-ups ask
            at += timedelta(seconds=rng.randrange(1, 4000))
            afters.append(at)
    return afters


@pytest.mark.parametrize("rec", [*RECURRENCES, *CRONS], ids=lambda r: r.describe())
def test_the_kept_answer_is_the_answer_of_a_fresh_search(rec: Timetable) -> None:
    rng = random.Random(17)
    anchors = [START, START + timedelta(hours=7, minutes=3)]
    for after in _afters(rng, 400):
        anchor = rng.choice(anchors)
        expected = dataclasses.replace(rec).next_fire_after(after, anchor=anchor)
        assert rec.next_fire_after(after, anchor=anchor) == expected, (after, anchor)
        if expected is not None:  # then from that fire on, as the scheduler asks
            following = dataclasses.replace(rec).next_fire_after(expected, anchor=anchor)
            assert rec.next_fire_after(expected, anchor=anchor) == following, (expected, anchor)


def test_an_answer_is_kept_per_anchor_when_there_is_no_start_time() -> None:
    rec = Recurrence(Frequency.HOUR, 1, "UTC")
    after = START + timedelta(minutes=10)
    first = rec.next_fire_after(after, anchor=START)
    other = rec.next_fire_after(after, anchor=START + timedelta(minutes=30))
    assert first == START + timedelta(hours=1)
    assert other == START + timedelta(minutes=30)  # not the answer kept for the other anchor


@pytest.mark.parametrize(
    "rec", [r for r in RECURRENCES if r.has_pattern], ids=lambda r: r.describe()
)
def test_passing_over_early_days_finds_the_fire_a_full_search_finds(
    rec: Recurrence, monkeypatch: pytest.MonkeyPatch
) -> None:
    afters = _afters(random.Random(5), 300)
    anchor = START + timedelta(hours=5)
    quick = [dataclasses.replace(rec).next_fire_after(a, anchor=anchor) for a in afters]
    monkeypatch.setattr(recurrence, "_OFFSET_BOUND", timedelta.max)  # nothing passed over
    full = [dataclasses.replace(rec).next_fire_after(a, anchor=anchor) for a in afters]
    assert quick == full
