"""APScheduler wiring: one job per distinct timetable (an Azure ML recurrence or a cron expression).

The job only *wakes* planning; what fires is decided by the planner against the store, so a
job that runs late (a busy process, a suspended machine) still records its slot under the
slot's own fire key, and a slot is never dropped by APScheduler's misfire handling.

Schedules with the same recurrence (and the same start, or the same first-seen anchor when they
have no ``start_time``), or with the same cron expression, zone and bounds (a cron expression
has no phase: the anchor does not matter), share one job: a thousand schedules due on the same
minute are one wake-up naming all of them, not a thousand jobs for APScheduler to run one by
one.

A wall-clock step never silences it: the loop looks at the jobs at least every second, a step
forward wakes every recurrence job once, and the planner's cursor keeps a step back from firing
a slot twice. Datastore polls are not APScheduler jobs: ``engine/polls.py`` runs them on the
monotonic clock.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.base import BaseTrigger

from triggerd.engine.clockwatch import ClockStep
from triggerd.engine.timepass import AHEAD
from triggerd.observability.logging import get_logger
from triggerd.recurrence import Recurrence
from triggerd.timetable import Timetable

BEAT_JOB = "triggerd:beat"  # cannot clash: schedule names have no ':'
LOOK_EVERY = 1.0  # seconds: the longest the scheduler sleeps without looking at the clock

_Group = tuple[Timetable, datetime | None]  # what makes two schedules fire at the same instants


class TimeScheduler:
    def __init__(
        self,
        on_due: Callable[..., object],
        *,
        before_pass: Callable[[], object] = lambda: None,
        on_next_fire: Callable[[list[str], datetime | None], object] = lambda names, when: None,
    ) -> None:
        """``on_due(*names)`` is called with the schedules that came due together;
        ``before_pass()`` before each look at the jobs (at least every second);
        ``on_next_fire(names, when)`` whenever the next slot of schedules is known: when one is
        added, and after each wake-up (None: the recurrence has no more slots)."""
        self._on_due = on_due
        self._on_next_fire = on_next_fire
        # Never drop a late wake-up (None = no grace limit); coalesce a backlog into one
        # wake-up: planning records every due slot anyway. Each time job is also given them
        # itself: a job with every option set is not modified again when it is taken in.
        self._job_options: dict[str, Any] = {
            "misfire_grace_time": None,
            "coalesce": True,
            "max_instances": 1,
        }
        self._scheduler = _Scheduler(
            before_pass, timezone=UTC, job_defaults=dict(self._job_options)
        )
        self._members: dict[_Group, set[str]] = {}  # a recurrence's schedules
        self._jobs: dict[_Group, str] = {}  # a recurrence's job id
        self._group_of: dict[str, _Group] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the groups change on reload while jobs run
        self._wake_job = _Wake(self._wake)
        self._log = get_logger()

    def add(
        self,
        name: str,
        recurrence: Timetable,
        anchor: datetime,
        *,
        first_fire: datetime | None = None,
    ) -> None:
        """Wake ``name`` at its timetable's instants (``anchor``: when it was first seen).

        ``first_fire``, when the caller already knows it, spares computing it again."""
        # The anchor is only the start of a recurrence without start_time.
        phased = isinstance(recurrence, Recurrence) and recurrence.start_time is None
        group = (recurrence, anchor if phased else None)
        with self._lock:
            self._leave(name)
            self._join(name, group, RecurrenceTrigger(recurrence, anchor), first_fire)

    def _join(
        self, name: str, group: _Group, trigger: RecurrenceTrigger, first: datetime | None
    ) -> None:
        members = self._members.get(group)
        if members is None:
            members = self._members[group] = set()
            job_id = self._jobs[group] = f"time:{next(self._ids)}"
            options = dict(self._job_options)
            if first is not None:
                options["next_run_time"] = first
            # The name is the id: the trigger's words (``describe()``) are worked out only if
            # APScheduler shows the job (its ``str`` names the trigger), not for every job.
            self._scheduler.add_job(
                self._wake_job,
                trigger=trigger,
                args=[group],
                id=job_id,
                name=job_id,
                replace_existing=True,
                **options,
            )
        members.add(name)
        self._group_of[name] = group
        if first is None:
            first = trigger.recurrence.next_fire_after(datetime.now(UTC), anchor=trigger.anchor)
        self._on_next_fire([name], first)

    def _leave(self, name: str) -> None:
        group = self._group_of.pop(name, None)
        if group is None:
            return
        members = self._members[group]
        members.discard(name)
        if not members:
            del self._members[group]
            job_id = self._jobs.pop(group)
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)

    def add_beat(self, every_s: float, beat: Callable[[], None]) -> None:
        """A job that proves the scheduler still runs its jobs (liveness)."""
        self._scheduler.add_job(
            beat,
            trigger=_Every(every_s),
            id=BEAT_JOB,
            name=BEAT_JOB,
            replace_existing=True,
        )

    def remove(self, name: str) -> None:
        """Forget a schedule's wake-ups."""
        with self._lock:
            self._leave(name)

    def clock_stepped(self, step: ClockStep) -> None:
        """The wall clock jumped. Forward: every recurrence job wakes now, once (the planner
        decides what the jump skipped), instead of APScheduler walking each missed instant.
        Either way the beat runs now. A job's next wake-up after a backward step stays where
        it was: the slots before it are decided already."""
        now = datetime.now(UTC)
        with self._lock:
            jobs = list(self._jobs.values()) if step.forward else []
        for job_id in [*jobs, BEAT_JOB]:
            with contextlib.suppress(JobLookupError):
                self._scheduler.modify_job(job_id, next_run_time=now)
        self._scheduler.woken_ahead.clear()  # the instants they were for may come again

    def _wake(self, group: _Group) -> None:
        with self._lock:
            names = sorted(self._members.get(group, ()))
        try:
            self._on_due(*names)
        except Exception as exc:  # keep the job: the next wake-up plans the slot again
            self._log.error(
                "schedule.tick_failed", schedules=len(names), error=str(exc), exc_info=True
            )
        recurrence, anchor = group
        # Woken up to AHEAD before the slot (see _Scheduler): the next fire is the one after it.
        after = datetime.now(UTC) + AHEAD
        self._on_next_fire(names, recurrence.next_fire_after(after, anchor=anchor))

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    @property
    def loop_at(self) -> float:
        """When the scheduler's loop last went round (monotonic; liveness)."""
        return self._scheduler.loop_at

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop; jobs in flight are not waited for (they only name schedules to the planner)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 is untyped
    """APScheduler's background scheduler, looking at its jobs at least every second, and
    waking the planner ``AHEAD`` of each slot.

    APScheduler sleeps until the next job is due by the wall clock, measured on the monotonic
    clock: after a step back of an hour it would sleep an hour, and a step forward would not
    wake it. Looking every second (the due jobs come from a sorted index: a look is cheap)
    bounds what a step can delay to a second, and ``before_pass`` (the clock check) runs first.

    A timetable job's function is also called ``AHEAD`` of its instant, here in the loop's
    thread (it only names schedules to the planner): the planner plans the slot and builds its
    rows before it, and commits at it (``timepass.py``). APScheduler still runs the job at the
    instant, as before; by then the slot is recorded and that pass finds nothing to do, or it
    plans the slot itself if the early pass could not commit it.
    """

    def __init__(self, before_pass: Callable[[], object], **options: Any) -> None:
        super().__init__(**options)
        self._before_pass = before_pass
        self.loop_at = time.monotonic()
        self.woken_ahead: dict[str, datetime] = {}  # job id -> the instant it was woken for
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _process_jobs(self) -> float:
        self.loop_at = time.monotonic()
        try:
            self._before_pass()
        except Exception as exc:  # never stop the loop
            get_logger().error("scheduler.check_failed", error=str(exc))
        wait = super()._process_jobs()
        wait = LOOK_EVERY if wait is None else min(wait, LOOK_EVERY)
        if self.state != STATE_RUNNING:
            return wait
        try:
            return min(wait, self.wake_ahead())
        except Exception as exc:  # never stop the loop: the jobs still run at their instants
            get_logger().error("scheduler.check_failed", error=str(exc))
            return wait

    def wake_ahead(self) -> float:
        """Call the function of each timetable job due within ``AHEAD`` (once per instant);
        the seconds until the next one is, within the next look."""
        now = self.now()
        soon = now + AHEAD
        with self._jobstores_lock:
            jobs = [
                job
                for store in self._jobstores.values()
                for job in store.get_due_jobs(soon + timedelta(seconds=LOOK_EVERY))
                if isinstance(job.func, _Wake)
            ]
        self.woken_ahead = {i: at for i, at in self.woken_ahead.items() if at >= now}
        wait = LOOK_EVERY
        for job in jobs:
            at = job.next_run_time
            if self.woken_ahead.get(job.id) == at:
                continue
            if at > soon:
                wait = min(wait, (at - soon).total_seconds())
                continue
            self.woken_ahead[job.id] = at
            job.func(*job.args)
        return wait


