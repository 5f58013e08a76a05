"""APScheduler wiring: one job per distinct recurrence, whose trigger is the Azure ML recurrence.

The job only *wakes* planning; what fires is decided by the planner against the store, so a
job that runs late (a busy process, a suspended machine) still records its slot under the
slot's own fire key, and a slot is never dropped by APScheduler's misfire handling.

Schedules with the same recurrence (and the same start, or the same first-seen anchor when they
have no ``start_time``) share one job: a thousand schedules due on the same minute are one
wake-up naming all of them, not a thousand jobs for APScheduler to run one by one.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from triggerd.observability.logging import get_logger
from triggerd.recurrence import Recurrence, RecurrenceTrigger

BEAT_JOB = "triggerd:beat"  # cannot clash: schedule names have no ':'

_Group = tuple[Recurrence, datetime | None]  # what makes two schedules fire at the same instants


class TimeScheduler:
    def __init__(self, on_due: Callable[..., object]) -> None:
        """``on_due(*names)`` is called with the schedules that came due together."""
        self._on_due = on_due
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                # Never drop a late wake-up (None = no grace limit); coalesce a backlog into one
                # wake-up: planning records every due slot anyway.
                "misfire_grace_time": None,
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self._members: dict[_Group, set[str]] = {}  # a recurrence's schedules
        self._jobs: dict[_Group, str] = {}  # a recurrence's job id
        self._group_of: dict[str, _Group] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the groups change on reload while jobs run
        self._log = get_logger()

    def add(
        self,
        name: str,
        recurrence: Recurrence,
        anchor: datetime,
        *,
        first_fire: datetime | None = None,
    ) -> None:
        """Wake ``name`` at its recurrence's instants (``anchor``: when it was first seen).

        ``first_fire``, when the caller already knows it, spares computing it again."""
        # The anchor is only the start of a recurrence without start_time.
        group = (recurrence, anchor if recurrence.start_time is None else None)
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
            options: dict[str, Any] = {"next_run_time": first} if first is not None else {}
            self._scheduler.add_job(
                self._wake,
                trigger=trigger,
                args=[group],
                id=job_id,
                name=f"{job_id} {trigger}",
                replace_existing=True,
                **options,
            )
        members.add(name)
        self._group_of[name] = group

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

    def add_poll(
        self, name: str, interval: timedelta, poll: Callable[[], timedelta | None]
    ) -> None:
        """Poll every ``interval``, the first time at once. A poll may return a shorter delay
        (a retry after a failure, a follow-up for files still settling): the next poll moves
        up to then."""
        job_id = f"poll:{name}"

        def run() -> None:
            try:
                retry_in = poll()
            except Exception as exc:  # the store was unavailable, say: poll again next time
                self._log.error("poll.crashed", schedule=name, error=str(exc), exc_info=True)
                return
            if retry_in is not None:
                job = self._scheduler.get_job(job_id)
                if job is not None:
                    job.modify(next_run_time=datetime.now(UTC) + retry_in)

        self._scheduler.add_job(
            run,
            trigger=IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC),
            id=job_id,
            name=job_id,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    def wake_poll(self, name: str, delay: timedelta = timedelta(seconds=0.5)) -> None:
        """Bring a poll forward to ``delay`` from now (early wake); later polls keep their pace."""
        job = self._scheduler.get_job(f"poll:{name}")
        soon = datetime.now(UTC) + delay
        if job is not None and job.next_run_time is not None and job.next_run_time > soon:
            job.modify(next_run_time=soon)

    def add_beat(self, every_s: float, beat: Callable[[], None]) -> None:
        """A job that proves the scheduler still runs its jobs (liveness)."""
        self._scheduler.add_job(
            beat,
            trigger=IntervalTrigger(seconds=every_s, timezone=UTC),
            id=BEAT_JOB,
            name=BEAT_JOB,
            replace_existing=True,
        )

    def remove(self, name: str) -> None:
        """Forget a schedule's wake-ups (its recurrence's or its polls, whichever it has)."""
        with self._lock:
            self._leave(name)
        if self._scheduler.get_job(f"poll:{name}") is not None:
            self._scheduler.remove_job(f"poll:{name}")

    def _wake(self, group: _Group) -> None:
        with self._lock:
            names = sorted(self._members.get(group, ()))
        try:
            self._on_due(*names)
        except Exception as exc:  # keep the job: the next wake-up plans the slot again
            self._log.error(
                "schedule.tick_failed", schedules=len(names), error=str(exc), exc_info=True
            )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
