"""From a claimed run to a submission: its pipeline's submitter, its request and its file.

The resolver holds one submitter per pipeline (remote ones keep their connections for the
daemon's life) and one locator per datastore, for the config in force; a reload hands it the
new config. A run that can no longer be submitted — its schedule or pipeline left the config,
its file cannot be located — raises ``Unresolvable`` with the reason the run fails with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from triggerd.config import Config, Schedule
from triggerd.config.pipelines import FollowedPipeline, RetryPolicy
from triggerd.config.triggers import DatastoreTrigger
from triggerd.datastores.locate import Locator, locator
from triggerd.engine.retries import NO_RETRY
from triggerd.errors import ListingError, TriggerdError
from triggerd.runs import BoundFile, DataPath, RunRecord
from triggerd.submitters import RunRequest, Submitter, build_submitter


def _overlap_limits(config: Config) -> dict[str, tuple[str, int]]:
    return {
        s.name: (s.overlap, s.max_concurrent_runs)
        for s in config.schedules.values()
        if s.overlap != "allow"
    }


class Unresolvable(TriggerdError):
    """A claimed run cannot be submitted; the message is why (the run fails with it)."""


@dataclass(frozen=True)
class Dispatch:
    """What the dispatcher needs to submit a claimed run."""

    request: RunRequest
    submitter: Submitter
    retry: RetryPolicy = NO_RETRY
    follow: timedelta | None = None  # follow a submitted run for at most this long (or not)


class Resolver:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._submitters: dict[str, Submitter] = {}
        self._locators: dict[str, Locator] = {}  # by datastore name
        self._limits = _overlap_limits(config)

    def use(self, config: Config) -> None:
        """From now on, the runs of ``config`` (a reload)."""
        self._config = config
        self._limits = _overlap_limits(config)
        self._locators.clear()
        self.close()

    def resolve(self, run: RunRecord) -> Dispatch:
        """How to submit a claimed run; raises Unresolvable with why it cannot be."""
        schedule = self._config.schedules.get(run.schedule)
        if schedule is None:
            raise Unresolvable(f"schedule {run.schedule!r} is no longer in the configuration")
        pipeline = self._config.pipelines.get(schedule.pipeline)
        if pipeline is None:
            raise Unresolvable(f"pipeline {schedule.pipeline!r} is no longer in the configuration")
        submitter = self._submitters.get(schedule.pipeline)
        if submitter is None:
            submitter = self._submitters[schedule.pipeline] = build_submitter(pipeline)
        watch = schedule.trigger if isinstance(schedule.trigger, DatastoreTrigger) else None
        request = RunRequest(
            run_id=run.id,
            schedule=run.schedule,
            fire_key=run.fire_key,
            trigger=run.trigger,
            scheduled_for=run.scheduled_for,
            parameters=dict(run.parameters),
            file=self._file(schedule, watch, run.data_path),
            data_path_parameter_name=watch.data_path_parameter_name if watch else None,
            experiment_name=schedule.experiment_name,
            attempt=run.attempts,
            description=schedule.description,
            continue_on_step_failure=schedule.continue_on_step_failure,
        )
        follow = None
        if isinstance(pipeline, FollowedPipeline) and pipeline.follow:
            follow = pipeline.follow_timeout
        return Dispatch(request, submitter, pipeline.retry, follow)

    def _file(
        self, schedule: Schedule, watch: DatastoreTrigger | None, data_path: DataPath | None
    ) -> BoundFile | None:
        """The run's file where its pipeline reaches it (a local path or the blob URL), from
        the config alone."""
        if data_path is None:
            return None
        datastore = self._config.datastores.get(data_path.datastore)
        if watch is None or data_path.datastore != watch.datastore or datastore is None:
            raise Unresolvable(
                f"datastore {data_path.datastore!r} is not watched by {schedule.name!r}"
            )
        try:
            found = self._locators.get(data_path.datastore)
            if found is None:
                found = locator(data_path.datastore, datastore)
                self._locators[data_path.datastore] = found
            return found.bind_path(data_path)
        except (ListingError, ValueError) as exc:
            raise Unresolvable(f"cannot locate {data_path.relative_path!r}: {exc}") from None

    def overlap_limits(self) -> dict[str, tuple[str, int]]:
        """Schedules whose runs may not all run at once: (overlap, max_concurrent_runs).

        Worked out once per config: the dispatcher asks before every claim, once a second when
        idle, and going over 10,000 schedules each time was a fifth of the idle daemon's CPU.
        The same dict each time: read it, do not change it."""
        return self._limits

    def close(self) -> None:
        """Release the connections and credentials of remote submitters."""
        for submitter in self._submitters.values():
            close = getattr(submitter, "close", None)
            if close is not None:
                close()
        self._submitters.clear()
