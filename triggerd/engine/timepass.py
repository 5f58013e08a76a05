"""The time pass: plan the due slots of time schedules and record them, in one transaction.

Called when APScheduler wakes the planner (``batcher.py`` gathers the schedules named within a
few milliseconds) and once for every schedule at start, which is how missed slots are caught
up. It reads as little as it can: a schedule's row only the first time it plans it (after that
it plans from the cursor it committed itself) and the CLI's enable/disable overrides every
pass. It knows nothing of threads or signals: tests drive it with an injected clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from triggerd.config import Schedule
from triggerd.config.triggers import TimeTrigger
from triggerd.engine.clockwatch import ClockStep
from triggerd.engine.collector import collector_paused
from triggerd.engine.planner import EXAMINE_HORIZON, TimePlan, plan_time_fires
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, RunStatus, TriggerKind, time_fire_key
from triggerd.store import ScheduleState, Store, states


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
    ) -> None:
        """``schedules()``: the schedules in force. ``check_clock()`` is called at every pass,
        after it read the time: it reports a wall-clock step (``clock_stepped``) before the
        pass plans past it."""
        self._schedules = schedules
        self._store = store
        self._clock = clock
        self.running_since = truncate(running_since)
        self._gaps: tuple[tuple[datetime, datetime], ...] = ()  # wall time a step jumped over
        self._on_recorded = on_recorded
        self._metrics = metrics
        self._check_clock = check_clock
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
        returns the pending runs recorded."""
        with self._lock, collector_paused():
            now = self._clock()
            self._check_clock()
            gaps = self._gaps
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
                        running_since=self.running_since,
                        policy=policy,
                        enabled=enabled,
                        gaps=gaps,
                    )
                plans.append((schedule, plan))
            return self._record(plans, now)

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

    def _record(self, plans: list[tuple[Schedule, TimePlan]], now: datetime) -> int:
        batch = [(s, self._new_runs(s, plan)) for s, plan in plans]
        decided = [
            (s.name, runs, plan.cursor)
            for (s, runs), (_, plan) in zip(batch, plans, strict=True)
            if runs
        ]
        recorded = self._store.record_fires_many(decided, now=now) if decided else 0
        for schedule, plan in plans:  # committed (or nothing was due): plan on from here
            known = self._cursors.get(schedule.name)
            if known is None or (plan.cursor is not None and known < plan.cursor):
                self._cursors[schedule.name] = plan.cursor
        for schedule, new_runs in batch:
            self._log_fires(schedule, new_runs)
        if recorded:
            self._on_recorded()
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
