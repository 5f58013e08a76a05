"""The runtime: what the daemon does for each schedule, given the config, the store and a clock.

It is the glue between the planner (pure), the store (the outbox) and the dispatcher; it knows
nothing of threads or signals, so tests drive it with an injected clock.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from triggerd.config import Config, Schedule
from triggerd.config.triggers import DatastoreTrigger, TimeTrigger
from triggerd.datastores.locate import Locator, locator
from triggerd.engine.clockwatch import ClockStep
from triggerd.engine.dispatcher import Dispatch
from triggerd.engine.planner import EXAMINE_HORIZON, TimePlan, plan_time_fires
from triggerd.engine.poller import LEASE_TTL, DatastorePoller
from triggerd.errors import ListingError
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import (
    BoundFile,
    DataPath,
    NewRun,
    RunRecord,
    RunStatus,
    TriggerKind,
    time_fire_key,
)
from triggerd.store import ScheduleState, Store, leases, outbox, states
from triggerd.submitters import RunRequest, Submitter, build_submitter


def truncate(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block: for a planning pass, where a full collection
    walking every object the daemon holds (tens of ms once thousands of runs went through it)
    would land on the clock of the fires being planned, and for loading a config, whose
    hundreds of thousands of new objects set off collection after collection (~1 s of a
    10,000-schedule load). It runs right after the block instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Runtime:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], datetime],
        owner: str,
        running_since: datetime,
        on_recorded: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
        check_clock: Callable[[], object] = lambda: None,
    ) -> None:
        """``check_clock()`` is called at every planning pass, after it read the time: it
        reports a wall-clock step (``clock_stepped``) before the pass plans past it."""
        self.config = config
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.owner = owner
        self.running_since = truncate(running_since)
        self._gaps: tuple[tuple[datetime, datetime], ...] = ()  # wall time a step jumped over
        self._check_clock = check_clock
        self._on_recorded = on_recorded
        self._submitters: dict[str, Submitter] = {}
        self._locators: dict[str, Locator] = {}  # by datastore name
        self._tick_lock = threading.Lock()  # one planning pass at a time
        self._first_seen: dict[str, datetime] = {}  # anchors never change once stored
        # The cursor this process last committed per time schedule. A cursor only moves
        # forward and every replica plans every slot (fire keys deduplicate), so planning from
        # this one instead of reading each schedule's row is safe; see _planning_states.
        self._cursors: dict[str, datetime | None] = {}  # None: nothing decided yet
        self.first_fires: dict[str, datetime] = {}  # from startup, for the scheduler's jobs
        self._log = get_logger()
        self.pollers = {
            s.name: self._poller(s, config)
            for s in config.schedules.values()
            if isinstance(s.trigger, DatastoreTrigger)
        }

    def _poller(self, schedule: Schedule, config: Config) -> DatastorePoller:
        return DatastorePoller(
            schedule,
            config,
            self.store,
            clock=self.clock,
            is_enabled=functools.partial(self.is_enabled, schedule),
            on_recorded=self._on_recorded,
            metrics=self.metrics,
            owner=self.owner,
        )

    def replace_config(self, new: Config) -> ConfigChange:
        """Switch to ``new``. Unchanged schedules are left alone; a changed time schedule first
        records what was due under its old definition, then continues from now (an edit neither
        re-fires nor drops a slot); a datastore schedule that now watches another folder starts
        from a new baseline. History and state of removed schedules stay in the store."""
        old = self.config
        change = ConfigChange.between(old, new)
        now = self.clock()
        for name in change.changed:
            if isinstance(old.schedules[name].trigger, TimeTrigger):
                self.tick(name)
                self.store.record_fires(name, [], cursor_at=now, now=now)
                self._cursors.pop(name, None)
        for name in change.removed + change.changed:
            if self.metrics and name in change.removed:
                self.metrics.forget_schedule(name)
            poller = self.pollers.pop(name, None)
            if poller is not None:
                poller.close()
        for name in change.added + change.changed:
            schedule = new.schedules[name]
            self.store.write(states.ensure, name, truncate(now))
            if isinstance(schedule.trigger, DatastoreTrigger):
                if name in change.changed and _watched(old, name) != _watched(new, name):
                    self.store.reset_snapshot(name)
                self.pollers[name] = self._poller(schedule, new)
        self.config = new
        self._locators.clear()
        self._close_submitters()
        return change

    def time_schedules(self) -> list[Schedule]:
        return [s for s in self.config.schedules.values() if isinstance(s.trigger, TimeTrigger)]

    def anchor(self, name: str) -> datetime:
        """When the daemon first saw the schedule (persisted, so restarts keep the phase)."""
        known = self._first_seen.get(name)
        if known is None:
            known = self._first_seen[name] = self._state(name, self.clock()).first_seen_at
        return known

    def _state(self, name: str, now: datetime) -> ScheduleState:
        """The schedule's stored state (a plain read), created when it has none yet."""
        state = self.store.read(states.get, name)
        if state is None:
            state = self.store.write(states.ensure, name, truncate(now))
        return state

    def startup(self) -> None:
        """Hand back runs a dead daemon left in flight, then catch up every time schedule."""
        if self.store.engine.dialect.name == "sqlite":  # one daemon per file: all are orphans
            for run_id in self.store.write(outbox.recover_orphans, except_owner=self.owner):
                self._log.warning("run.recovered", run_id=run_id, reason="daemon died mid-run")
        self.take_over_expired()
        self._ensure_states(list(self.config.schedules), truncate(self.clock()))
        known = self.store.read(states.get_all)
        self._first_seen.update({n: s.first_seen_at for n, s in known.items()})
        for schedule in self.config.schedules.values():
            state = known[schedule.name]
            next_fire = self.next_fire(schedule, state.first_seen_at)
            if next_fire is not None:  # the scheduler's first wake-up, computed once
                self.first_fires[schedule.name] = next_fire
            self._log.info(
                "schedule.loaded",
                schedule=schedule.name,
                trigger=schedule.trigger.kind,
                pipeline=schedule.pipeline,
                status=schedule.effective_status(state.enabled),
                source=schedule.source,
                next_fire=_iso(next_fire),
            )
        self.tick_many([s.name for s in self.time_schedules()], known=known)

    def _ensure_states(self, names: list[str], now: datetime) -> None:
        """Create the states of these schedules that have none, in one transaction."""
        known = self.store.read(states.get_all)
        missing = [n for n in names if n not in known]
        if missing:
            self.store.write(states.create, missing, now)

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

    def is_enabled(self, schedule: Schedule) -> bool:
        state = self.store.read(states.get, schedule.name)
        return schedule.effective_status(state.enabled if state else None) == "Active"

    def take_over_expired(self) -> list[int]:
        """Runs of a daemon that stopped renewing its claims are run again (at-least-once)."""
        taken = self.store.write(outbox.take_over_expired, self.clock())
        for run_id in taken:
            self._log.warning("run.recovered", run_id=run_id, reason="claim expired")
        if taken:
            self._on_recorded()
        return taken

    def keep_alive(self, in_flight: Collection[int]) -> None:
        """With the heartbeat: renew the claims of the runs in flight and this daemon's leases,
        take over expired ones."""
        now = self.clock()
        if in_flight:  # nothing in flight: nothing to renew, no transaction
            self.store.write(outbox.renew_claims, self.owner, now, run_ids=in_flight)
        holding = [p for p in self.pollers.values() if p.holds_lease]
        if holding:  # one statement for all of them, not a transaction each
            names = [p.lease_name for p in holding]
            held = self.store.write(leases.renew, names, self.owner, now, LEASE_TTL)
            for poller in holding:
                poller.lease_renewed(held.get(poller.lease_name), now)
        self.take_over_expired()

    def close(self) -> None:
        """Release leases, listers and the connections and credentials of remote submitters."""
        for poller in self.pollers.values():
            try:
                poller.release_lease()
            except Exception as exc:  # the database may be gone; the lease then just expires
                self._log.warning("lease.release_failed", error=str(exc))
            poller.close()
        self._close_submitters()

    def _close_submitters(self) -> None:
        for submitter in self._submitters.values():
            close = getattr(submitter, "close", None)
            if close is not None:
                close()
        self._submitters.clear()

    def next_fire(self, schedule: Schedule, anchor: datetime) -> datetime | None:
        """The next fire time, in the schedule's time zone."""
        if not isinstance(schedule.trigger, TimeTrigger):
            return None
        return schedule.trigger.next_fire(self.clock(), anchor)

    def tick(self, name: str) -> int:
        """Plan and record the due slots of one time schedule; returns the pending runs recorded."""
        return self.tick_many([name])

    def tick_many(
        self, names: Collection[str], *, known: dict[str, ScheduleState] | None = None
    ) -> int:
        """Plan the due slots of these time schedules and record them in one transaction;
        returns the pending runs recorded."""
        with self._tick_lock, collector_paused():
            now = self.clock()
            self._check_clock()
            gaps = self._gaps
            if known is None:
                known = self._planning_states(names)
            plans: list[tuple[Schedule, TimePlan]] = []
            # Schedules deployed together often plan alike (same recurrence, first seen and
            # cursor): a plan holds no schedule name, so each distinct one is computed once.
            planned: dict[tuple[object, ...], TimePlan] = {}
            for name in names:
                schedule = self.config.schedules.get(name)
                if schedule is None or not isinstance(schedule.trigger, TimeTrigger):
                    continue
                state = known.get(name) or self._state(name, now)
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

    def _planning_states(self, names: Collection[str]) -> dict[str, ScheduleState]:
        """What planning needs of each schedule, with as little reading as possible: the
        stored rows of schedules this process has not planned yet, and the CLI's enable/disable
        overrides (read every pass: a schedule disabled a second ago must not fire)."""
        unknown = [n for n in names if n not in self._cursors or n not in self._first_seen]
        found = self.store.read(states.get_many, unknown) if unknown else {}
        for name, state in found.items():  # an anchor never changes once stored
            self._first_seen.setdefault(name, state.first_seen_at)
        overrides = self.store.read(states.enabled_overrides)
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
        recorded = self.store.record_fires_many(decided, now=now) if decided else 0
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
                before=_iso(plan.not_examined_before),
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
            if new.status == "pending":
                log.info("fire.planned", scheduled_for=_iso(new.scheduled_for))
            else:
                log.info("fire.skipped", scheduled_for=_iso(new.scheduled_for), reason=new.reason)
            if self.metrics:
                outcome = "planned" if new.status == "pending" else "skipped"
                self.metrics.fire_recorded(schedule.name, "time", outcome)

    def overlap_limits(self) -> dict[str, tuple[str, int]]:
        """Schedules whose runs may not all run at once: (overlap, max_concurrent_runs)."""
        return {
            s.name: (s.overlap, s.max_concurrent_runs)
            for s in self.config.schedules.values()
            if s.overlap != "allow"
        }

    def resolve(self, run: RunRecord) -> Dispatch | str:
        """How to submit a claimed run, or why it cannot be submitted."""
        schedule = self.config.schedules.get(run.schedule)
        if schedule is None:
            return f"schedule {run.schedule!r} is no longer in the configuration"
        pipeline = self.config.pipelines.get(schedule.pipeline)
        if pipeline is None:
            return f"pipeline {schedule.pipeline!r} is no longer in the configuration"
        submitter = self._submitters.get(schedule.pipeline)
        if submitter is None:
            submitter = self._submitters[schedule.pipeline] = build_submitter(pipeline)
        bound: BoundFile | None = None
        if run.data_path is not None:
            try:
                bound = self._bind(schedule, run.data_path)
            except (ListingError, ValueError) as exc:
                return f"cannot locate {run.data_path.relative_path!r}: {exc}"
            if bound is None:
                return f"datastore {run.data_path.datastore!r} is not watched by {schedule.name!r}"
        request = RunRequest(
            run_id=run.id,
            schedule=run.schedule,
            fire_key=run.fire_key,
            trigger=run.trigger,
            scheduled_for=run.scheduled_for,
            parameters=dict(run.parameters),
            file=bound,
            data_path_parameter_name=_bound_parameter(schedule),
            experiment_name=schedule.experiment_name,
            attempt=run.attempts,
            description=schedule.description,
            continue_on_step_failure=schedule.continue_on_step_failure,
        )
        return Dispatch(request, submitter, pipeline.retry)

    def _bind(self, schedule: Schedule, data_path: DataPath) -> BoundFile | None:
        """The run's file where its pipeline reaches it (a local path or the blob URL), from
        the config alone; None when the schedule does not watch that datastore."""
        watched = schedule.trigger
        datastore = self.config.datastores.get(data_path.datastore)
        if not isinstance(watched, DatastoreTrigger) or data_path.datastore != watched.datastore:
            return None
        if datastore is None:
            return None
        found = self._locators.get(data_path.datastore)
        if found is None:
            found = self._locators[data_path.datastore] = locator(data_path.datastore, datastore)
        return found.bind_path(data_path)


