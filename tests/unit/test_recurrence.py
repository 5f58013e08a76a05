"""When a recurrence fires: Azure ML's rules (reference/azureml.md §1), one spec line per case.

Each case: a recurrence, the instant ``after`` which to look, and the next fire times, written
in the schedule's zone with their offsets so the wall time is visible. DST dates used:

- Europe/Berlin 2024: 03-31 02:00 -> 03:00 (gap), 10-27 03:00 -> 02:00 (02:xx twice).
- America/Los_Angeles 2024: 03-10 02:00 -> 03:00 (gap), 11-03 02:00 -> 01:00 (01:xx twice).
- Australia/Sydney 2024: 04-07 03:00 -> 02:00 (02:xx twice), 10-06 02:00 -> 03:00 (gap).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from triggerd.recurrence import WEEK_DAYS, Frequency, Recurrence

BERLIN = "Europe/Berlin"
LA = "America/Los_Angeles"
SYDNEY = "Australia/Sydney"
W_EUROPE = "W. Europe Standard Time"
PACIFIC = "Pacific Standard Time"
AUS_EASTERN = "AUS Eastern Standard Time"
MON_WED = ("Monday", "Wednesday")


def rec(
    frequency: str,
    interval: int,
    time_zone: str,
    start: str | None = None,
    *,
    hours: tuple[int, ...] | None = None,
    minutes: tuple[int, ...] | None = None,
    days: tuple[str, ...] | None = None,
) -> Recurrence:
    return Recurrence(
        frequency=Frequency(frequency),
        interval=interval,
        time_zone=time_zone,
        start_time=datetime.fromisoformat(start) if start else None,
        hours=hours,
        minutes=minutes,
        week_days=days,
    )


def at(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def local(recurrence: Recurrence, instants: list[datetime]) -> list[str]:
    return [t.astimezone(recurrence.zone).isoformat() for t in instants]


def case(
    name: str, recurrence: Recurrence, after: str, expected: list[str], anchor: str | None = None
) -> Any:
    return pytest.param(recurrence, after, expected, anchor, id=name)


CASES = [
    # -- no start_time: the anchor fires at once, then every interval --------------------------
    case(
        "minute/15 no start: anchor then every 15 min",
        rec("Minute", 15, BERLIN),
        after="2024-01-10T10:06:00+01:00",
        anchor="2024-01-10T10:07:00+01:00",
        expected=["2024-01-10T10:07:00+01:00", "2024-01-10T10:22:00+01:00",
                  "2024-01-10T10:37:00+01:00"],
    ),
    case(
        "minute/15 no start: the anchor's microseconds carry on",
        rec("Minute", 15, "UTC"),
        after="2024-01-10T10:00:00+00:00",
        anchor="2024-01-10T10:07:00.250000+00:00",
        expected=["2024-01-10T10:07:00.250000+00:00", "2024-01-10T10:22:00.250000+00:00"],
    ),
    case(
        "hour/2 no start across LA spring-forward: absolute 2 h steps",
        rec("Hour", 2, LA),
        after="2024-03-10T00:00:00-08:00",
        anchor="2024-03-10T00:30:00-08:00",
        expected=["2024-03-10T00:30:00-08:00", "2024-03-10T03:30:00-07:00",
                  "2024-03-10T05:30:00-07:00"],
    ),
    case(
        "day/1 no start, anchor 02:30 in Sydney: gap day fires 03:30",
        rec("Day", 1, AUS_EASTERN),
        after="2024-10-05T02:00:00+10:00",
        anchor="2024-10-05T02:30:00+10:00",
        expected=["2024-10-05T02:30:00+10:00", "2024-10-06T03:30:00+11:00",
                  "2024-10-07T02:30:00+11:00"],
    ),
    case(
        "week/1 no start across LA fall-back: same wall time",
        rec("Week", 1, PACIFIC),
        after="2024-10-29T09:00:00-07:00",
        anchor="2024-10-29T09:15:00-07:00",
        expected=["2024-10-29T09:15:00-07:00", "2024-11-05T09:15:00-08:00",
                  "2024-11-12T09:15:00-08:00"],
    ),
    case(
        "month/1 no start, anchor on the 31st: skips months without one",
        rec("Month", 1, W_EUROPE),
        after="2024-01-31T11:00:00+01:00",
        anchor="2024-01-31T12:00:00+01:00",
        expected=["2024-01-31T12:00:00+01:00", "2024-03-31T12:00:00+02:00",
                  "2024-05-31T12:00:00+02:00"],
    ),
    case(
        "day/1 09:00 no start: anchor fires, then the pattern",
        rec("Day", 1, BERLIN, hours=(9,), minutes=(0,)),
        after="2024-03-30T15:00:00+01:00",
        anchor="2024-03-30T15:20:00+01:00",
        expected=["2024-03-30T15:20:00+01:00", "2024-03-31T09:00:00+02:00",
                  "2024-04-01T09:00:00+02:00"],
    ),
    case(
        "day/1 hours 6,18 no start: minute from the anchor",
        rec("Day", 1, BERLIN, hours=(6, 18)),
        after="2024-10-26T12:00:00+02:00",
        anchor="2024-10-26T12:45:00+02:00",
        expected=["2024-10-26T12:45:00+02:00", "2024-10-26T18:45:00+02:00",
                  "2024-10-27T06:45:00+01:00", "2024-10-27T18:45:00+01:00"],
    ),
    case(
        "week/1 07:30 no start: the anchor's seconds stay with the anchor, the pattern is :00",
        rec("Week", 1, BERLIN, days=("Monday",), hours=(7,), minutes=(30,)),
        after="2024-10-26T12:00:00+02:00",
        anchor="2024-10-26T12:34:56.250000+02:00",
        expected=["2024-10-26T12:34:56.250000+02:00", "2024-10-28T07:30:00+01:00",
                  "2024-11-04T07:30:00+01:00"],
    ),
    case(
        "day/1 no start, after past the anchor: anchor does not fire again",
        rec("Day", 1, BERLIN, hours=(9,), minutes=(0,)),
        after="2024-03-30T15:20:00+01:00",
        anchor="2024-03-30T15:20:00+01:00",
        expected=["2024-03-31T09:00:00+02:00"],
    ),
    # -- start_time in the past or the future --------------------------------------------------
    case(
        "hour/1 start 2020-01-13T12:55 in the past: every hour at :55 (SDK remark)",
        rec("Hour", 1, W_EUROPE, "2020-01-13T12:55:00"),
        after="2024-06-01T10:00:00+02:00",
        expected=["2024-06-01T10:55:00+02:00", "2024-06-01T11:55:00+02:00",
                  "2024-06-01T12:55:00+02:00"],
    ),
    case(
        "hour/1 start 2020-01-13T12:55 in UTC (SDK remark)",
        rec("Hour", 1, "UTC", "2020-01-13T12:55:00"),
        after="2020-01-13T00:00:00+00:00",
        expected=["2020-01-13T12:55:00+00:00", "2020-01-13T13:55:00+00:00",
                  "2020-01-13T14:55:00+00:00"],
    ),
    case(
        "day/1 start in the past: next calculated time, no make-up",
        rec("Day", 1, LA, "2023-01-01T08:00:00"),
        after="2024-07-04T12:00:00-07:00",
        expected=["2024-07-05T08:00:00-07:00", "2024-07-06T08:00:00-07:00"],
    ),
    case(
        "day/3 start in the future: first fire is start_time",
        rec("Day", 3, SYDNEY, "2024-09-01T07:00:00"),
        after="2024-08-01T00:00:00+10:00",
        expected=["2024-09-01T07:00:00+10:00", "2024-09-04T07:00:00+10:00",
                  "2024-09-07T07:00:00+10:00"],
    ),
    case(
        "minute/30 start in the future keeps its seconds",
        rec("Minute", 30, "UTC", "2024-05-01T00:00:10"),
        after="2024-04-01T00:00:00+00:00",
        expected=["2024-05-01T00:00:10+00:00", "2024-05-01T00:30:10+00:00",
                  "2024-05-01T01:00:10+00:00"],
    ),
    case(
        "after == start_time: start_time does not fire again",
        rec("Day", 1, BERLIN, "2024-05-06T09:00:00"),
        after="2024-05-06T09:00:00+02:00",
        expected=["2024-05-07T09:00:00+02:00"],
    ),
    # -- patterns: never before start_time, a matching start_time does not fire -----------------
    case(
        "day/1 09:00 with start 09:00: first fire is the next day",
        rec("Day", 1, BERLIN, "2024-05-06T09:00:00", hours=(9,), minutes=(0,)),
        after="2024-05-01T00:00:00+02:00",
        expected=["2024-05-07T09:00:00+02:00", "2024-05-08T09:00:00+02:00",
                  "2024-05-09T09:00:00+02:00"],
    ),
    case(
        "week/1 Mon,Wed,Fri 09:00 with start Wed 10:00: not before start",
        rec("Week", 1, PACIFIC, "2024-05-08T10:00:00", hours=(9,), minutes=(0,),
            days=("Monday", "Wednesday", "Friday")),
        after="2024-01-01T00:00:00-08:00",
        expected=["2024-05-10T09:00:00-07:00", "2024-05-13T09:00:00-07:00",
                  "2024-05-15T09:00:00-07:00"],
    ),
    case(
        "day/1 09:00,12:00 with start 10:00: 12:00 the same day",
        rec("Day", 1, SYDNEY, "2024-06-03T10:00:00", hours=(9, 12), minutes=(0,)),
        after="2024-06-01T00:00:00+10:00",
        expected=["2024-06-03T12:00:00+10:00", "2024-06-04T09:00:00+10:00",
                  "2024-06-04T12:00:00+10:00"],
    ),
    # -- missing parts of the pattern come from start_time --------------------------------------
    case(
        "day/1 hours 8,20 without minutes: minute of start_time",
        rec("Day", 1, W_EUROPE, "2024-02-01T07:45:00", hours=(8, 20)),
        after="2024-02-01T00:00:00+01:00",
        expected=["2024-02-01T08:45:00+01:00", "2024-02-01T20:45:00+01:00",
                  "2024-02-02T08:45:00+01:00"],
    ),
    case(
        "week/1 07:15 without week days: weekday of start_time (Thursday)",
        rec("Week", 1, SYDNEY, "2024-02-01T12:00:00", hours=(7,), minutes=(15,)),
        after="2024-01-01T00:00:00+11:00",
        expected=["2024-02-08T07:15:00+11:00", "2024-02-15T07:15:00+11:00",
                  "2024-02-22T07:15:00+11:00"],
    ),
    case(
        "day/1 minutes 0,30 without hours: hour of start_time, Sydney fall-back fires once",
        rec("Day", 1, SYDNEY, "2024-04-06T02:10:00", minutes=(0, 30)),
        after="2024-04-06T00:00:00+11:00",
        expected=["2024-04-06T02:30:00+11:00", "2024-04-07T02:00:00+11:00",
                  "2024-04-07T02:30:00+11:00", "2024-04-08T02:00:00+10:00"],
    ),
    case(
        "day/1 06:00 with start 05:00:30: seconds of start_time",
        rec("Day", 1, "UTC", "2024-01-01T05:00:30", hours=(6,), minutes=(0,)),
        after="2024-01-01T00:00:00+00:00",
        expected=["2024-01-01T06:00:30+00:00", "2024-01-02T06:00:30+00:00"],
    ),
    # -- SDK remarks and Month ------------------------------------------------------------------
    case(
        "month/1 start 2019-11-01T09:00: 09:00 on the 1st (SDK remark)",
        rec("Month", 1, W_EUROPE, "2019-11-01T09:00:00"),
        after="2019-10-01T00:00:00+02:00",
        expected=["2019-11-01T09:00:00+01:00", "2019-12-01T09:00:00+01:00",
                  "2020-01-01T09:00:00+01:00"],
    ),
    case(
        "month/1 on the 1st across Berlin spring-forward: same wall time",
        rec("Month", 1, W_EUROPE, "2019-11-01T09:00:00"),
        after="2020-02-15T00:00:00+01:00",
        expected=["2020-03-01T09:00:00+01:00", "2020-04-01T09:00:00+02:00",
                  "2020-05-01T09:00:00+02:00"],
    ),
    case(
        "month/1 on the 31st skips Feb, Apr, Jun, Sep, Nov",
        rec("Month", 1, LA, "2024-01-31T09:00:00"),
        after="2024-01-01T00:00:00-08:00",
        expected=["2024-01-31T09:00:00-08:00", "2024-03-31T09:00:00-07:00",
                  "2024-05-31T09:00:00-07:00", "2024-07-31T09:00:00-07:00",
                  "2024-08-31T09:00:00-07:00", "2024-10-31T09:00:00-07:00",
                  "2024-12-31T09:00:00-08:00"],
    ),
    case(
        "month/1 on the 30th skips February",
        rec("Month", 1, SYDNEY, "2024-01-30T10:00:00"),
        after="2024-01-01T00:00:00+11:00",
        expected=["2024-01-30T10:00:00+11:00", "2024-03-30T10:00:00+11:00",
                  "2024-04-30T10:00:00+10:00"],
    ),
    case(
        "month/1 on the 31st at 02:30: Berlin gap day fires 03:30",
        rec("Month", 1, BERLIN, "2024-01-31T02:30:00"),
        after="2024-01-01T00:00:00+01:00",
        expected=["2024-01-31T02:30:00+01:00", "2024-03-31T03:30:00+02:00",
                  "2024-05-31T02:30:00+02:00"],
    ),
    case(
        "month/12 on Feb 29: leap years only, 2100 is not one",
        rec("Month", 12, BERLIN, "2000-02-29T12:00:00"),
        after="2092-03-01T00:00:00+01:00",
        expected=["2096-02-29T12:00:00+01:00", "2104-02-29T12:00:00+01:00"],
    ),
    case(
        "week/2 Mon,Wed 18:30: every second week (SDK remark)",
        rec("Week", 2, W_EUROPE, "2024-03-18T00:00:00", hours=(18,), minutes=(30,), days=MON_WED),
        after="2024-03-01T00:00:00+01:00",
        expected=["2024-03-18T18:30:00+01:00", "2024-03-20T18:30:00+01:00",
                  "2024-04-01T18:30:00+02:00", "2024-04-03T18:30:00+02:00",
                  "2024-04-15T18:30:00+02:00"],
    ),
    case(
        "week/2 Monday from a Thursday start: weeks count from the start week",
        rec("Week", 2, W_EUROPE, "2024-05-02T08:00:00", hours=(9,), minutes=(0,),
            days=("Monday",)),
        after="2024-05-01T00:00:00+02:00",
        expected=["2024-05-13T09:00:00+02:00", "2024-05-27T09:00:00+02:00",
                  "2024-06-10T09:00:00+02:00"],
    ),
    case(
        "week/1 no pattern across Berlin spring-forward: same wall time",
        rec("Week", 1, BERLIN, "2024-03-24T10:00:00"),
        after="2024-03-24T10:00:00+01:00",
        expected=["2024-03-31T10:00:00+02:00", "2024-04-07T10:00:00+02:00"],
    ),
    # -- Minute and Hour: constant UTC spacing through both DST changes -------------------------
    case(
        "hour/1 through Berlin fall-back: 02:00+02:00 then 02:00+01:00",
        rec("Hour", 1, BERLIN, "2024-10-26T00:00:00"),
        after="2024-10-27T01:30:00+02:00",
        expected=["2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00",
                  "2024-10-27T03:00:00+01:00"],
    ),
    case(
        "minute/30 through Berlin spring-forward",
        rec("Minute", 30, W_EUROPE, "2024-03-31T01:00:00"),
        after="2024-03-31T01:10:00+01:00",
        expected=["2024-03-31T01:30:00+01:00", "2024-03-31T03:00:00+02:00",
                  "2024-03-31T03:30:00+02:00"],
    ),
    case(
        "hour/1 through LA spring-forward",
        rec("Hour", 1, PACIFIC, "2024-03-01T00:00:00"),
        after="2024-03-10T00:30:00-08:00",
        expected=["2024-03-10T01:00:00-08:00", "2024-03-10T03:00:00-07:00",
                  "2024-03-10T04:00:00-07:00"],
    ),
    case(
        "hour/1 through LA fall-back: 01:00-07:00 then 01:00-08:00",
        rec("Hour", 1, LA, "2024-03-01T00:00:00"),
        after="2024-11-03T00:30:00-07:00",
        expected=["2024-11-03T01:00:00-07:00", "2024-11-03T01:00:00-08:00",
                  "2024-11-03T02:00:00-08:00"],
    ),
    case(
        "hour/1 through Sydney fall-back: 02:00+11:00 then 02:00+10:00",
        rec("Hour", 1, SYDNEY, "2024-01-01T00:00:00"),
        after="2024-04-07T01:30:00+11:00",
        expected=["2024-04-07T02:00:00+11:00", "2024-04-07T02:00:00+10:00",
                  "2024-04-07T03:00:00+10:00"],
    ),
    case(
        "hour/1 through Sydney spring-forward",
        rec("Hour", 1, AUS_EASTERN, "2024-01-01T00:00:00"),
        after="2024-10-06T01:30:00+10:00",
        expected=["2024-10-06T03:00:00+11:00", "2024-10-06T04:00:00+11:00",
                  "2024-10-06T05:00:00+11:00"],
    ),
    case(
        "minute/45 through Sydney fall-back: 45 real minutes apart",
        rec("Minute", 45, SYDNEY, "2024-04-07T01:00:00"),
        after="2024-04-07T01:00:00+11:00",
        expected=["2024-04-07T01:45:00+11:00", "2024-04-07T02:30:00+11:00",
                  "2024-04-07T02:15:00+10:00", "2024-04-07T03:00:00+10:00"],
    ),
    # -- Day across DST: wall clock; a missing time fires at +1 h, a repeated one once ----------
    case(
        "day/1 02:30 Berlin spring-forward: 03:30+02:00",
        rec("Day", 1, BERLIN, "2024-03-29T02:30:00"),
        after="2024-03-29T12:00:00+01:00",
        expected=["2024-03-30T02:30:00+01:00", "2024-03-31T03:30:00+02:00",
                  "2024-04-01T02:30:00+02:00"],
    ),
    case(
        "day/1 02:30 Berlin fall-back: once, at the first 02:30",
        rec("Day", 1, BERLIN, "2024-10-25T02:30:00"),
        after="2024-10-26T12:00:00+02:00",
        expected=["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"],
    ),
    case(
        "day/1 02:30 LA spring-forward: 03:30-07:00",
        rec("Day", 1, PACIFIC, "2024-03-08T02:30:00"),
        after="2024-03-09T12:00:00-08:00",
        expected=["2024-03-10T03:30:00-07:00", "2024-03-11T02:30:00-07:00"],
    ),
    case(
        "day/1 01:30 LA fall-back: once, at the first 01:30",
        rec("Day", 1, LA, "2024-11-01T01:30:00"),
        after="2024-11-02T12:00:00-07:00",
        expected=["2024-11-03T01:30:00-07:00", "2024-11-04T01:30:00-08:00"],
    ),
    case(
        "day/1 02:30 Sydney spring-forward: 03:30+11:00",
        rec("Day", 1, AUS_EASTERN, "2024-10-04T02:30:00"),
        after="2024-10-05T12:00:00+10:00",
        expected=["2024-10-06T03:30:00+11:00", "2024-10-07T02:30:00+11:00"],
    ),
    case(
        "day/1 02:30 Sydney fall-back: once, at the first 02:30",
        rec("Day", 1, SYDNEY, "2024-04-05T02:30:00"),
        after="2024-04-06T12:00:00+11:00",
        expected=["2024-04-07T02:30:00+11:00", "2024-04-08T02:30:00+10:00"],
    ),
    case(
        "day/1 hours 2,3 minute 30 on Berlin gap day: 02:30 and 03:30 are one instant",
        rec("Day", 1, BERLIN, "2024-03-30T00:00:00", hours=(2, 3), minutes=(30,)),
        after="2024-03-30T12:00:00+01:00",
        expected=["2024-03-31T03:30:00+02:00", "2024-04-01T02:30:00+02:00",
                  "2024-04-01T03:30:00+02:00"],
    ),
    case(
        "day/1 hours 2,3 minute 30 on Sydney gap day: fires 03:30 once",
        rec("Day", 1, SYDNEY, "2024-10-05T00:00:00", hours=(2, 3), minutes=(30,)),
        after="2024-10-05T12:00:00+10:00",
        expected=["2024-10-06T03:30:00+11:00", "2024-10-07T02:30:00+11:00",
                  "2024-10-07T03:30:00+11:00"],
    ),
    case(
        "day/1 hours 2,3 minutes 0,30 on Berlin gap day: UTC order, not wall order",
        rec("Day", 1, BERLIN, "2024-03-30T00:00:00", hours=(2, 3), minutes=(0, 30)),
        after="2024-03-31T00:30:00+01:00",
        expected=["2024-03-31T03:00:00+02:00", "2024-03-31T03:30:00+02:00",
                  "2024-04-01T02:00:00+02:00", "2024-04-01T02:30:00+02:00"],
    ),
    case(
        "02:30 wall is after 03:10 wall on the gap day (01:30Z > 01:10Z)",
        rec("Day", 1, BERLIN, "2024-03-01T00:00:00", hours=(2,), minutes=(30,)),
        after="2024-03-31T03:10:00+02:00",
        expected=["2024-03-31T03:30:00+02:00", "2024-04-01T02:30:00+02:00"],
    ),
    case(
        "start 03:10 on the gap day, pattern 02:30: fires that day (after start in UTC)",
        rec("Day", 1, BERLIN, "2024-03-31T03:10:00", hours=(2,), minutes=(30,)),
        after="2024-03-01T00:00:00+01:00",
        expected=["2024-03-31T03:30:00+02:00", "2024-04-01T02:30:00+02:00"],
    ),
    # -- far from start: computed by jumping, not by walking from 2000 --------------------------
    case(
        "minute/1 start 2000, after 2090",
        rec("Minute", 1, BERLIN, "2000-01-01T00:00:00"),
        after="2090-06-15T12:34:56+02:00",
        expected=["2090-06-15T12:35:00+02:00", "2090-06-15T12:36:00+02:00"],
    ),
    case(
        "day/3 start 2000, after 2090",
        rec("Day", 3, LA, "2000-01-01T06:00:00"),
        after="2090-01-01T00:00:00-08:00",
        expected=["2090-01-02T06:00:00-08:00", "2090-01-05T06:00:00-08:00"],
    ),
    case(
        "week/4 Friday 09:00 start 2000, after 2090",
        rec("Week", 4, BERLIN, "2000-01-03T00:00:00", hours=(9,), minutes=(0,),
            days=("Friday",)),
        after="2090-01-01T00:00:00+01:00",
        expected=["2090-01-06T09:00:00+01:00", "2090-02-03T09:00:00+01:00"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("recurrence", "after", "expected", "anchor"), CASES)
def test_fire_times(
    recurrence: Recurrence, after: str, expected: list[str], anchor: str | None
) -> None:
    times = recurrence.fire_times(at(after), len(expected), anchor=at(anchor) if anchor else None)
    assert local(recurrence, times) == expected
    assert all(t.tzinfo is UTC for t in times)


@pytest.mark.parametrize(("recurrence", "after", "expected", "anchor"), CASES)
def test_next_fire_after_is_the_first_fire_time(
    recurrence: Recurrence, after: str, expected: list[str], anchor: str | None
) -> None:
    first = recurrence.next_fire_after(at(after), anchor=at(anchor) if anchor else None)
    assert first == at(expected[0])


# -- a naive oracle: every candidate of every day from the start, sorted in UTC ---------------


def oracle(recurrence: Recurrence, days: int) -> list[datetime]:
    """The pattern's fires over ``days`` days from start_time, by brute force."""
    assert recurrence.start_time is not None
    zone, start = recurrence.zone, recurrence.start_time
    start_utc = start.replace(tzinfo=zone).astimezone(UTC)
    hours = recurrence.hours if recurrence.hours is not None else (start.hour,)
    minutes = recurrence.minutes if recurrence.minutes is not None else (start.minute,)
    week_days = recurrence.week_days or (WEEK_DAYS[start.weekday()],)
    first_monday = start.date() - timedelta(days=start.weekday())
    fires = set()
    for n in range(days):
        day = start.date() + timedelta(days=n)
        if recurrence.frequency == Frequency.DAY:
            if n % recurrence.interval:
                continue
        elif WEEK_DAYS[day.weekday()] not in week_days or (
            (day - first_monday).days // 7 % recurrence.interval
        ):
            continue
        for h in hours:
            for m in minutes:
                wall = datetime.combine(day, time(h, m, start.second))
                fires.add(wall.replace(tzinfo=zone).astimezone(UTC))
    return sorted(t for t in fires if t > start_utc)


