"""When a cron expression fires: cron's own field semantics, and triggerd's wall clock.

The fields are checked against what cron means, not against what the library (cronsim) says:
the expected days are written out by hand. DST dates used (2026):

- Europe/Berlin: 03-29 02:00 -> 03:00 (gap), 10-25 03:00 -> 02:00 (02:xx twice).
- America/New_York: 03-08 02:00 -> 03:00 (gap), 11-01 02:00 -> 01:00 (01:xx twice).

2026-06-01 is a Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triggerd.config.triggers import CatchupPolicy
from triggerd.cron import CronError, CronTimetable, check_expression
from triggerd.engine.planner import plan_time_fires

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def at(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def local(cron: CronTimetable, instants: list[datetime]) -> list[str]:
    return [t.astimezone(cron.zone).isoformat() for t in instants]


def days_fired(expression: str, first: str = "2026-06-01", days: int = 14) -> list[str]:
    """The days (``Mon 01``) on which ``expression`` fires at least once, in UTC."""
    cron = CronTimetable(expression)
    start = at(f"{first}T00:00:00+00:00") - timedelta(microseconds=1)
    fires = cron.fire_times_between(start, start + timedelta(days=days))
    return sorted({t.strftime("%a %d") for t in fires}, key=lambda d: d[-2:])


# --- the fields, as cron reads them -----------------------------------------------------------

MON_TO_FRI = ["Mon 01", "Tue 02", "Wed 03", "Thu 04", "Fri 05"]
SUNDAYS = ["Sun 07", "Sun 14"]


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("0", SUNDAYS),  # 0 is Sunday
        ("7", SUNDAYS),  # and so is 7
        ("0,7", SUNDAYS),  # once, not twice
        ("1", ["Mon 01", "Mon 08"]),
        ("1-5", [*MON_TO_FRI, "Mon 08", "Tue 09", "Wed 10", "Thu 11", "Fri 12"]),
        ("mon-fri", [*MON_TO_FRI, "Mon 08", "Tue 09", "Wed 10", "Thu 11", "Fri 12"]),
        ("MON-Fri", [*MON_TO_FRI, "Mon 08", "Tue 09", "Wed 10", "Thu 11", "Fri 12"]),
        ("sat,sun", ["Sat 06", "Sun 07", "Sat 13", "Sun 14"]),
        ("6,0", ["Sat 06", "Sun 07", "Sat 13", "Sun 14"]),
        ("5-7", ["Fri 05", "Sat 06", "Sun 07", "Fri 12", "Sat 13", "Sun 14"]),
        ("*/2", ["Tue 02", "Thu 04", "Sat 06", "Sun 07", "Tue 09", "Thu 11", "Sat 13", "Sun 14"]),
        ("1-5/2", ["Mon 01", "Wed 03", "Fri 05", "Mon 08", "Wed 10", "Fri 12"]),
        ("sun", SUNDAYS),
        ("wed", ["Wed 03", "Wed 10"]),
    ],
)
def test_days_of_week_mean_what_cron_means(field: str, days: list[str]) -> None:
    assert days_fired(f"0 12 * * {field}") == days


def test_the_azure_ml_documentation_example_is_monday_at_16_15() -> None:
    cron = CronTimetable("15 16 * * 1")
    fires = cron.fire_times(at("2026-06-01T00:00:00+00:00"), 2)
    assert [t.isoformat() for t in fires] == [
        "2026-06-01T16:15:00+00:00",
        "2026-06-08T16:15:00+00:00",
    ]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", "2026-06-01T10:00:00", ["10:15", "10:30", "10:45", "11:00"]),
        ("5/15 * * * *", "2026-06-01T10:00:00", ["10:05", "10:20", "10:35", "10:50"]),
        ("0 8-18/4 * * *", "2026-06-01T00:00:00", ["08:00", "12:00", "16:00", "08:00"]),
        ("0,30 9 * * *", "2026-06-01T00:00:00", ["09:00", "09:30", "09:00", "09:30"]),
        ("10-12 0 * * *", "2026-06-01T00:00:00", ["00:10", "00:11", "00:12", "00:10"]),
        ("0 */6 * * *", "2026-06-01T00:00:00", ["06:00", "12:00", "18:00", "00:00"]),
        ("* * * * *", "2026-06-01T23:58:30", ["23:59", "00:00", "00:01", "00:02"]),
    ],
)
def test_steps_ranges_and_lists(expression: str, after: str, expected: list[str]) -> None:
    fires = CronTimetable(expression).fire_times(at(after + "+00:00"), 4)
    assert [t.strftime("%H:%M") for t in fires] == expected


@pytest.mark.parametrize(
    ("expression", "dates"),
    [
        ("0 0 1 jan,jul *", ["2026-07-01", "2027-01-01", "2027-07-01"]),
        ("0 0 1 */3 *", ["2026-07-01", "2026-10-01", "2027-01-01"]),
        ("0 0 1 JUN-aug *", ["2026-06-01", "2026-07-01", "2026-08-01"]),
        ("0 0 31 * *", ["2026-07-31", "2026-08-31", "2026-10-31"]),  # months without: none
        ("0 0 29 2 *", ["2028-02-29", "2032-02-29", "2036-02-29"]),
    ],
)
def test_days_and_months_are_honoured(expression: str, dates: list[str]) -> None:
    """Azure ML reads DAYS and MONTHS as *; triggerd reads them as cron does."""
    fires = CronTimetable(expression).fire_times(at("2026-05-31T12:00:00+00:00"), 3)
    assert [t.date().isoformat() for t in fires] == dates


def test_restricted_days_and_week_days_fire_on_either() -> None:
    """Vixie cron: with both DAYS and DAYS-OF-WEEK restricted, a day matching either fires."""
    assert days_fired("0 9 1,15 * mon", days=20) == ["Mon 01", "Mon 08", "Mon 15"]
    assert days_fired("0 9 13 * fri", days=20) == ["Fri 05", "Fri 12", "Sat 13", "Fri 19"]


def test_a_day_field_starting_with_a_star_counts_as_unrestricted() -> None:
    """``*/2`` in DAYS (the odd days) and a week day: both must match, as in Vixie cron."""
    assert days_fired("0 9 */2 * mon", days=31) == ["Mon 01", "Mon 15", "Mon 29"]
    assert days_fired("0 9 * * mon", days=14) == ["Mon 01", "Mon 08"]


# --- the wall clock and DST -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # A time in the spring gap takes the offset before it: 02:30 -> 03:30 CEST.
        (
            "30 2 * * *",
            BERLIN,
            "2026-03-28T00:00:00+01:00",
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        # 02:00 (in the gap) and 03:00 are the same instant on the spring day: one fire.
        (
            "0 2,3 * * *",
            BERLIN,
            "2026-03-29T00:00:00+01:00",
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T03:00:00+02:00"],
        ),
        # A repeated time fires once, at its first occurrence.
        (
            "30 2 * * *",
            BERLIN,
            "2026-10-24T12:00:00+02:00",
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
        (
            "30 2 * * *",
            NEW_YORK,
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
        (
            "30 1 * * *",
            NEW_YORK,
            "2026-10-31T12:00:00-04:00",
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
        # Weekday crons at the DST change: the spring and autumn days are Sundays.
        (
            "30 2 * * sun",
            BERLIN,
            "2026-03-22T12:00:00+01:00",
            ["2026-03-29T03:30:00+02:00", "2026-04-05T02:30:00+02:00"],
        ),
    ],
)
def test_wall_times_at_dst_changes(
    expression: str, zone: str, after: str, expected: list[str]
) -> None:
    cron = CronTimetable(expression, zone)
    assert local(cron, cron.fire_times(at(after), len(expected))) == expected


def test_every_15_minutes_across_the_spring_gap_in_berlin() -> None:
    """None of 02:00-02:45 exists; their instants are 03:00-03:45's: nothing doubled or lost."""
    cron = CronTimetable("*/15 * * * *", BERLIN)
    fires = cron.fire_times_between(
        at("2026-03-29T01:30:00+01:00"), at("2026-03-29T03:45:00+02:00")
    )
    assert local(cron, fires) == [
        "2026-03-29T01:45:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:15:00+02:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T03:45:00+02:00",
    ]


