"""Every schedule in a line: ``schedules list --json`` (a documented contract)."""

from __future__ import annotations

from typing import Any

from triggerd.clock import utcnow
from triggerd.config import Config, Schedule
from triggerd.config.triggers import TimeTrigger
from triggerd.runs import RunRecord
from triggerd.store import ScheduleState, Store, queries, states
from triggerd.views.common import events_view, iso


def schedule_items(store: Store, config: Config) -> list[dict[str, Any]]:
    """Every configured schedule, in the config's order, with its state and last run."""
    known, last_runs = store.read(states.get_all), store.read(queries.last_runs)
    return [
        schedule_item(config, schedule, known.get(name), last_runs.get(name))
        for name, schedule in config.schedules.items()
    ]


def schedule_item(
    config: Config, schedule: Schedule, state: ScheduleState | None, last_run: RunRecord | None
) -> dict[str, Any]:
    """One schedule: its status in force and where it comes from, its next fire (a time
    schedule that is active), whether its end_time has passed, its last poll and run."""
    override = state.enabled if state else None
    next_fire = None
    status = schedule.effective_status(override)
    if isinstance(schedule.trigger, TimeTrigger) and status == "Active":
        anchor = state.first_seen_at if state else utcnow().replace(microsecond=0)
        next_fire = schedule.trigger.next_fire(utcnow(), anchor)
    # Its end_time has passed: it fires nothing more (whatever its status).
    ended = isinstance(schedule.trigger, TimeTrigger) and schedule.trigger.every.ended(utcnow())
    return {
        "name": schedule.name,
        "pipeline": schedule.pipeline,
        "trigger": schedule.trigger.kind,
        "status": status,
        "status_source": state.status_source if state else "config",
        "override": state.override_json() if state else None,
        "next_fire": iso(next_fire),
        "ended": ended,
        "last_poll": iso(state.last_poll_at) if state else None,
        "entries": state.entries if state else None,
        "events": events_view(config.events_of(schedule), state),
        "last_run": (
            {
                "id": last_run.id,
                "status": last_run.status,
                "fire_key": last_run.fire_key,
                "scheduled_for": iso(last_run.scheduled_for),
                "finished_at": iso(last_run.finished_at),
            }
            if last_run
            else None
        ),
        "description": schedule.description,
        "source": schedule.source,
    }