@pytest.mark.parametrize(
    "recurrence",
    [
        rec("Day", 1, BERLIN, "2024-01-01T03:00:00", hours=(2, 3), minutes=(0, 30)),
        rec("Day", 3, SYDNEY, "2024-01-02T02:30:00", hours=(2,), minutes=(30, 59)),
        rec("Day", 1, PACIFIC, "2024-01-05T23:00:00", hours=(0, 1, 2, 23), minutes=(0, 30)),
        rec("Week", 2, LA, "2024-01-04T18:30:00", hours=(1, 18), minutes=(30,), days=MON_WED),
        rec("Week", 4, AUS_EASTERN, "2024-01-07T02:00:00", minutes=(15, 45), days=("Sunday",)),
        rec("Week", 1, "UTC", "2024-01-01T12:00:00", hours=(0, 12)),
    ],
    ids=lambda r: r.describe(),
)
def test_patterns_match_a_brute_force_oracle_over_a_year(recurrence: Recurrence) -> None:
    assert recurrence.start_time is not None
    begin = recurrence.start_time.replace(tzinfo=recurrence.zone) - timedelta(days=1)
    expected = oracle(recurrence, 380)
    assert recurrence.fire_times_between(begin, expected[-1]) == expected


# -- edges -------------------------------------------------------------------------------------