def test_every_15_minutes_fires_four_times_in_the_repeated_hour() -> None:
    cron = CronTimetable("*/15 * * * *", BERLIN)
    fires = cron.fire_times_between(
        at("2026-10-25T01:50:00+02:00"), at("2026-10-25T03:15:00+01:00")
    )
    assert local(cron, fires) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:15:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:45:00+02:00",
        # not 02:00-02:45 CET again: 75 minutes after 02:45 CEST comes 03:00 CET
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T03:15:00+01:00",
    ]


def test_every_15_minutes_in_new_yorks_repeated_hour() -> None:
    cron = CronTimetable("*/15 * * * *", NEW_YORK)
    fires = cron.fire_times(at("2026-11-01T00:50:00-04:00"), 6)
    assert local(cron, fires) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:15:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:45:00-04:00",
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T02:15:00-05:00",
    ]


@pytest.mark.parametrize(
    ("zone", "start", "end", "count"),
    [
        (BERLIN, "2026-03-29T00:00:00+00:00", "2026-03-29T02:00:00+00:00", 120),  # the gap
        (BERLIN, "2026-10-25T00:00:00+00:00", "2026-10-25T02:00:00+00:00", 60),  # repeated hour
        (NEW_YORK, "2026-03-08T06:00:00+00:00", "2026-03-08T08:00:00+00:00", 120),
        (NEW_YORK, "2026-11-01T05:00:00+00:00", "2026-11-01T07:00:00+00:00", 60),
    ],
)
def test_every_minute_across_dst(zone: str, start: str, end: str, count: int) -> None:
    """Every real minute fires once; the repeated hour's second pass fires nothing."""
    cron = CronTimetable("* * * * *", zone)
    fires = cron.fire_times_between(at(start), at(end))
    assert len(fires) == len(set(fires)) == count
    assert fires == sorted(fires)


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # just after Berlin's gap: 03:15 CEST, which is also the instant of 02:15 (in the gap)
        ("*/15 * * * *", BERLIN, "2026-03-29T03:10:00+02:00", "2026-03-29T03:15:00+02:00"),
        # 02:30 (in the gap, before 03:10 on the wall) fires at 03:30 CEST, after 03:10
        ("30 2 * * *", BERLIN, "2026-03-29T03:10:00+02:00", "2026-03-29T03:30:00+02:00"),
        # inside New York's repeated hour, second pass: its first pass has fired already
        ("*/15 * * * *", NEW_YORK, "2026-11-01T01:20:00-05:00", "2026-11-01T02:00:00-05:00"),
        ("*/15 * * * *", NEW_YORK, "2026-11-01T01:20:00-04:00", "2026-11-01T01:30:00-04:00"),
        ("30 1 * * *", NEW_YORK, "2026-11-01T01:20:00-05:00", "2026-11-02T01:30:00-05:00"),
    ],
)
def test_the_next_fire_from_inside_a_dst_change(
    expression: str, zone: str, after: str, expected: str
) -> None:
    cron = CronTimetable(expression, zone)
    moment = cron.next_fire_after(at(after))
    assert moment is not None
    assert moment.astimezone(cron.zone).isoformat() == expected


