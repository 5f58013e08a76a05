"""`triggerd schedules describe NAME [--json]`: everything about one schedule in one place.

Its definition as loaded, the status in force and where it comes from (the config, or an
override with its note), the next fire times of a time schedule, the recent runs, and for a
datastore schedule what its polls saw: the poll history, the files waiting to settle and the
files present that did not fire, each with its reason. It reads the database, never creates it.
The view is `triggerd.views.schedule`'s (the daemon's API serves the same); this prints it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Any

import click

from triggerd.cli.common import cli_config, common_options, open_cli_store, print_json, table, when
from triggerd.cli.runs import WHY_WIDTH, shorten
from triggerd.clock import utcnow
from triggerd.humanize import human
from triggerd.settings import Settings
from triggerd.views.schedule import NOT_FIRED_REASONS, gather


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
