"""`triggerd schedules describe NAME [--json]`: everything about one schedule in one place.

Its definition as loaded, the status in force and where it comes from (the config, or an
override with its note), the next fire times of a time schedule, the recent runs, and for a
datastore schedule what its polls saw: the poll history, the files waiting to settle and the
files present that did not fire, each with its reason. It reads the database, never creates it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Any

import click

from triggerd.cli.common import (
    cli_config,
    common_options,
    events_view,
    iso,
    open_cli_store,
    print_json,
    table,
    when,
)
from triggerd.cli.runs import WHY_WIDTH, shorten
from triggerd.clock import utcnow
from triggerd.config import Schedule
from triggerd.config.blob_events import BlobEvents
from triggerd.config.triggers import DatastoreTrigger, TimeTrigger
from triggerd.cron import CronTimetable
from triggerd.datastores.filters import watch_filter
from triggerd.humanize import human
from triggerd.settings import Settings
from triggerd.store import ScheduleState, Store, polls, queries, snapshots, states

NEXT_FIRES = 5  # as many as `triggerd next` shows by default
RECENT_RUNS = 10
FILES_SHOWN = 100  # files listed per kind (settling, and each reason of not_fired)
NOT_FIRED_REASONS = ("baseline", "excluded", "not_regular", "unrepresentable")


@click.command()
@common_options
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def describe(settings: Settings, name: str, as_json: bool) -> None:
    """Everything about one schedule: definition, status and its source, next fires, recent
    runs, and for a datastore schedule its polls and why each file present did not fire.

    Reads the database, never creates it: without one, exit 1 (it says where it looked).
    """
    config = cli_config(settings)
    schedule = config.schedule(name)  # raises ScheduleNotFound
    with open_cli_store(settings) as store:
        view = gather(store, schedule, utcnow(), events=config.events_of(schedule))
    if as_json:
        print_json(view)
    else:
        show(view)


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


# -- the human view ------------------------------------------------------------------------------


def show(view: dict[str, Any]) -> None:
    """A header of ``key: value`` lines, then small tables (as `systemctl status` does)."""
    definition_, status = view["definition"], view["status"]
    trigger = definition_["trigger"]
    lines = [
        ("Schedule", view["name"]),
        ("Status", status_line(status)),
        ("Source", definition_["source"] or "-"),
        ("Description", definition_["description"] or "-"),
        ("Pipeline", definition_["pipeline"]),
        ("Parameters", _parameters(definition_["pipeline_parameters"])),
        *_azureml_v2_lines(definition_["azureml_v2"]),
        *trigger_lines(trigger),
        ("First seen", when(_moment(view["first_seen_at"]))),
    ]
    if "last_poll" in view:
        entries = view["entries"]
        files = "" if entries is None else f" ({entries} files)"
        lines.append(("Last poll", when(_moment(view["last_poll"])) + files))
    if view.get("events"):
        lines.append(("Events", events_line(view["events"])))
        unused = "not used (fed by events)"
        lines = [(k, unused if k == "Polled every" else v) for k, v in lines]
    width = max(len(key) for key, _ in lines) + 2
    for key, value in lines:
        click.echo(f"{key + ':':<{width}}{value}")
    if "next_fires" in view:
        _section("Next fires", [[t] for t in view["next_fires"]], ["TIME"], "none (disabled)")
    if "polls" in view:
        _polls(view)
    _section("Recent runs", [_run_row(r) for r in view["runs"]], RUN_HEADERS, "none")


def _azureml_v2_lines(details: dict[str, Any] | None) -> list[tuple[str, str]]:
    """What an Azure ML v2 file would run in Azure ML (triggerd runs the pipeline instead)."""
    if details is None:
        return []
    job = details["create_job"]
    shown = job if isinstance(job, str) else json.dumps(job, separators=(", ", ": "))
    return [("Azure ML job", f"{shown} (create_job: kept, not run by triggerd)")]


def events_line(events: dict[str, Any]) -> str:
    """``on (queue landing-events), last event 2026-12-01 11:23:05Z; listing reconciles every
    1h, last 2026-12-01 10:50:00Z``."""
    every = human(_seconds(events["reconcile_interval_s"]))
    last_event = when(_moment(events["last_event_at"])) if events["last_event_at"] else "none yet"
    reconciled = events["last_reconcile_at"]
    last = when(_moment(reconciled)) if reconciled else "not yet"
    return (
        f"on (queue {events['queue']}), last event {last_event}; "
        f"listing reconciles every {every}, last {last}"
    )


def status_line(status: dict[str, Any]) -> str:
    """``Disabled (override by alice at ...: "disk full"; config: Active)``."""
    override = status["override"]
    if override is None:
        return f"{status['status']} (config)"
    by = f" by {override['by']}" if override["by"] else ""
    at = f" at {when(_moment(override['at']))}" if override["at"] else ""
    note = f': "{override["note"]}"' if override["note"] else ""
    return f"{status['status']} (override{by}{at}{note}; config: {status['config']})"


def trigger_lines(trigger: dict[str, Any]) -> list[tuple[str, str]]:
    if trigger["kind"] in ("recurrence", "cron"):
        grace = human(_seconds(trigger["misfire_grace_time_s"]))
        words = trigger["description"]  # a cron's begins with "cron"
        return [
            ("Trigger", words if trigger["kind"] == "cron" else f"recurrence {words}"),
            (
                "Catch-up",
                f"{trigger['catchup']}, grace {grace}, at most {trigger['max_catchup_runs']} runs",
            ),
        ]
    folder = trigger["path_on_datastore"] or "(the datastore root)"
    settle = trigger["settle_s"]
    return [
        ("Trigger", f"datastore {trigger['datastore']}, folder {folder}"),
        ("Polled every", human(_seconds(trigger["polling_interval_s"]))),
        ("Settle", "unchanged over two listings" if settle is None else human(_seconds(settle))),
        ("Include", ", ".join(trigger["include"])),
        ("Exclude", ", ".join(trigger["exclude"]) or "-"),
        ("On existing", trigger["on_existing"]),
    ]


def _polls(view: dict[str, Any]) -> None:
    rows = [
        [
            when(_moment(p["started_at"])),
            f"{p['duration_ms']}ms",
            "-" if p["listed"] is None else str(p["listed"]),
            *(str(p[k]) for k in ("new", "changed", "fired", "settling", "excluded")),
            "yes" if p["baseline"] else "-",
            _why(p["error"] or "-"),
        ]
        for p in view["polls"]
    ]
    headers = ["STARTED", "TOOK", "LISTED", "NEW", "CHANGED", "FIRED", "SETTLING", "EXCLUDED"]
    _section("Polls (newest first)", rows, [*headers, "BASELINE", "ERROR"], "none recorded")
    counts = view["file_counts"]
    settling = [[s["path"], str(s["size"]), when(_moment(s["since"]))] for s in view["settling"]]
    title = f"Waiting to settle ({counts.get('settling', 0)})"
    _section(title, settling, ["PATH", "SIZE", "SINCE"], "none")
    not_fired = [[f["path"], f["reason"], f["detail"] or "-"] for f in view["not_fired"]]
    total = sum(counts.get(k, 0) for k in NOT_FIRED_REASONS)
    _section(f"Not fired ({total})", not_fired, ["PATH", "REASON", "DETAIL"], "none")


RUN_HEADERS = ["ID", "STATUS", "TRIGGER", "FILE", "SCHEDULED FOR", "FINISHED", "WHY"]


def _run_row(run: dict[str, Any]) -> list[str]:
    data_path = run["data_path"]
    why = run["error"] or run["reason"] or ""
    return [
        str(run["id"]),
        run["status"],
        run["trigger"],
        data_path["relative_path"] if data_path else "-",
        when(_moment(run["scheduled_for"])),
        when(_moment(run["finished_at"])),
        _why(why or "-"),
    ]


def _why(text: str) -> str:
    """On one line; on a terminal cut at a word with ``…`` (in full when piped, and in --json)."""
    line = " ".join(text.split())
    return shorten(line, WHY_WIDTH) if sys.stdout.isatty() else line


def _section(title: str, rows: list[list[str]], headers: list[str], empty: str) -> None:
    click.echo("")
    if not rows:
        click.echo(f"{title}: {empty}")
        return
    click.echo(f"{title}:")
    table(rows, headers)


def _parameters(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in parameters.items()) or "-"


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