@pytest.mark.parametrize(
    ("expression", "zone", "start"),
    [
        ("*/15 * * * *", BERLIN, "2026-03-28T22:00:00+00:00"),
        ("*/15 * * * *", BERLIN, "2026-10-24T22:00:00+00:00"),
        ("0,30 1-3 * * *", NEW_YORK, "2026-03-07T12:00:00+00:00"),
        ("0,30 1-3 * * *", NEW_YORK, "2026-10-31T12:00:00+00:00"),
        ("*/7 2 * * *", BERLIN, "2026-03-28T12:00:00+00:00"),
    ],
)
def test_stepping_one_by_one_and_listing_a_range_agree(
    expression: str, zone: str, start: str
) -> None:
    cron = CronTimetable(expression, zone)
    stepped = cron.fire_times(at(start), 40)
    assert stepped == sorted(set(stepped))  # strictly increasing
    assert cron.fire_times_between(at(start), stepped[-1]) == stepped


def test_windows_zone_ids_work_like_their_iana_zone() -> None:
    windows = CronTimetable("30 2 * * *", "W. Europe Standard Time")
    iana = CronTimetable("30 2 * * *", BERLIN)
    after = at("2026-03-28T00:00:00+00:00")
    assert windows.fire_times(after, 3) == iana.fire_times(after, 3)


