"""Schedules that fire at the same instants share one APScheduler job (issue 6: lateness)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from triggerd.engine.scheduler import RecurrenceTrigger, TimeScheduler
from triggerd.recurrence import Recurrence

BERLIN_5_MIN = Recurrence("Minute", 5, "W. Europe Standard Time", datetime(2024, 3, 31, 1, 0))
NEW_YORK_5_MIN = Recurrence("Minute", 5, "Eastern Standard Time", datetime(2024, 3, 31, 1, 0))
BERLIN_HOURLY = Recurrence("Hour", 1, "W. Europe Standard Time")  # anchored on first seen
SEEN = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)  # the night Berlin springs forward


class Woken:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *names: str) -> None:
        self.calls.append(names)


def wake_all(scheduler: TimeScheduler) -> None:
    """Run every job once, as APScheduler would at its instant."""
    for job in scheduler._scheduler.get_jobs():
        job.func(*job.args)


def test_schedules_with_the_same_recurrence_wake_together_in_one_job() -> None:
    woken = Woken()
    scheduler = TimeScheduler(woken)
    for name in ("b", "a", "c"):
        scheduler.add(name, BERLIN_5_MIN, SEEN)
    scheduler.add("ny", NEW_YORK_5_MIN, SEEN)

    assert len(scheduler._scheduler.get_jobs()) == 2
    wake_all(scheduler)
    assert sorted(woken.calls) == [("a", "b", "c"), ("ny",)]


def test_without_start_time_the_first_seen_anchor_separates_schedules() -> None:
    woken = Woken()
    scheduler = TimeScheduler(woken)
    scheduler.add("early", BERLIN_HOURLY, SEEN)
    scheduler.add("later", BERLIN_HOURLY, SEEN.replace(minute=45))
    scheduler.add("same", BERLIN_HOURLY, SEEN)

    jobs = scheduler._scheduler.get_jobs()
    assert len(jobs) == 2
    after = datetime(2024, 3, 31, 0, 50, tzinfo=UTC)
    assert sorted(j.trigger.get_next_fire_time(None, after).minute for j in jobs) == [30, 45]


def test_a_removed_or_changed_schedule_leaves_its_group() -> None:
    woken = Woken()
    scheduler = TimeScheduler(woken)
    scheduler.add("a", BERLIN_5_MIN, SEEN)
    scheduler.add("b", BERLIN_5_MIN, SEEN)
    scheduler.add("b", NEW_YORK_5_MIN, SEEN)  # changed on reload
    scheduler.remove("a")

    wake_all(scheduler)
    assert woken.calls == [("b",)]
    scheduler.remove("b")
    assert scheduler._scheduler.get_jobs() == []


def test_a_job_starts_from_the_first_fire_its_caller_computed() -> None:
    scheduler = TimeScheduler(Woken())
    first = datetime(2099, 3, 26, 1, 5, tzinfo=UTC)  # far off: only the caller could have said it
    scheduler.add("a", BERLIN_5_MIN, SEEN, first_fire=first)
    scheduler.add("b", NEW_YORK_5_MIN, SEEN)
    scheduler.start()
    try:
        jobs = {j.args[0][0].time_zone: j.next_run_time for j in scheduler._scheduler.get_jobs()}
    finally:
        scheduler.shutdown()
    assert jobs["W. Europe Standard Time"] == first
    assert jobs["Eastern Standard Time"] < first  # computed by its trigger: the next 5 minutes


# -- the APScheduler trigger -------------------------------------------------------------------


def test_trigger_first_fire_is_after_now() -> None:
    recurrence = Recurrence("Day", 1, "W. Europe Standard Time", datetime(2024, 3, 1, 2, 30))
    trigger = RecurrenceTrigger(recurrence, anchor=None)
    assert isinstance(trigger, BaseTrigger)
    fire = trigger.get_next_fire_time(None, datetime.fromisoformat("2024-03-31T00:00:00+01:00"))
    assert fire == datetime.fromisoformat("2024-03-31T03:30:00+02:00")
    assert fire is not None and fire.tzinfo is not None


def test_trigger_next_fire_is_after_the_previous_one() -> None:
    recurrence = Recurrence("Day", 1, "W. Europe Standard Time", datetime(2024, 3, 1, 2, 30))
    trigger = RecurrenceTrigger(recurrence, anchor=None)
    previous = datetime.fromisoformat("2024-03-31T03:30:00+02:00")
    fire = trigger.get_next_fire_time(previous, previous + timedelta(seconds=3))
    assert fire == datetime.fromisoformat("2024-04-01T02:30:00+02:00")


def test_trigger_uses_the_anchor_without_start_time() -> None:
    anchor = datetime.fromisoformat("2024-06-01T10:00:00+02:00")
    trigger = RecurrenceTrigger(Recurrence("Hour", 1, "Europe/Berlin"), anchor=anchor)
    assert trigger.get_next_fire_time(None, anchor - timedelta(seconds=1)) == anchor
    assert trigger.get_next_fire_time(anchor, anchor) == datetime.fromisoformat(
        "2024-06-01T11:00:00+02:00"
    )


def test_trigger_repr_and_str_describe_the_recurrence() -> None:
    anchor = datetime(2024, 6, 1, 8, tzinfo=UTC)
    trigger = RecurrenceTrigger(Recurrence("Hour", 1, "Europe/Berlin"), anchor=anchor)
    assert repr(trigger) == (
        "<RecurrenceTrigger ('every hour (Europe/Berlin)', anchor='2024-06-01T08:00:00+00:00')>"
    )
    assert str(trigger) == "recurrence[every hour (Europe/Berlin)]"


def test_the_job_function_states_the_signature_apscheduler_checks_it_against() -> None:
    """The job function carries its own signature (APScheduler's per-job check is then cheap):
    it must agree with the call, or APScheduler would refuse the job, or accept a wrong one."""
    import inspect

    import pytest
    from apscheduler.util import check_callable_args

    woken = Woken()
    scheduler = TimeScheduler(woken)
    scheduler.add("a", BERLIN_5_MIN, SEEN)
    (job,) = scheduler._scheduler.get_jobs()
    assert len(inspect.signature(job.func).parameters) == len(job.args) == 1
    check_callable_args(job.func, job.args, job.kwargs)  # as add_job checked it
    with pytest.raises(ValueError):
        check_callable_args(job.func, (), {})  # no group: refused
    with pytest.raises(ValueError):
        check_callable_args(job.func, (*job.args, "extra"), {})
    wake_all(scheduler)
    assert woken.calls == [("a",)]