@dataclass(frozen=True)
class ConfigChange:
    added: list[str]
    removed: list[str]
    changed: list[str]  # the definition, or the datastore it watches, differs

    @classmethod
    def between(cls, old: Config, new: Config) -> ConfigChange:
        before, after = old.schedules, new.schedules
        changed = [
            name
            for name in sorted(before.keys() & after.keys())
            if _definition(before[name]) != _definition(after[name])
            or _watched(old, name) != _watched(new, name)
        ]
        return cls(
            sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys()), changed
        )

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _definition(schedule: Schedule) -> Schedule:
    """What a schedule does; moving it to another file changes nothing."""
    return schedule.model_copy(update={"source": ""})


def _watched(config: Config, name: str) -> object:
    """What a schedule watches: its datastore's definition and folder (None for time ones)."""
    trigger = config.schedules[name].trigger
    if not isinstance(trigger, DatastoreTrigger):
        return None
    return (config.datastores.get(trigger.datastore), trigger.path_on_datastore)


def _bound_parameter(schedule: Schedule) -> str | None:
    """The pipeline parameter a datastore schedule binds its file to."""
    trigger = schedule.trigger
    return trigger.data_path_parameter_name if isinstance(trigger, DatastoreTrigger) else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


HEARTBEAT_STALE = timedelta(seconds=30)