# --- bounds, anchor, period -------------------------------------------------------------------


def test_start_and_end_time_bound_the_slots_both_included() -> None:
    cron = CronTimetable(
        "0 * * * *",
        BERLIN,
        start_time=datetime(2026, 6, 1, 10, 0),
        end_time=datetime(2026, 6, 1, 12, 0),
    )
    fires = cron.fire_times(at("2026-06-01T00:00:00+02:00"), 10)
    assert local(cron, fires) == [
        "2026-06-01T10:00:00+02:00",
        "2026-06-01T11:00:00+02:00",
        "2026-06-01T12:00:00+02:00",
    ]
    between = cron.fire_times_between(
        at("2026-06-01T00:00:00+02:00"), at("2026-06-02T00:00:00+02:00")
    )
    assert between == fires
    assert cron.next_fire_after(at("2026-06-01T12:00:00+02:00")) is None
    assert not cron.ended(at("2026-06-01T11:59:59+02:00"))
    assert cron.ended(at("2026-06-01T12:00:00+02:00"))


def test_the_anchor_changes_nothing() -> None:
    """A cron has no phase: its slots do not depend on when the daemon first saw it."""
    cron = CronTimetable("*/15 * * * *", BERLIN)
    after = at("2026-06-01T10:07:00+02:00")
    for anchor in (None, at("2026-06-01T10:06:59+02:00"), at("2020-01-01T00:00:00+00:00")):
        assert local(cron, cron.fire_times(after, 2, anchor=anchor)) == [
            "2026-06-01T10:15:00+02:00",
            "2026-06-01T10:30:00+02:00",
        ]


def test_a_cron_first_seen_mid_minute_fires_at_the_next_match_not_at_once() -> None:
    """Unlike a recurrence without start_time, nothing fires when the daemon first sees it."""
    cron = CronTimetable("* * * * *", BERLIN)
    seen = at("2026-06-01T10:00:30+00:00")
    policy = CatchupPolicy("latest", CatchupPolicy.default_grace(cron))

    def fires(now: str) -> list[str]:
        plan = plan_time_fires(
            cron, first_seen=seen, cursor=None, now=at(now), running_since=seen, policy=policy
        )
        return [t.isoformat() for t in plan.fires]

    assert fires("2026-06-01T10:00:30+00:00") == []
    assert fires("2026-06-01T10:00:59.9+00:00") == []
    assert fires("2026-06-01T10:01:00.2+00:00") == ["2026-06-01T10:01:00+00:00"]


@pytest.mark.parametrize(
    ("expression", "period"),
    [
        ("* * * * *", timedelta(minutes=1)),
        ("*/15 * * * *", timedelta(minutes=15)),
        ("0 */6 * * *", timedelta(hours=6)),
        ("0 2 * * 1-5", timedelta(days=1)),
        ("10,50 0,23 * * *", timedelta(minutes=20)),  # 23:50 -> 00:10 across midnight
        ("0 0,23 * * *", timedelta(hours=1)),
        ("0 0,23 * * sat", timedelta(hours=23)),  # no two days in a row
        ("0 0,23 1,2 * *", timedelta(hours=1)),  # the 1st at 23:00, the 2nd at 00:00
        ("0 0,23 1,3 * *", timedelta(hours=23)),
        # longer ones count as a day: the default grace is at most a day anyway
        ("0 2 * * 1", timedelta(days=1)),
        ("0 0 1 * *", timedelta(days=1)),
    ],
)
def test_the_period_is_the_shortest_spacing(expression: str, period: timedelta) -> None:
    cron = CronTimetable(expression)
    assert cron.period == period
    assert CatchupPolicy.default_grace(cron) == period