def test_fire_times_between_is_start_exclusive_end_inclusive() -> None:
    recurrence = rec("Minute", 1, BERLIN, "2024-03-31T00:00:00")
    times = recurrence.fire_times_between(
        at("2024-03-31T00:00:00+01:00"), at("2024-04-01T00:00:00+02:00")
    )
    assert len(times) == 23 * 60  # the gap day has 23 hours
    assert times[0] == at("2024-03-31T00:01:00+01:00")
    assert times[-1] == at("2024-04-01T00:00:00+02:00")


def test_fire_times_between_refuses_more_than_100000_items() -> None:
    recurrence = rec("Minute", 1, "UTC", "2024-01-01T00:00:00")
    with pytest.raises(ValueError, match="more than 100000 fire times"):
        recurrence.fire_times_between(at("2024-01-01T00:00:00Z"), at("2024-03-15T00:00:00Z"))


def test_fire_times_between_with_anchor_includes_the_anchor() -> None:
    recurrence = rec("Hour", 6, BERLIN)
    anchor = at("2024-05-01T10:00:00+02:00")
    times = recurrence.fire_times_between(
        anchor - timedelta(seconds=1), at("2024-05-02T00:00:00+02:00"), anchor=anchor
    )
    assert local(recurrence, times) == ["2024-05-01T10:00:00+02:00", "2024-05-01T16:00:00+02:00",
                                        "2024-05-01T22:00:00+02:00"]  # fmt: skip


