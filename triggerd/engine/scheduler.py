"""APScheduler wiring: one job per time schedule, whose trigger is the Azure ML recurrence.

The job only *wakes* planning; what fires is decided by the planner against the store, so a
job that runs late (a busy process, a suspended machine) still records its slot under the
slot's own fire key, and a slot is never dropped by APScheduler's misfire handling.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from triggerd.observability.logging import get_logger
from triggerd.recurrence import Recurrence, RecurrenceTrigger

BEAT_JOB = "triggerd:beat"  # cannot clash: schedule names have no ':'


class TimeScheduler:
    def __init__(self, on_due: Callable[[str], object]) -> None:
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
        self._log = get_logger()

    def add(self, name: str, recurrence: Recurrence, anchor: datetime) -> None:
        self._scheduler.add_job(
            self._wake,
            trigger=RecurrenceTrigger(recurrence, anchor),
            args=[name],
            id=name,
            name=name,
            replace_existing=True,
        )

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
        """Forget a schedule's jobs (its time job and its poll job, whichever it has)."""
        for job_id in (name, f"poll:{name}"):
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)

    def _wake(self, name: str) -> None:
        try:
            self._on_due(name)
        except Exception as exc:  # keep the job: the next wake-up plans the slot again
            self._log.error("schedule.tick_failed", schedule=name, error=str(exc), exc_info=True)

    def next_wakeups(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