def test_same_expression_zone_and_bounds_are_one_timetable() -> None:
    assert CronTimetable("0  2 * *\t1-5", BERLIN) == CronTimetable("0 2 * * 1-5", BERLIN)
    assert hash(CronTimetable("0  2 * * 1-5", BERLIN)) == hash(CronTimetable("0 2 * * 1-5", BERLIN))
    assert CronTimetable("0 2 * * 1-5", BERLIN) != CronTimetable("0 2 * * 1-5", NEW_YORK)
    assert CronTimetable("0 2 * * 1-5").expression == "0 2 * * 1-5"


def test_describe_says_it_in_words() -> None:
    cron = CronTimetable("0 2 * * 1-5", "W. Europe Standard Time", end_time=datetime(2027, 1, 1))
    assert cron.describe() == (
        "cron '0 2 * * 1-5': at 02:00 on Monday through Friday until 2027-01-01 00:00:00 "
        "(W. Europe Standard Time)"
    )


def test_no_slot_past_the_calendar_and_naive_times_refused() -> None:
    cron = CronTimetable("0 0 * * *")
    assert cron.next_fire_after(datetime(9999, 12, 31, 12, tzinfo=UTC)) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        cron.next_fire_after(datetime(2026, 6, 1))


def test_too_many_slots_in_a_range_is_an_error() -> None:
    cron = CronTimetable("* * * * *")
    with pytest.raises(ValueError, match="more than 100000 fire times"):
        cron.fire_times_between(at("2026-01-01T00:00:00+00:00"), at("2026-05-01T00:00:00+00:00"))


# --- expressions refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "MINUTES: 61 is out of range 0-59"),
        ("0 24 * * *", "HOURS: 24 is out of range 0-23"),
        ("0 0 0 * *", "DAYS: 0 is out of range 1-31"),
        ("0 0 * 13 *", "MONTHS: 13 is out of range 1-12"),
        ("0 0 * * 8", "DAYS-OF-WEEK: 8 is out of range 0-7"),
        (
            "0 0 * * * *",
            "needs five fields MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK (e.g. '0 2 * * 1-5'), got 6",
        ),
        ("0 0 * *", "needs five fields MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK"),
        ("@daily", "'@daily' is not supported: write the five fields, e.g. '0 0 * * *'"),
        ("0 0 L * *", "DAYS: 'L' is not supported: Azure ML's cron has numbers, names, ranges"),
        ("0 0 * * 5L", "DAYS-OF-WEEK: '5L' is not supported"),
        ("0 0 15W * *", "DAYS: '15W' is not supported"),
        ("0 0 * * mon#2", "DAYS-OF-WEEK: 'mon#2' is not supported"),
        ("0 0 ? * mon", "DAYS: '?' is not supported"),
        ("0 0 * * fri-mon", "DAYS-OF-WEEK: the range 'fri-mon' runs backwards"),
        ("0 0 * * monday", "DAYS-OF-WEEK: write names with three letters: 'mon'"),
        ("0 0 * * funday", "DAYS-OF-WEEK: 'funday' is not a name; use sun, mon ... sat"),
        ("0 0 1 mon *", "MONTHS: 'mon' is not a name; use jan, feb ... dec"),
        ("0 0 * * 1,,2", "DAYS-OF-WEEK: an empty value is not a cron value"),
        ("*/0 * * * *", "MINUTES: '*/0' has a step of 0"),
        ("x * * * *", "MINUTES: 'x' is not a number from 0 to 59"),
        ("0 0 30 2 *", "DAYS never comes in the MONTHS given: the expression would never fire"),
    ],
)
def test_bad_expressions_say_which_field_and_why(expression: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        check_expression(expression)
    assert str(caught.value).startswith(message)
    with pytest.raises(CronError):
        CronTimetable(expression)


def test_a_long_token_is_not_echoed() -> None:
    """It may be a secret put under the wrong key."""
    with pytest.raises(CronError) as caught:
        check_expression("hunter2hunter2 * * * *")
    assert "hunter2" not in str(caught.value)
    assert "(a value not shown)" in str(caught.value)
