"""The runtime: the config in force, and what the daemon keeps per schedule beside it.

It holds the time pass (``timepass.py``), a poller per datastore schedule (``poller.py``), the
blob-event feeds (``eventfeeds.py``: their threads start only when the daemon starts them) and
the resolver the dispatcher submits through (``resolver.py``), and switches them all to a new
config on reload. It knows nothing of signals: tests drive it with an injected clock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from triggerd.config import Config, Schedule
from triggerd.config.triggers import DatastoreTrigger, TimeTrigger
from triggerd.engine.clockwatch import ClockStep
from triggerd.engine.eventfeeds import EventFeeds
from triggerd.engine.lease import LEASE_TTL
from triggerd.engine.poller import DatastorePoller
from triggerd.engine.reload import ConfigChange, watched
from triggerd.engine.resolver import Resolver
from triggerd.engine.timepass import TimePass, truncate
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.store import ScheduleState, Store, leases, outbox, queries, states


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
        resolver: Resolver | None = None,
    ) -> None:
        """``check_clock()`` is called at every planning pass, after it read the time: it
        reports a wall-clock step (``clock_stepped``) before the pass plans past it."""
        self.config = config
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.owner = owner
        self._on_recorded = on_recorded
        self.resolver = resolver or Resolver(config)
        self.times = TimePass(
            lambda: self.config.schedules,
            store,
            clock=clock,
            running_since=running_since,
            on_recorded=on_recorded,
            metrics=metrics,
            check_clock=check_clock,
        )
        self.first_fires: dict[str, datetime] = {}  # from startup, for the scheduler's jobs
        self._log = get_logger()
        self.pollers = {
            s.name: self._poller(s, config)
            for s in config.schedules.values()
            if isinstance(s.trigger, DatastoreTrigger)
        }
        self.feeds = EventFeeds(
            store, clock=clock, is_enabled=self.is_enabled, on_recorded=on_recorded, metrics=metrics
        )
        self.feeds.use(config)

    @property
    def running_since(self) -> datetime:
        return self.times.running_since

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
                self.times.forget_cursor(name)
        for name in change.added + change.changed:
            self.store.write(states.ensure, name, truncate(now))
        for name in change.removed + change.changed:
            if self.metrics and name in change.removed:
                self.metrics.forget_schedule(name)
            poller = self.pollers.pop(name, None)
            if poller is not None:
                poller.close()
        for name in change.added + change.changed:
            schedule = new.schedules[name]
            if isinstance(schedule.trigger, DatastoreTrigger):
                if name in change.changed and watched(old, name) != watched(new, name):
                    self.store.reset_snapshot(name)  # after its old poller stopped
                self.pollers[name] = self._poller(schedule, new)
        self.config = new
        self.feeds.use(new)
        self.resolver.use(new)
        return change

    def time_schedules(self) -> list[Schedule]:
        return [s for s in self.config.schedules.values() if isinstance(s.trigger, TimeTrigger)]

    def anchor(self, name: str) -> datetime:
        """When the daemon first saw the schedule (persisted, so restarts keep the phase)."""
        return self.times.anchor(name)

    def tick(self, name: str) -> int:
        """Plan and record the due slots of one time schedule; the pending runs recorded."""
        return self.times.tick(name)

    def tick_many(self, names: Collection[str]) -> int:
        return self.times.tick_many(names)

    def clock_stepped(self, step: ClockStep) -> None:
        self.times.clock_stepped(step)

    def startup(self) -> None:
        """Hand back runs a dead daemon left in flight, then catch up every time schedule."""
        if self.store.engine.dialect.name == "sqlite":  # one daemon per file: all are orphans
            orphans = self.store.write(outbox.recover_orphans, except_owner=self.owner)
            self._recovered(orphans, "daemon died mid-run")
        self.take_over_expired()
        self._seed_metrics()
        known = self._states_at_start(list(self.config.schedules), truncate(self.clock()))
        self.times.seen(known)
        for schedule in self.config.schedules.values():
            state = known[schedule.name]
            if isinstance(schedule.trigger, TimeTrigger):
                # Asked first from where the catch-up pass below starts looking (the cursor, or
                # just before the anchor): the timetable keeps that answer, and when nothing is
                # due it is also the next fire after now, so one search serves both.
                low = state.first_seen_at - timedelta(microseconds=1)
                if state.cursor_at is not None and state.cursor_at > low:
                    low = state.cursor_at
                schedule.trigger.every.next_fire_after(low, anchor=state.first_seen_at)
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
                next_fire=next_fire.isoformat() if next_fire else None,
            )
        self.times.tick_many([s.name for s in self.time_schedules()], known=known)

    def _seed_metrics(self) -> None:
        """The gauges a restart would otherwise empty: each schedule's last success and last
        failure, from the database in one query; the poll-failure counters at 0."""
        if self.metrics is None:
            return
        last = self.store.read(queries.last_finished)
        configured = self.config.schedules
        self.metrics.seed_runs({name: at for name, at in last.items() if name in configured})
        self.metrics.seed_polls(self.pollers)

    def _states_at_start(self, names: list[str], now: datetime) -> dict[str, ScheduleState]:
        """Every schedule's state, read once; those that have none are created (in one
        transaction) and only they are read again (another replica may have made them)."""
        known = self.store.read(states.get_all)
        missing = [n for n in names if n not in known]
        if missing:
            self.store.write(states.create, missing, now)
            known.update(self.store.read(states.get_many, missing))
        return known

    def is_enabled(self, schedule: Schedule) -> bool:
        state = self.store.read(states.get, schedule.name)
        return schedule.effective_status(state.enabled if state else None) == "Active"

    def take_over_expired(self) -> list[int]:
        """Runs of a daemon that stopped renewing its claims are run again (at-least-once)."""
        taken = self.store.write(outbox.take_over_expired, self.clock())
        self._recovered(taken, "claim expired")
        if taken:
            self._on_recorded()
        return taken

    def _recovered(self, run_ids: list[int], reason: str) -> None:
        """``run.recovered`` for each run, with its schedule and fire key like every run event."""
        if not run_ids:
            return
        names = self.store.read(queries.schedules_and_keys, run_ids)
        for run_id in run_ids:
            schedule, fire_key = names.get(run_id, (None, None))
            self._log.warning(
                "run.recovered", run_id=run_id, schedule=schedule, fire_key=fire_key, reason=reason
            )

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
        """Stop the event feeds; release leases, listers and the connections and credentials of
        remote submitters."""
        self.feeds.stop()
        for poller in self.pollers.values():
            try:
                poller.release_lease()
            except Exception as exc:  # the database may be gone; the lease then just expires
                self._log.warning("lease.release_failed", error=str(exc))
            poller.close()
        self.resolver.close()

    def next_fire(self, schedule: Schedule, anchor: datetime) -> datetime | None:
        """The next fire time, in the schedule's time zone."""
        if not isinstance(schedule.trigger, TimeTrigger):
            return None
        return schedule.trigger.next_fire(self.clock(), anchor)
