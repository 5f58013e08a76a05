"""A planning pass woken ahead of its slot: planned before it, committed at it, never before
(issue 17: scheduled -> committed within 15 ms). Injected clock and sleep: nothing is timed.

The slot is on Berlin's spring-forward night (2024-03-31, 02:00 -> 03:00 local).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from triggerd.config import Config, load_config
from triggerd.engine.clockwatch import ClockWatch
from triggerd.engine.scheduler import TimeScheduler
from triggerd.engine.timepass import AHEAD, HOLD, TimePass
from triggerd.recurrence import Recurrence
from triggerd.runs import RunRecord
from triggerd.store import Store, open_store, queries, states

CONFIG = """
pipelines:
  job: {kind: command, argv: ["true"]}
schedules:
  - name: five
    pipeline: job
    recurrence:
      frequency: Minute
      interval: 5
      start_time: "2024-03-31T01:00:00"
      time_zone: W. Europe Standard Time
"""
SLOT = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 in Berlin, the first slot after the jump
KEY = "five:2024-03-31T01:00:00Z"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept: list[float] = []
        self.during: list[Callable[[], object]] = []  # what happens during each sleep, in turn

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        if self.during:
            self.during.pop(0)()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "triggerd.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'triggerd.db'}")
    yield opened
    opened.close()


class Setup:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.clock = Clock(SLOT - timedelta(minutes=4))
        self.monotonic = 0.0
        self.times = TimePass(
            lambda: self.config.schedules,
            store,
            clock=self.clock,
            running_since=self.clock(),
            check_clock=lambda: self.watch.check(),
            sleep=self.clock.sleep,
        )
        self.watch = ClockWatch(
            self.clock, monotonic=lambda: self.monotonic, on_step=self.times.clock_stepped
        )
        self.times.tick("five")  # first seen 4 minutes before the slot: nothing due yet
        self.commits: list[datetime] = []  # the wall clock at each COMMIT
        event.listen(store.engine, "commit", lambda conn: self.commits.append(self.clock()))

    def at(self, moment: datetime) -> None:
        self.monotonic += (moment - self.clock.now).total_seconds()
        self.clock.now = moment

    def runs(self) -> list[RunRecord]:
        return self.store.read(queries.list_runs, schedule="five")


@pytest.fixture
def setup(config: Config, store: Store) -> Setup:
    return Setup(config, store)


def test_a_pass_woken_ahead_commits_its_slot_at_the_slot_and_not_before(setup: Setup) -> None:
    """Planned AHEAD of the slot, written HOLD before it, committed at it."""
    seen_before: list[object] = []
    setup.clock.during = [lambda: None, lambda: seen_before.extend(setup.runs())]
    setup.at(SLOT - AHEAD + timedelta(milliseconds=10))
    assert setup.times.tick("five") == 1
    assert setup.commits == [SLOT]  # it slept until the slot, then committed
    assert setup.clock.slept == pytest.approx([(AHEAD - HOLD).total_seconds() - 0.01, 0.05])
    assert seen_before == []  # written inside the transaction, invisible until the COMMIT
    (run,) = setup.runs()
    assert (run.fire_key, run.status, run.created_at) == (KEY, "pending", SLOT)
    setup.at(SLOT + timedelta(milliseconds=8))  # APScheduler's own wake-up at the instant
    assert setup.times.tick("five") == 0  # nothing twice
    assert len(setup.runs()) == 1


def test_a_slot_farther_than_ahead_is_not_planned_early(setup: Setup) -> None:
    setup.at(SLOT - AHEAD - timedelta(milliseconds=1))
    assert setup.times.tick("five") == 0
    assert setup.clock.slept == [] and setup.runs() == []


def test_a_schedule_disabled_while_the_pass_waits_records_the_slot_as_skipped(
    setup: Setup,
) -> None:
    """The override is read again inside the commit's transaction: planned while enabled,
    disabled before the slot, nothing is written early; at the slot, it is skipped, not run."""
    setup.at(SLOT - timedelta(milliseconds=100))
    disable = [states.set_override, "five", False]
    setup.clock.during = [lambda: setup.store.write(*disable, note=None, by=None, now=SLOT)]
    assert setup.times.tick("five") == 0
    assert setup.runs() == []
    setup.at(SLOT + timedelta(milliseconds=8))  # APScheduler's own wake-up at the instant
    assert setup.times.tick("five") == 0
    (run,) = setup.runs()
    assert (run.fire_key, run.status, run.reason) == (KEY, "skipped", "schedule disabled")
    assert setup.commits[-1] >= SLOT  # (the one before: the override itself)


def test_a_reload_while_the_pass_waits_plans_the_slot_again_under_the_new_config(
    setup: Setup, tmp_path: Path
) -> None:
    path = tmp_path / "new.yaml"
    path.write_text(CONFIG.replace("- name: five", "- name: other"), encoding="utf-8")

    def reload() -> None:
        setup.config = load_config(path)  # "five" left the config meanwhile

    setup.at(SLOT - timedelta(milliseconds=100))
    setup.clock.during = [lambda: None, reload]  # after the rows are written
    assert setup.times.tick("five") == 0
    assert setup.runs() == []  # its prepared run was never committed


def test_a_clock_step_back_during_the_wait_commits_nothing_early(setup: Setup) -> None:
    """The wall clock goes back an hour while the pass waits: waiting an hour for the slot
    would hold the planner; it gives up and the slot is planned when it comes again."""
    setup.at(SLOT - timedelta(milliseconds=100))

    def step_back() -> None:
        setup.clock.now -= timedelta(hours=1)

    setup.clock.during = [lambda: None, step_back]
    assert setup.times.tick("five") == 0
    assert setup.runs() == []
    assert all(at < SLOT for at in setup.commits)  # (nothing to commit: no transaction)
    setup.at(SLOT + timedelta(milliseconds=5))
    assert setup.times.tick("five") == 1
    assert [r.fire_key for r in setup.runs()] == [KEY]


def test_a_clock_step_forward_during_the_wait_is_planned_as_a_jump(setup: Setup) -> None:
    """The clock jumps two hours while the pass waits: the slot was jumped over, so the
    catch-up policy decides it (catchup latest: the newest slot jumped over fires, once)."""
    setup.at(SLOT - timedelta(milliseconds=100))

    def jump() -> None:
        setup.clock.now += timedelta(hours=2)  # the monotonic clock does not move

    setup.clock.during = [lambda: None, jump]
    assert setup.times.tick("five") == 1
    fired = [r.fire_key for r in setup.runs() if r.status == "pending"]
    assert fired == ["five:2024-03-31T03:00:00Z"]  # not the prepared 01:00 slot
    skipped = [r for r in setup.runs() if r.status == "skipped"]
    assert len(skipped) == 24 and all(r.reason and "missed" in r.reason for r in skipped)


# -- the scheduler's side: waking the planner ahead ---------------------------------------------


BERLIN_5_MIN = Recurrence("Minute", 5, "W. Europe Standard Time", datetime(2024, 3, 31, 1, 0))


def test_the_scheduler_wakes_a_timetable_job_ahead_of_its_instant_once() -> None:
    woken: list[tuple[str, ...]] = []
    scheduler = TimeScheduler(lambda *names: woken.append(names))
    scheduler.add("a", BERLIN_5_MIN, SLOT - timedelta(hours=1), first_fire=SLOT)
    scheduler.add_beat(1.0, lambda: woken.append(("beat",)))
    scheduler._scheduler.start(paused=True)  # its jobs in the store, its loop idle
    try:
        inner = scheduler._scheduler
        inner.now = lambda: SLOT - AHEAD - timedelta(milliseconds=300)
        wait = inner.wake_ahead()
        assert woken == [] and wait == pytest.approx(0.3)  # not yet; look again then
        inner.now = lambda: SLOT - AHEAD + timedelta(milliseconds=1)
        inner.wake_ahead()
        inner.wake_ahead()
        assert woken == [("a",)]  # once for that instant, and never the beat
    finally:
        scheduler.shutdown()


# -- the store's side: prepared fires, the cursor UPDATE, a rolled-back commit -----------------


def test_prepared_fires_move_cursors_forward_only_and_a_no_from_still_or_hold_writes_nothing(
    store: Store,
) -> None:
    store.write(states.create, ["a", "b"], SLOT)
    later, earlier = SLOT + timedelta(minutes=5), SLOT - timedelta(minutes=5)
    store.record_fires_many([("a", [], later), ("b", [], SLOT)], now=SLOT)
    store.record_fires_many([("a", [], earlier), ("b", [], later)], now=later)  # a: not back
    cursors = {n: s.cursor_at for n, s in store.read(states.get_many, ["a", "b"]).items()}
    assert cursors == {"a": later, "b": later}

    ahead = later + timedelta(minutes=5)
    prepared = store.prepare_fires([("a", [], ahead)], now=ahead)
    assert store.commit_fires(prepared, still=lambda conn: False) is None
    assert store.commit_fires(prepared, hold=lambda: False) is None
    assert store.read(states.get, "a").cursor_at == later  # type: ignore[union-attr]
    assert store.commit_fires(prepared, hold=lambda: True) == 0  # no runs: only the cursor
    assert store.read(states.get, "a").cursor_at == ahead  # type: ignore[union-attr]
