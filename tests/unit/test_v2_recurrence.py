"""When an Azure ML v2 recurrence fires, and what its trigger may say (azure-ai-ml's
``RecurrenceTrigger``/``RecurrencePattern``; Microsoft's "Schedule machine learning pipeline jobs").

Each case is a v2 ``trigger:`` mapping as a file writes it, the instant after which to look, and
the next fire times in the schedule's zone with their offsets. DST dates used:
Europe/Berlin 2024: 03-31 02:00 -> 03:00 (gap), 10-27 03:00 -> 02:00 (02:xx twice).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from triggerd.config.azureml_v2_trigger import cron_mapping, parse_v2_recurrence
from triggerd.config.problems import Invalid
from triggerd.recurrence import Frequency

BERLIN = "W. Europe Standard Time"


def trigger(frequency: str, interval: int = 1, **keys: Any) -> dict[str, Any]:
    return {"type": "recurrence", "frequency": frequency, "interval": interval, **keys}


def fires(spec: dict[str, Any], after: str, count: int) -> list[str]:
    recurrence = parse_v2_recurrence(spec)
    start = datetime.fromisoformat(after).astimezone(UTC)
    anchor = None
    if recurrence.start_time is None:  # first seen at ``after``: that moment fires itself
        anchor, start = start, start - timedelta(microseconds=1)
    return [
        t.astimezone(recurrence.zone).isoformat()
        for t in recurrence.fire_times(start, count, anchor=anchor)
    ]


CASES = [
    pytest.param(
        trigger(
            "month",
            schedule={"hours": 9, "minutes": 0, "month_days": [31]},
            start_time="2024-01-01T00:00:00",
            time_zone=BERLIN,
        ),
        "2024-01-01T00:00:00+01:00",
        [
            "2024-01-31T09:00:00+01:00",
            "2024-03-31T09:00:00+02:00",  # the spring-forward day; 09:00 is after the gap
            "2024-05-31T09:00:00+02:00",
            "2024-07-31T09:00:00+02:00",
        ],
        id="day 31 skips the months without one",
    ),
    pytest.param(
        trigger(
            "month",
            schedule={"hours": [6], "minutes": [15], "month_days": [1, 29, 30]},
            start_time="2024-01-15T00:00:00",
            time_zone=BERLIN,
        ),
        "2024-01-15T00:00:00+01:00",
        [
            "2024-01-29T06:15:00+01:00",
            "2024-01-30T06:15:00+01:00",
            "2024-02-01T06:15:00+01:00",
            "2024-02-29T06:15:00+01:00",  # 2024 is a leap year; no Feb 30
            "2024-03-01T06:15:00+01:00",
        ],
        id="several month days, Feb 30 skipped",
    ),
    pytest.param(
        trigger(
            "month",
            2,
            schedule={"hours": 12, "minutes": 0},
            start_time="2024-01-10T08:00:00",
            time_zone=BERLIN,
        ),
        "2024-01-01T00:00:00+01:00",
        ["2024-01-10T12:00:00+01:00", "2024-03-10T12:00:00+01:00", "2024-05-10T12:00:00+02:00"],
        id="every 2 months on start_time's day at the pattern's time",
    ),
    pytest.param(
        trigger(
            "week",
            schedule={"hours": [9, 17], "minutes": [0], "week_days": ["monday", "friday"]},
            start_time="2024-03-25T00:00:00",
            time_zone=BERLIN,
        ),
        "2024-03-28T00:00:00+01:00",
        [
            "2024-03-29T09:00:00+01:00",
            "2024-03-29T17:00:00+01:00",
            "2024-04-01T09:00:00+02:00",  # after the spring-forward Sunday: summer time
            "2024-04-01T17:00:00+02:00",
        ],
        id="week with hours and week days across spring forward",
    ),
    pytest.param(
        trigger(
            "month",
            schedule={"hours": 2, "minutes": 30, "week_days": ["Sunday"]},
            start_time="2024-03-01T00:00:00",
            time_zone=BERLIN,
        ),
        "2024-03-20T00:00:00+01:00",
        [
            "2024-03-24T02:30:00+01:00",
            "2024-03-31T03:30:00+02:00",  # 02:30 is in the gap: the offset before it (RFC 5545)
            "2024-04-07T02:30:00+02:00",
        ],
        id="month with week days: every Sunday, spring-forward gap",
    ),
    pytest.param(
        trigger(
            "month",
            schedule={"hours": [2], "minutes": [30], "week_days": "sunday"},
            start_time="2024-10-01T00:00:00",
            time_zone=BERLIN,
        ),
        "2024-10-26T00:00:00+02:00",
        ["2024-10-27T02:30:00+02:00", "2024-11-03T02:30:00+01:00"],  # the repeated 02:30: once
        id="month with week days: fall back fires the first 02:30 only",
    ),
    pytest.param(
        trigger("day", schedule={"hours": [2], "minutes": [30]}, time_zone="Europe/Berlin"),
        "2024-03-30T12:00:00+01:00",
        ["2024-03-30T12:00:00+01:00", "2024-03-31T03:30:00+02:00", "2024-04-01T02:30:00+02:00"],
        id="no start_time: the first run at once, then the pattern",
    ),
    pytest.param(
        trigger(
            "day",
            start_time="2024-03-30T10:15:00-04:00",  # 14:15 UTC = 15:15 in Berlin (CET)
            time_zone=BERLIN,
        ),
        "2024-03-29T00:00:00+00:00",
        ["2024-03-30T15:15:00+01:00", "2024-03-31T15:15:00+02:00", "2024-04-01T15:15:00+02:00"],
        id="start_time with an offset: that instant, as wall time in time_zone",
    ),
    pytest.param(
        trigger(
            "day",
            schedule={"hours": 9, "minutes": 0},
            start_time="2024-01-01T00:00:00",
            end_time="2024-01-03T09:00:00",
            time_zone=BERLIN,
        ),
        "2024-01-01T00:00:00+01:00",
        ["2024-01-01T09:00:00+01:00", "2024-01-02T09:00:00+01:00", "2024-01-03T09:00:00+01:00"],
        id="end_time: a slot exactly at it fires, none after it",
    ),
    pytest.param(
        trigger(
            "minute",
            15,
            start_time="2024-10-27T02:00:00+02:00",
            end_time="2024-10-27T02:30:00+01:00",  # the second 02:30, an hour and a half later
            time_zone=BERLIN,
        ),
        "2024-10-27T01:00:00+02:00",
        [
            "2024-10-27T02:00:00+02:00",
            "2024-10-27T02:15:00+02:00",
            "2024-10-27T02:30:00+02:00",
        ],
        id="end_time with an offset, read as wall time in the zone: the first 02:30",
    ),
    pytest.param(
        trigger("hour", 6, start_time="2024-01-01T00:00:00", end_time="2024-01-01T12:00:00"),
        "2023-12-31T00:00:00+00:00",
        ["2024-01-01T00:00:00+00:00", "2024-01-01T06:00:00+00:00", "2024-01-01T12:00:00+00:00"],
        id="UTC by default; an hour series ends at end_time",
    ),
]


@pytest.mark.parametrize(("spec", "after", "expected"), CASES)
def test_v2_recurrence_fires(spec: dict[str, Any], after: str, expected: list[str]) -> None:
    assert fires(spec, after, len(expected) + 1)[: len(expected)] == expected
    if "end_time" in spec:  # and nothing after it, ever
        assert fires(spec, after, len(expected) + 5) == expected


def test_frequency_and_week_days_in_any_letter_case() -> None:
    recurrence = parse_v2_recurrence(
        trigger("Week", schedule={"hours": 1, "minutes": 0, "week_days": ["MONDAY", "friday"]})
    )
    assert recurrence.frequency == Frequency.WEEK
    assert recurrence.week_days == ("Monday", "Friday")


def test_empty_pattern_lists_mean_from_start_time() -> None:
    """The SDK sends ``hours: [], minutes: []`` for a trigger without a pattern."""
    spec = trigger("day", schedule={"hours": [], "minutes": []}, start_time="2024-01-01T07:45:00")
    recurrence = parse_v2_recurrence(spec)
    assert recurrence.hours is None and recurrence.minutes is None
    assert fires(spec, "2024-01-01T08:00:00+00:00", 1) == ["2024-01-02T07:45:00+00:00"]


def problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        parse_v2_recurrence(spec)
    return [(".".join(map(str, each.key)), each.message) for each in caught.value.each()]


NOT_ISO = (
    "Not a valid ISO8601-formatted datetime string (e.g. '2024-01-01T09:00:00' or, with an "
    "offset, '2024-01-01T09:00:00+01:00')"
)
REFUSED = [
    pytest.param(
        {"type": "recurrence"},
        [
            ("frequency", "Missing data for required field."),
            ("interval", "Missing data for required field."),
        ],
        id="frequency and interval are required",
    ),
    pytest.param(
        trigger("Daily"),
        [
            (
                "frequency",
                "Value 'Daily' passed is not in set ['minute', 'hour', 'day', 'week', 'month']",
            )
        ],
        id="frequency not in the set",
    ),
    pytest.param(
        trigger("day", 0), [("interval", "Interval must be an integer greater than 0.")], id="0"
    ),
    pytest.param(
        trigger("day", 1.5),  # type: ignore[arg-type]
        [("interval", "Not a valid integer. (interval is 1.5)")],
        id="interval a float",
    ),
    pytest.param(
        trigger("day", schedule={"hours": [9]}),
        [("schedule.minutes", "Missing data for required field.")],
        id="a pattern needs minutes",
    ),
    pytest.param(
        trigger("week", schedule={"hours": [24], "minutes": [60], "week_days": ["funday"]}),
        [
            ("schedule.hours.0", "Hours must be between 0 and 23."),
            ("schedule.minutes.0", "Minutes must be between 0 and 59."),
            (
                "schedule.week_days.0",
                "Value 'funday' passed is not in set ['monday', 'tuesday', 'wednesday', "
                "'thursday', 'friday', 'saturday', 'sunday']",
            ),
        ],
        id="every value out of range, at once",
    ),
    pytest.param(
        trigger("month", schedule={"hours": 1, "minutes": 0, "month_days": [0, 32]}),
        [
            ("schedule.month_days.0", "Month days must be between 1 and 31."),
            ("schedule.month_days.1", "Month days must be between 1 and 31."),
        ],
        id="month days 1 to 31",
    ),
    pytest.param(
        trigger("day", schedule={"hours": 1, "minutes": 0, "week_days": "monday"}),
        [("schedule.week_days", "week_days can only be given with frequency week or month")],
        id="week days not with day",
    ),
    pytest.param(
        trigger("week", schedule={"hours": 1, "minutes": 0, "month_days": 1}),
        [("schedule.month_days", "month_days can only be given with frequency month")],
        id="month days only with month",
    ),
    pytest.param(
        trigger(
            "month", schedule={"hours": 1, "minutes": 0, "month_days": 1, "week_days": "monday"}
        ),
        [("schedule.month_days", "give month_days or week_days, not both")],
        id="month days or week days",
    ),
    pytest.param(
        trigger("hour", schedule={"hours": 1, "minutes": 0}),
        [
            (
                "schedule",
                "a schedule (hours, minutes, ...) needs frequency day, week or month",
            )
        ],
        id="no pattern for minute and hour",
    ),
    pytest.param(
        trigger("day", start_time="yesterday", end_time="2024-13-01T00:00:00"),
        [("start_time", NOT_ISO), ("end_time", NOT_ISO)],
        id="times must be ISO 8601",
    ),
    pytest.param(
        trigger("day", start_time="2024-02-01T00:00:00", end_time="2024-01-01T00:00:00"),
        [("end_time", "end_time is before start_time: the schedule would never fire")],
        id="end before start",
    ),
    pytest.param(
        trigger("day", timezone="UTC"),
        [
            (
                "timezone",
                "unknown key 'timezone' (did you mean 'time_zone'?) (azure-ai-ml: Unknown field.)",
            )
        ],
        id="an unknown key, as azure-ai-ml refuses it",
    ),
    pytest.param(
        trigger("day", time_zone="PST"),
        [
            (
                "time_zone",
                "Time zone is not a valid TimeZone enum. 'PST' is neither a Windows zone ID nor "
                'an IANA name: did you mean "Pacific Standard Time" (America/Los_Angeles)?',
            )
        ],
        id="an unknown time zone names the likely one",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), REFUSED)
def test_v2_recurrence_refused(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems(spec) == expected


def test_cron_trigger_becomes_the_native_cron_mapping() -> None:
    mapping = cron_mapping(
        {
            "type": "cron",
            "expression": "0 2 * * 1-5",
            "start_time": "2024-03-30T10:15:00-04:00",
            "end_time": "2024-12-31T00:00:00",
            "time_zone": BERLIN,
        }
    )
    assert mapping == {
        "expression": "0 2 * * 1-5",
        "start_time": "2024-03-30T15:15:00",  # the offset read as wall time in the zone
        "end_time": "2024-12-31T00:00:00",
        "time_zone": BERLIN,
    }


def test_cron_trigger_needs_an_expression_and_knows_its_keys() -> None:
    with pytest.raises(Invalid) as caught:
        cron_mapping({"type": "cron", "frequency": "day"})
    found = [(each.key, each.message) for each in caught.value.each()]
    assert found == [
        (("frequency",), "unknown key 'frequency' (azure-ai-ml: Unknown field.)"),
        (("expression",), "Missing data for required field."),
    ]
