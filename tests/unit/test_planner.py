"""The planner decides every slot between the cursor and now: fire, or skip with a reason."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from triggerd.config.triggers import CatchupPolicy
from triggerd.engine.planner import plan_time_fires
from triggerd.recurrence import Frequency, Recurrence
from triggerd.runs import time_fire_key

BERLIN = "W. Europe Standard Time"
EVERY_MINUTE = Recurrence(Frequency.MINUTE, 1, time_zone=BERLIN)
EVERY_10_MIN = Recurrence(Frequency.MINUTE, 10, time_zone=BERLIN)
NIGHTLY = Recurrence(
    Frequency.DAY,
    1,
    time_zone=BERLIN,
    start_time=datetime(2024, 3, 1, 0, 0),
    hours=(2,),
    minutes=(30,),
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso(values: list[datetime]) -> list[str]:
    return [v.isoformat() for v in values]


def test_a_slot_that_comes_while_running_fires_even_when_late() -> None:
    plan = plan_time_fires(
        EVERY_MINUTE,
        first_seen=t("2024-03-31T00:00:00+00:00"),
        cursor=t("2024-03-31T01:04:00+00:00"),
        now=t("2024-03-31T01:05:00.900+00:00"),
        running_since=t("2024-03-31T00:00:00+00:00"),
        policy=CatchupPolicy("latest", timedelta(minutes=1)),
    )
    assert iso(plan.fires) == ["2024-03-31T01:05:00+00:00"]
    assert plan.skipped == []
    assert plan.cursor == t("2024-03-31T01:05:00+00:00")


def test_nothing_due_keeps_the_cursor() -> None:
    cursor = t("2024-03-31T01:05:00+00:00")
    plan = plan_time_fires(
        EVERY_MINUTE,
        first_seen=t("2024-03-31T00:00:00+00:00"),
        cursor=cursor,
        now=t("2024-03-31T01:05:30+00:00"),
        running_since=t("2024-03-31T00:00:00+00:00"),
        policy=CatchupPolicy(),
    )
    assert plan.decisions == ()
    assert plan.cursor == cursor


def test_no_start_time_fires_immediately_at_the_anchor() -> None:
    seen = t("2024-10-27T00:59:10+00:00")  # Berlin fall-back night
    plan = plan_time_fires(
        EVERY_10_MIN,
        first_seen=seen,
        cursor=None,
        now=seen,
        running_since=seen,
        policy=CatchupPolicy("none", timedelta(minutes=10)),
    )
    assert plan.fires == [seen]


@pytest.mark.parametrize(
    ("mode", "fired", "skipped_reason"),
    [
        ("latest", ["2024-03-31T01:30:00+00:00"], None),
        ("none", [], "missed: the daemon was not running (catchup: none)"),
        ("all", ["2024-03-31T01:30:00+00:00"], None),
    ],
)
def test_downtime_across_spring_forward_is_made_up_per_policy(
    mode: str, fired: list[str], skipped_reason: str | None
) -> None:
    # Down from 2024-03-29 to 2024-03-31 03:40 CEST; 02:30 does not exist that night, the
    # slot is 03:30 CEST (01:30Z). Default grace is one day: only that slot is in grace.
    plan = plan_time_fires(
        NIGHTLY,
        first_seen=t("2024-03-01T00:00:00+00:00"),
        cursor=t("2024-03-28T01:30:00+00:00"),
        now=t("2024-03-31T01:40:00+00:00"),
        running_since=t("2024-03-31T01:40:00+00:00"),
        policy=CatchupPolicy(mode, CatchupPolicy.default_grace(NIGHTLY)),  # type: ignore[arg-type]
    )
    assert iso(plan.fires) == fired
    reasons = {d.scheduled_for.isoformat(): d.reason for d in plan.skipped}
    assert (
        reasons["2024-03-29T01:30:00+00:00"] == "missed: 2d10m late, beyond misfire_grace_time 1d"
    )
    assert (
        reasons["2024-03-30T01:30:00+00:00"] == "missed: 1d10m late, beyond misfire_grace_time 1d"
    )
    assert reasons.get("2024-03-31T01:30:00+00:00") == skipped_reason
    assert plan.cursor == t("2024-03-31T01:30:00+00:00")


def test_catchup_latest_fires_only_the_newest_missed_slot() -> None:
    plan = plan_time_fires(
        EVERY_10_MIN,
        first_seen=t("2024-10-27T00:00:00+00:00"),
        cursor=t("2024-10-27T00:00:00+00:00"),
        now=t("2024-10-27T00:45:00+00:00"),
        running_since=t("2024-10-27T00:45:00+00:00"),
        policy=CatchupPolicy("latest", timedelta(hours=1)),
    )
    assert iso(plan.fires) == ["2024-10-27T00:40:00+00:00"]
    assert {d.reason for d in plan.skipped} == {
        "missed: superseded by a later slot (catchup: latest)"
    }
    assert len(plan.skipped) == 3


def test_catchup_all_is_capped_by_max_catchup_runs() -> None:
    plan = plan_time_fires(
        EVERY_10_MIN,
        first_seen=t("2024-10-27T00:00:00+00:00"),
        cursor=t("2024-10-27T00:00:00+00:00"),
        now=t("2024-10-27T00:55:00+00:00"),
        running_since=t("2024-10-27T00:55:00+00:00"),
        policy=CatchupPolicy("all", timedelta(hours=1), max_runs=3),
    )
    assert iso(plan.fires) == [
        "2024-10-27T00:30:00+00:00",
        "2024-10-27T00:40:00+00:00",
        "2024-10-27T00:50:00+00:00",
    ]
    assert [d.reason for d in plan.skipped] == [
        "missed: more than max_catchup_runs (3) slots to make up"
    ] * 2


def test_a_disabled_schedule_skips_every_slot() -> None:
    plan = plan_time_fires(
        EVERY_MINUTE,
        first_seen=t("2024-03-31T00:00:00+00:00"),
        cursor=t("2024-03-31T01:00:00+00:00"),
        now=t("2024-03-31T01:02:00+00:00"),
        running_since=t("2024-03-31T00:00:00+00:00"),
        policy=CatchupPolicy(),
        enabled=False,
    )
    assert plan.fires == []
    assert [d.reason for d in plan.skipped] == ["schedule disabled"] * 2
    assert plan.cursor == t("2024-03-31T01:02:00+00:00")


def test_slots_before_the_schedule_was_first_seen_never_fire() -> None:
    # start_time far in the past: Azure ML never makes up runs from before the schedule existed.
    seen = t("2024-03-31T01:30:30+00:00")
    plan = plan_time_fires(
        NIGHTLY,
        first_seen=seen,
        cursor=None,
        now=seen,
        running_since=seen,
        policy=CatchupPolicy("all", timedelta(days=30)),
    )
    assert plan.decisions == ()


def test_a_long_downtime_is_examined_only_within_the_horizon() -> None:
    plan = plan_time_fires(
        EVERY_MINUTE,
        first_seen=t("2024-01-01T00:00:00+00:00"),
        cursor=t("2024-01-01T00:00:00+00:00"),
        now=t("2024-03-31T12:00:00+00:00"),
        running_since=t("2024-03-31T12:00:00+00:00"),
        policy=CatchupPolicy(),
    )
    assert plan.not_examined_before == t("2024-03-24T12:00:00+00:00")
    assert len(plan.decisions) == 7 * 24 * 60
    # 11:59 is within the one-day grace, but the 12:00 slot fires now: nothing to make up.
    assert iso(plan.fires) == ["2024-03-31T12:00:00+00:00"]
    assert plan.decisions[-2].reason == ("missed: superseded by a later slot (catchup: latest)")


@pytest.mark.parametrize(
    ("moment", "key"),
    [
        ("2024-03-31T03:30:00+02:00", "nightly:2024-03-31T01:30:00Z"),
        ("2024-10-27T02:30:00+01:00", "nightly:2024-10-27T01:30:00Z"),
        ("2024-10-27T02:30:00.250000+02:00", "nightly:2024-10-27T00:30:00.250000Z"),
    ],
)
def test_time_fire_keys_are_the_slot_in_utc(moment: str, key: str) -> None:
    assert time_fire_key("nightly", t(moment)) == key


@pytest.mark.parametrize(
    ("mode", "fires", "newest_reason"),
    [
        ("latest", ["2024-03-31T02:30:00+00:00"], None),
        ("none", [], "missed: the daemon was not running (catchup: none)"),
        ("all", ["2024-03-31T02:10:00+00:00", "2024-03-31T02:20:00+00:00",
                 "2024-03-31T02:30:00+00:00"], None),
    ],
)  # fmt: skip
def test_slots_a_forward_clock_step_jumped_over_get_the_catch_up_policy(
    mode: str, fires: list[str], newest_reason: str | None
) -> None:
    """Running all along, but the wall clock jumped 01:58 -> 02:35 (Berlin's spring-forward
    night): the slots in between were never seen, as after downtime; one after it fires live."""
    plan = plan_time_fires(
        EVERY_10_MIN,
        first_seen=t("2024-03-31T00:00:00+00:00"),
        cursor=t("2024-03-31T01:50:00+00:00"),
        now=t("2024-03-31T02:35:00+00:00"),
        running_since=t("2024-03-31T00:00:00+00:00"),
        policy=CatchupPolicy(mode, timedelta(minutes=30)),  # type: ignore[arg-type]
        gaps=[(t("2024-03-31T01:58:00+00:00"), t("2024-03-31T02:35:00+00:00"))],
    )
    assert iso(plan.fires) == fires
    by_slot = {d.scheduled_for.isoformat(): d.reason for d in plan.decisions}
    assert by_slot["2024-03-31T02:00:00+00:00"] == (
        "missed: 35m late, beyond misfire_grace_time 30m"
    )
    assert by_slot["2024-03-31T02:30:00+00:00"] == newest_reason
    assert plan.cursor == t("2024-03-31T02:30:00+00:00")


def test_without_the_gap_the_same_slots_would_fire_as_live_ones() -> None:
    plan = plan_time_fires(
        EVERY_10_MIN,
        first_seen=t("2024-03-31T00:00:00+00:00"),
        cursor=t("2024-03-31T01:50:00+00:00"),
        now=t("2024-03-31T02:35:00+00:00"),
        running_since=t("2024-03-31T00:00:00+00:00"),
        policy=CatchupPolicy("none", timedelta(minutes=30)),
    )
    assert iso(plan.fires) == [
        "2024-03-31T02:10:00+00:00", "2024-03-31T02:20:00+00:00", "2024-03-31T02:30:00+00:00"
    ]  # fmt: skip
