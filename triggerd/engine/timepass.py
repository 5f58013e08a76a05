"""The time pass: plan the due slots of time schedules and record them, in one transaction.

Called when APScheduler wakes the planner (``batcher.py`` gathers the schedules named within a
few milliseconds) and once for every schedule at start, which is how missed slots are caught
up. It reads as little as it can: a schedule's row only the first time it plans it (after that
it plans from the cursor it committed itself) and the CLI's enable/disable overrides every
pass. It knows nothing of threads or signals: tests drive it with an injected clock (and an
injected sleep).

The scheduler wakes it ``AHEAD`` of a slot, so the slot's cost is paid before it: the pass
plans the slot and builds its rows early, writes them in a transaction opened ``HOLD`` before
the slot, and COMMITs once the wall clock reads the slot (never before), after checking that
nothing it planned from changed meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from triggerd.config import Schedule
from triggerd.config.triggers import TimeTrigger
from triggerd.engine.clockwatch import ClockStep
from triggerd.engine.collector import collector_paused
from triggerd.engine.planner import EXAMINE_HORIZON, TimePlan, plan_time_fires
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, RunStatus, TriggerKind, time_fire_key
from triggerd.store import ScheduleState, Store, states
from triggerd.store.store import PreparedFires

# How far ahead of a slot the scheduler wakes the planner: enough to plan a thousand fires and
# build their rows (~20 ms on a quiet machine, several times that on a loaded one) before it.
AHEAD = timedelta(milliseconds=200)
# How long before the slot a prepared pass opens its transaction and writes its rows (a
# thousand rows: ~5-10 ms quiet; the write lock is held until the COMMIT at the slot).
HOLD = timedelta(milliseconds=50)
# The longest a prepared pass sleeps for its slot: past it the wall clock must have stepped back.
WAIT_LIMIT_S = AHEAD.total_seconds() * 2


def truncate(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


class TimePass:
    def __init__(
        self,
        schedules: Callable[[], Mapping[str, Schedule]],
        store: Store,
        *,
        clock: Callable[[], datetime],
        running_since: datetime,
        on_recorded: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
        check_clock: Callable[[], object] = lambda: None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """``schedules()``: the schedules in force. ``check_clock()`` is called at every pass,
        after it read the time: it reports a wall-clock step (``clock_stepped``) before the
        pass plans past it. ``sleep(seconds)``: how a pass prepared ahead waits for its slot."""
        self._schedules = schedules
        self._store = store
        self._clock = clock
        self.running_since = truncate(running_since)
        self._gaps: tuple[tuple[datetime, datetime], ...] = ()  # wall time a step jumped over
        self._on_recorded = on_recorded
        self._metrics = metrics
        self._check_clock = check_clock
        self._sleep = sleep
        self._epoch = 0  # bumped whenever a cursor is moved by another path
        self._lock = threading.Lock()  # one planning pass at a time
        self._first_seen: dict[str, datetime] = {}  # anchors never change once stored
        # The cursor this process last committed per time schedule. A cursor only moves
        # forward and every replica plans every slot (fire keys deduplicate), so planning from
        # this one instead of reading each schedule's row is safe; see _planning_states.
        self._cursors: dict[str, datetime | None] = {}  # None: nothing decided yet
        self._log = get_logger()

    def seen(self, known: Mapping[str, ScheduleState]) -> None:
        """Anchors read elsewhere (at start): never read again."""
        self._first_seen.update({name: s.first_seen_at for name, s in known.items()})

    def anchor(self, name: str) -> datetime:
        """When the daemon first saw the schedule (persisted, so restarts keep the phase)."""
        known = self._first_seen.get(name)
        if known is None:
            known = self._first_seen[name] = self._state(name, self._clock()).first_seen_at
        return known

    def forget_cursor(self, name: str) -> None:
        """The schedule's cursor was moved by another path (a reload): read it again."""
        self._cursors.pop(name, None)
        self._epoch += 1

    def clock_stepped(self, step: ClockStep) -> None:
        """The wall clock jumped. Forward: the slots in the span it skipped count as missed
        while the daemon was down (the catch-up policy decides). Backward: the daemon runs from
        the earlier wall time on; slots up to each schedule's cursor are decided already."""
        horizon = step.actual - EXAMINE_HORIZON
        kept = tuple((a, b) for a, b in self._gaps if b > horizon and a < step.actual)
        if step.forward:
            kept += ((step.expected, step.actual),)
        else:
            self.running_since = min(self.running_since, truncate(step.actual))
        self._gaps = kept

    def tick(self, name: str) -> int:
        """Plan and record the due slots of one time schedule; the pending runs recorded."""
        return self.tick_many([name])

    def tick_many(
        self, names: Collection[str], *, known: Mapping[str, ScheduleState] | None = None
    ) -> int:
        """Plan the due slots of these time schedules and record them in one transaction;
        returns the pending runs recorded.

        A slot at most ``AHEAD`` away is planned now and committed once it has come: the
        scheduler wakes the planner that much early, so planning and building the rows are done
        before the slot, the rows are written in a transaction opened ``HOLD`` before it, and
        only its COMMIT waits for the slot. What the plan was made from is checked again: the
        enable/disable overrides inside the transaction (under SQLite's write lock), the config,
        clock steps and cursors right before the COMMIT; if any changed, the transaction is
        rolled back and the pass plans again from the time it is then."""
        with self._lock, collector_paused():
            now = self._clock()
            self._check_clock()
            pass_ = self._prepare(names, known, now, until=now + AHEAD)
            if (due := pass_.due) is not None:
                # The writes start HOLD before the slot; only the COMMIT waits for it.
                if self._wait_until(due - HOLD) and self._unchanged(pass_):
                    recorded = self._store.commit_fires(
                        pass_.fires,
                        still=pass_.still,
                        hold=lambda: self._wait_until(due) and self._unchanged(pass_),
                    )
                    if recorded is not None:
                        return self._recorded(pass_, recorded)
                now = self._clock()
                self._check_clock()
                pass_ = self._prepare(names, None, now, until=now)
            recorded = self._store.commit_fires(pass_.fires)
            assert recorded is not None  # no check: always committed
            return self._recorded(pass_, recorded)

    def _prepare(
        self,
        names: Collection[str],
        known: Mapping[str, ScheduleState] | None,
        now: datetime,
        *,
        until: datetime,
    ) -> _Pass:
        """Plan the slots in (cursor, until] and build what the commit writes."""
        gaps, since, epoch = self._gaps, self.running_since, self._epoch
        found = dict(known) if known is not None else self._planning_states(names)
        schedules = self._schedules()
        plans: list[tuple[Schedule, TimePlan]] = []
        # Schedules deployed together often plan alike (same recurrence, first seen and
        # cursor): a plan holds no schedule name, so each distinct one is computed once.
        planned: dict[tuple[object, ...], TimePlan] = {}
        for name in names:
            schedule = schedules.get(name)
            if schedule is None or not isinstance(schedule.trigger, TimeTrigger):
                continue
            state = found.get(name) or self._state(name, now)
            enabled = schedule.effective_status(state.enabled) == "Active"
            every, policy = schedule.trigger.every, schedule.trigger.policy
            key = (every, state.first_seen_at, state.cursor_at, policy, enabled)
            plan = planned.get(key)
            if plan is None:
                plan = planned[key] = plan_time_fires(
                    every,
                    first_seen=state.first_seen_at,
                    cursor=state.cursor_at,
                    now=now,
                    running_since=since,
                    policy=policy,
                    enabled=enabled,
                    gaps=gaps,
                    until=until,
                )
            plans.append((schedule, plan))
        latest = max((p.cursor for p in planned.values() if p.decisions and p.cursor), default=now)
        due = latest if latest > now else None  # a slot still to come: commit at it, not before
        at = latest if due is not None else now  # the rows' created_at: never before the slot
        batch = [(s, self._new_runs(s, plan)) for s, plan in plans]
        decided = [
            (s.name, runs, plan.cursor)
            for (s, runs), (_, plan) in zip(batch, plans, strict=True)
            if runs
        ]
        fires = self._store.prepare_fires(decided, now=at)
        overrides: dict[str, bool] = {}
        for schedule, _ in plans:
            held = found.get(schedule.name)
            if held is not None and held.enabled is not None:
                overrides[schedule.name] = held.enabled
        return _Pass(plans, batch, fires, due, schedules, gaps, since, epoch, overrides)

    def _wait_until(self, due: datetime) -> bool:
        """Sleep until the wall clock reads ``due``; False if that takes longer than the
        pass could have been early (the clock stepped back meanwhile: plan again)."""
        slept = 0.0
        while (left := (due - self._clock()).total_seconds()) > 0:
            if slept + left > WAIT_LIMIT_S:
                return False
            self._sleep(left)
            slept += left
        return True

    def _unchanged(self, pass_: _Pass) -> bool:
        """Nothing a prepared pass was planned from changed while it waited for its slot."""
        self._check_clock()  # a step during the wait is reported (and recorded) now
        return (
            self._schedules() is pass_.schedules
            and self._gaps is pass_.gaps
            and self.running_since == pass_.since
            and self._epoch == pass_.epoch
        )

    def _state(self, name: str, now: datetime) -> ScheduleState:
        """The schedule's stored state (a plain read), created when it has none yet."""
        state = self._store.read(states.get, name)
        if state is None:
            state = self._store.write(states.ensure, name, truncate(now))
        return state

    def _planning_states(self, names: Collection[str]) -> dict[str, ScheduleState]:
        """What planning needs of each schedule, with as little reading as possible: the
        stored rows of schedules this process has not planned yet, and the CLI's enable/disable
        overrides (read every pass: a schedule disabled a second ago must not fire)."""
        unknown = [n for n in names if n not in self._cursors or n not in self._first_seen]
        found = self._store.read(states.get_many, unknown) if unknown else {}
        for name, state in found.items():  # an anchor never changes once stored
            self._first_seen.setdefault(name, state.first_seen_at)
        overrides = self._store.read(states.enabled_overrides)
        for name in names:
            if name not in found and name in self._cursors and name in self._first_seen:
                found[name] = ScheduleState(
                    name, self._first_seen[name], self._cursors[name], overrides.get(name),
                    last_poll_at=None, entries=None,
                )  # fmt: skip
        return found

    def _recorded(self, pass_: _Pass, recorded: int) -> int:
        """After the commit: the cursors it moved, then the wake-up, then the log lines (the
        commit never waits for a thousand of them)."""
        for schedule, plan in pass_.plans:  # committed (or nothing was due): plan on from here
            known = self._cursors.get(schedule.name)
            if known is None or (plan.cursor is not None and known < plan.cursor):
                self._cursors[schedule.name] = plan.cursor
        if recorded:
            self._on_recorded()
        for schedule, new_runs in pass_.batch:
            self._log_fires(schedule, new_runs)
        return recorded

    def _new_runs(self, schedule: Schedule, plan: TimePlan) -> list[NewRun]:
        if plan.not_examined_before is not None:
            self._log.warning(
                "fire.missed_unexamined",
                schedule=schedule.name,
                before=plan.not_examined_before.isoformat(),
                reason="the daemon was down longer than the catch-up horizon",
            )
        return [
            NewRun(
                schedule=schedule.name,
                trigger=TriggerKind.TIME,
                fire_key=time_fire_key(schedule.name, d.scheduled_for),
                scheduled_for=d.scheduled_for,
                parameters=dict(schedule.pipeline_parameters),
                status=RunStatus.PENDING if d.fire else RunStatus.SKIPPED,
                reason=d.reason,
            )
            for d in plan.decisions
        ]

    def _log_fires(self, schedule: Schedule, new_runs: list[NewRun]) -> None:
        for new in new_runs:
            log = self._log.bind(schedule=schedule.name, fire_key=new.fire_key)
            when = new.scheduled_for.isoformat() if new.scheduled_for else None
            if new.status == RunStatus.PENDING:
                log.info("fire.planned", scheduled_for=when)
            else:
                log.info("fire.skipped", scheduled_for=when, reason=new.reason)
            if self._metrics:
                outcome = "planned" if new.status == RunStatus.PENDING else "skipped"
                self._metrics.fire_recorded(schedule.name, "time", outcome)


@dataclass(frozen=True)
class _Pass:
    """A planned pass, ready to commit, and what it was planned from."""

    plans: list[tuple[Schedule, TimePlan]]
    batch: list[tuple[Schedule, list[NewRun]]]
    fires: PreparedFires
    due: datetime | None  # a slot still to come when planned: commit no earlier
    schedules: Mapping[str, Schedule]
    gaps: tuple[tuple[datetime, datetime], ...]
    since: datetime
    epoch: int
    overrides: dict[str, bool]  # the enable/disable overrides of its schedules

    def still(self, conn: Connection) -> bool:
        """The overrides are as planned (asked inside the commit's transaction)."""
        now = states.enabled_overrides(conn)
        return {s.name: now[s.name] for s, _ in self.plans if s.name in now} == self.overrides
