"""One schedule in full: ``schedules describe --json`` (a documented contract).

Its definition as loaded, the status in force and where it comes from (the config, or an
override with its note), the next fire times of a time schedule, the recent runs, and for a
datastore schedule what its polls saw: the poll history, the files waiting to settle and the
files present that did not fire, each with its reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triggerd.config import Schedule
from triggerd.config.blob_events import BlobEvents
from triggerd.config.triggers import DatastoreTrigger, TimeTrigger
from triggerd.cron import CronTimetable
from triggerd.datastores.filters import watch_filter
from triggerd.store import ScheduleState, Store, polls, queries, snapshots, states
from triggerd.views.common import events_view, iso

NEXT_FIRES = 5  # as many as `triggerd next` shows by default
RECENT_RUNS = 10
FILES_SHOWN = 100  # files listed per kind (settling, and each reason of not_fired)
NOT_FIRED_REASONS = ("baseline", "excluded", "not_regular", "unrepresentable")


def gather(
    store: Store, schedule: Schedule, now: datetime, *, events: BlobEvents | None = None
) -> dict[str, Any]:
    """The ``describe --json`` object (a documented contract); ``events``: the blob events
    feeding the schedule's datastore."""
    name, trigger = schedule.name, schedule.trigger
    state = store.read(states.get, name)
    status = schedule.effective_status(state.enabled if state else None)
    view: dict[str, Any] = {
        "name": name,
        "definition": definition(schedule),
        "status": {
            "status": status,
            "source": state.status_source if state else "config",
            "config": schedule.status,
            "override": state.override_json() if state else None,
        },
        "first_seen_at": iso(state.first_seen_at) if state else None,
    }
    if isinstance(trigger, TimeTrigger):
        view["next_fires"] = next_fires(trigger, state, now) if status == "Active" else []
    view["runs"] = [
        run.as_json() for run in store.read(queries.list_runs, schedule=name, limit=RECENT_RUNS)
    ]
    if isinstance(trigger, DatastoreTrigger):
        view.update(what_polls_saw(store, name, state))
        view["events"] = events_view(events, state)
    return view


def definition(schedule: Schedule) -> dict[str, Any]:
    """The schedule as loaded from its file."""
    return {
        "trigger": trigger_json(schedule),
        "pipeline": schedule.pipeline,
        "pipeline_parameters": schedule.pipeline_parameters,
        "description": schedule.description,
        "overlap": schedule.overlap,
        "max_concurrent_runs": schedule.max_concurrent_runs,
        "source": schedule.source,
        # An Azure ML v2 file's own keys (create_job: kept and shown, never run), else null.
        "azureml_v2": schedule.azureml_v2.model_dump() if schedule.azureml_v2 else None,
    }


def trigger_json(schedule: Schedule) -> dict[str, Any]:
    """A trigger's fields, defaults filled in; durations in seconds."""
    trigger = schedule.trigger
    if isinstance(trigger, TimeTrigger) and isinstance(trigger.every, CronTimetable):
        cron, policy = trigger.every, trigger.policy
        return {
            "kind": trigger.kind,
            "expression": cron.expression,
            "time_zone": cron.time_zone,
            "start_time": cron.start_time.isoformat() if cron.start_time else None,
            "end_time": cron.end_time.isoformat() if cron.end_time else None,
            "description": cron.describe(),
            "catchup": policy.mode,
            "misfire_grace_time_s": policy.grace.total_seconds(),
            "max_catchup_runs": policy.max_runs,
        }
    if isinstance(trigger, TimeTrigger):
        every, policy = trigger.recurrence, trigger.policy
        assert every is not None  # a time trigger has a recurrence or a cron
        return {
            "kind": trigger.kind,
            "frequency": str(every.frequency),
            "interval": every.interval,
            "time_zone": every.time_zone,
            "start_time": every.start_time.isoformat() if every.start_time else None,
            "hours": list(every.hours) if every.hours is not None else None,
            "minutes": list(every.minutes) if every.minutes is not None else None,
            "week_days": list(every.week_days) if every.week_days is not None else None,
            "month_days": list(every.month_days) if every.month_days is not None else None,
            "end_time": every.end_time.isoformat() if every.end_time else None,
            "description": every.describe(),
            "catchup": policy.mode,
            "misfire_grace_time_s": policy.grace.total_seconds(),
            "max_catchup_runs": policy.max_runs,
        }
    patterns = watch_filter(trigger)
    return {
        "kind": trigger.kind,
        "datastore": trigger.datastore,
        "path_on_datastore": trigger.path_on_datastore,
        "polling_interval_s": trigger.polling_interval.total_seconds(),
        "settle_s": trigger.settle.total_seconds() if trigger.settle is not None else None,
        "include": list(patterns.include),
        "exclude": list(patterns.exclude),
        "on_existing": trigger.on_existing,
        "data_path_parameter_name": trigger.data_path_parameter_name,
    }


def next_fires(trigger: TimeTrigger, state: ScheduleState | None, now: datetime) -> list[str]:
    """The next fire times, as `triggerd next` computes them (in the schedule's zone)."""
    every = trigger.every
    anchor = None
    if every.start_time is None:  # counted from when the daemon first saw the schedule
        anchor = state.first_seen_at if state else now.replace(microsecond=0)
    times = every.fire_times(now, NEXT_FIRES, anchor=anchor)
    return [moment.astimezone(every.zone).isoformat() for moment in times]


def what_polls_saw(store: Store, name: str, state: ScheduleState | None) -> dict[str, Any]:
    """A datastore schedule's poll statistics, history, settling files and files not fired."""
    with store.reading() as conn:
        history = polls.history(conn, name)
        waiting = snapshots.settling(conn, name, limit=FILES_SHOWN)
        baseline = snapshots.baseline(conn, name, limit=FILES_SHOWN)
        ignored = polls.ignored_files(conn, name, limit=FILES_SHOWN)
        counts = {**snapshots.count_by_origin(conn, name), **polls.count_ignored(conn, name)}
    not_fired = [
        {"path": path, "reason": "baseline", "detail": None, "seen_at": None}
        for path, _size in baseline
    ]
    not_fired += [
        {"path": f.path, "reason": f.reason, "detail": f.detail, "seen_at": iso(f.seen_at)}
        for f in ignored
    ]
    return {
        "last_poll": iso(state.last_poll_at) if state else None,
        "entries": state.entries if state else None,
        "polls": [record.as_json() for record in history],
        "settling": [{"path": s.path, "size": s.size, "since": iso(s.since)} for s in waiting],
        "not_fired": not_fired,
        "file_counts": counts,
    }