class _Wake:
    """A group's job function: ``wake(group)``, as APScheduler calls it (``args=[group]``).

    APScheduler checks every job's function against its arguments with ``inspect.signature``,
    which for a bound method costs about 10 µs a job: a tenth of a second for 10,000 schedules
    at start. The signature given here answers at once.
    """

    __slots__ = ("wake",)
    __signature__ = inspect.Signature(
        [inspect.Parameter("group", inspect.Parameter.POSITIONAL_ONLY)]
    )

    def __init__(self, wake: Callable[[_Group], None]) -> None:
        self.wake = wake

    def __call__(self, group: _Group, /) -> None:
        self.wake(group)


class _Every(BaseTrigger):  # type: ignore[misc]
    """Every ``seconds`` from the previous run, whatever the wall clock did meanwhile."""

    def __init__(self, seconds: float) -> None:
        self.step = timedelta(seconds=seconds)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        return now + self.step


class RecurrenceTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """An APScheduler 3 trigger that fires a ``Timetable`` (all the time math is there, in
    ``triggerd/recurrence.py`` and ``triggerd/cron.py``, which know nothing of APScheduler)."""

    __slots__ = ("anchor", "recurrence")

    def __init__(self, recurrence: Timetable, anchor: datetime | None) -> None:
        self.recurrence = recurrence
        self.anchor = anchor

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time if previous_fire_time else now
        return self.recurrence.next_fire_after(after, anchor=self.anchor)

    def __str__(self) -> str:
        kind = "recurrence" if isinstance(self.recurrence, Recurrence) else "timetable"
        return f"{kind}[{self.recurrence.describe()}]"

    def __repr__(self) -> str:
        anchor = self.anchor.isoformat() if self.anchor else None
        return f"<{type(self).__name__} ({self.recurrence.describe()!r}, anchor={anchor!r})>"