def test_a_series_past_year_9999_ends() -> None:
    recurrence = rec("Month", 1, BERLIN, "9999-12-01T00:00:00")
    assert recurrence.next_fire_after(at("9999-12-01T12:00:00+01:00")) is None


def test_empty_hours_never_fire() -> None:
    recurrence = rec("Day", 1, BERLIN, "2024-01-01T00:00:00", hours=())
    assert recurrence.next_fire_after(at("2024-01-01T00:00:00+01:00")) is None


INVALID = [
    (rec("Day", 1, BERLIN, "2024-01-01T00:00:00"), datetime(2024, 1, 1), None, "after must"),
    (rec("Day", 1, BERLIN), at("2024-01-01T00:00:00Z"), None, "needs an anchor"),
    (rec("Day", 1, BERLIN), at("2024-01-01T00:00:00Z"), datetime(2024, 1, 1), "anchor must"),
    (rec("Hour", 1, BERLIN, "2024-01-01T00:00:00", hours=(1,)), at("2024-01-01T00:00:00Z"),
     None, "need Day, Week or Month"),
]  # fmt: skip


@pytest.mark.parametrize(("recurrence", "after", "anchor", "message"), INVALID)
def test_invalid_arguments_raise(
    recurrence: Recurrence, after: datetime, anchor: datetime | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        recurrence.next_fire_after(after, anchor=anchor)


@pytest.mark.parametrize(
    ("recurrence", "period"),
    [
        (rec("Minute", 15, BERLIN), timedelta(minutes=15)),
        (rec("Hour", 2, BERLIN), timedelta(hours=2)),
        (rec("Day", 1, BERLIN), timedelta(days=1)),
        (rec("Week", 2, BERLIN), timedelta(days=14)),
        (rec("Month", 1, BERLIN), timedelta(days=31)),
    ],
)
def test_period(recurrence: Recurrence, period: timedelta) -> None:
    assert recurrence.period == period


DESCRIPTIONS = [
    (rec("Week", 2, W_EUROPE, hours=(18,), minutes=(30,), days=MON_WED),
     "every 2 weeks on Monday, Wednesday at 18:30 (W. Europe Standard Time)"),
    (rec("Hour", 1, "UTC", "2020-01-13T12:55:00"),
     "every hour from 2020-01-13 12:55:00 (UTC)"),
    (rec("Day", 1, BERLIN, "2024-02-01T07:45:00", hours=(8, 20)),
     "every day at 08:45, 20:45 from 2024-02-01 07:45:00 (Europe/Berlin)"),
    (rec("Week", 1, SYDNEY, "2024-02-01T12:00:00", hours=(7,), minutes=(15,)),
     "every week on Thursday at 07:15 from 2024-02-01 12:00:00 (Australia/Sydney)"),
    (rec("Day", 1, BERLIN, hours=(6, 18)), "every day at hours 6, 18 (Europe/Berlin)"),
    (rec("Minute", 5, PACIFIC), "every 5 minutes (Pacific Standard Time)"),
    # Three days or more in a row are a span, in week order whatever the config's order.
    (rec("Week", 1, W_EUROPE, hours=(7,), minutes=(30,),
         days=("Friday", "Monday", "Tuesday", "Wednesday", "Thursday")),
     "every week on Monday through Friday at 07:30 (W. Europe Standard Time)"),
    (rec("Week", 1, BERLIN, hours=(9,), minutes=(0,),
         days=("Sunday", "Saturday", "Wednesday", "Monday", "Tuesday")),
     "every week on Monday through Wednesday, Saturday, Sunday at 09:00 (Europe/Berlin)"),
]  # fmt: skip


@pytest.mark.parametrize(("recurrence", "text"), DESCRIPTIONS)
def test_describe(recurrence: Recurrence, text: str) -> None:
    assert recurrence.describe() == text


def test_oracle_helper_sanity() -> None:
    # The oracle itself: Day/2 at 09:00 from a 10:00 start fires on day 2, 4, ...
    recurrence = rec("Day", 2, BERLIN, "2024-01-01T10:00:00", hours=(9,), minutes=(0,))
    assert [t.date() for t in oracle(recurrence, 5)] == [date(2024, 1, 3), date(2024, 1, 5)]
