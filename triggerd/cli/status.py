"""`triggerd status`: the daemons on this database, what each holds, the config each runs on
against the files on disk now, and each one's last reload."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from triggerd.cli.common import common_options, iso, open_cli_store, print_json
from triggerd.clock import utcnow
from triggerd.config.digest import FilesChange, FilesOnDisk, files_on_disk
from triggerd.humanize import human
from triggerd.settings import Settings
from triggerd.store import instances
from triggerd.store.instances import Instance

STOPPED_SHOWN = timedelta(hours=1)  # daemons stopped this recently are shown, marked stopped
RUNS_SHOWN = 10  # claimed runs listed one by one in the text output (all are counted)


@click.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def status(settings: Settings, as_json: bool) -> None:
    """The daemons on this database: heartbeats, leases and runs they hold, the config each
    loaded against the files on disk now, the last reload.

    Exit 0 if at least one daemon is healthy (a heartbeat within three heartbeat intervals,
    as `check`), else 1. Never creates the database.
    """
    now = utcnow()
    with open_cli_store(settings) as store, store.reading() as conn:
        daemons = instances.recent(conn, now - STOPPED_SHOWN)
        ids = [daemon.id for daemon in daemons]
        leases, claimed = instances.held_leases(conn, ids), instances.claimed_runs(conn, ids)
    disk = files_on_disk(settings.config)
    limit = settings.heartbeat_interval * 3
    views = [
        daemon_view(d, leases[d.id], claimed[d.id], disk, now=now, limit=limit) for d in daemons
    ]
    healthy = any(view["healthy"] for view in views)
    if as_json:
        print_json(
            {
                "healthy": healthy,
                "heartbeat_limit_s": limit.total_seconds(),
                "config_path": str(settings.config.absolute()),
                "disk": disk_view(disk),
                "daemons": views,
            }
        )
    elif not views:
        click.echo("no daemon on this database (none running, none stopped in the last hour)")
    else:
        for view in views:
            _print(view, limit)
    sys.exit(0 if healthy else 1)


def disk_view(disk: FilesOnDisk) -> dict[str, Any]:
    """The config files on disk now (a file that cannot be read has ``sha256`` null)."""
    return {
        "digest": disk.digest,
        "files": [{"path": path, "sha256": sha} for path, sha in sorted(disk.sha256s.items())],
        "problems": [str(problem) for problem in disk.problems],
    }


def daemon_view(
    daemon: Instance,
    leases: list[tuple[str, datetime]],
    claimed: list[tuple[int, str]],
    disk: FilesOnDisk,
    *,
    now: datetime,
    limit: timedelta,
) -> dict[str, Any]:
    """One daemon as `status --json` shows it."""
    age = now - daemon.heartbeat_at
    return {
        "id": daemon.id,
        "host": daemon.hostname,
        "pid": daemon.pid,
        "version": daemon.version,
        "started_at": iso(daemon.started_at),
        "heartbeat_at": iso(daemon.heartbeat_at),
        "heartbeat_age_s": round(age.total_seconds(), 1),
        "healthy": daemon.stopped_at is None and age <= limit,
        "stopped": daemon.stopped_at is not None,
        "stopped_at": iso(daemon.stopped_at),
        "leases": [{"name": name, "expires_at": iso(until)} for name, until in leases],
        "claimed_runs": {
            "count": len(claimed),
            "runs": [{"id": run_id, "schedule": schedule} for run_id, schedule in claimed],
        },
        "config": config_view(daemon.config, disk),
        "reload": daemon.reload,
    }


def config_view(recorded: dict[str, Any] | None, disk: FilesOnDisk) -> dict[str, Any] | None:
    """The config a daemon recorded it runs on, against the files on disk now."""
    if recorded is None:
        return None
    files = {item["path"]: item["sha256"] for item in recorded.get("files", [])}
    change = FilesChange.between(files, disk.sha256s)
    return {
        **recorded,
        "disk": "same" if change.same else "differs",
        "changed": change.changed,
        "added": change.added,
        "removed": change.removed,
    }


def _print(view: dict[str, Any], limit: timedelta) -> None:
    age = timedelta(seconds=view["heartbeat_age_s"])
    if view["stopped"]:
        state = f"stopped at {_when(view['stopped_at'])}"
    elif view["healthy"]:
        state = "healthy"
    else:
        state = f"unhealthy: no heartbeat for {human(age)} (limit {human(limit)})"
    click.echo(f"daemon {view['id']}  {state}")
    lines = [
        ("host", f"{view['host']}, pid {view['pid']}, version {view['version'] or '?'}"),
        ("started", _when(view["started_at"])),
        ("heartbeat", f"{human(age, seconds_up_to=timedelta(minutes=2))} ago"),
        ("leases", _leases(view["leases"])),
        ("runs", _runs(view["claimed_runs"])),
        *_config(view["config"]),
        *_reload(view["reload"]),
    ]
    for label, text in lines:
        click.echo(f"  {label:<10} {text}".rstrip())
    click.echo("")


def _leases(leases: list[dict[str, Any]]) -> str:
    if not leases:
        return "none"
    return f"{len(leases)}: " + ", ".join(
        f"{i['name']} (until {_when(i['expires_at'])})" for i in leases
    )


def _runs(claimed: dict[str, Any]) -> str:
    if not claimed["count"]:
        return "none running"
    shown = ", ".join(f"#{r['id']} {r['schedule']}" for r in claimed["runs"][:RUNS_SHOWN])
    more = claimed["count"] - min(claimed["count"], RUNS_SHOWN)
    return f"{claimed['count']} running: {shown}" + (f", and {more} more" if more else "")


def _config(config: dict[str, Any] | None) -> list[tuple[str, str]]:
    if config is None:
        return [("config", "not recorded (a daemon older than this triggerd)")]
    count = len(config["files"])
    files = f"{count} file" if count == 1 else f"{count} files"
    head = f"{config['digest'][:12]} loaded {_when(config['loaded_at'])}, {files}: "
    if config["disk"] == "same":
        return [("config", head + "the same as on disk")]
    lines = [("config", head + "differs from the files on disk now")]
    for kind in ("changed", "added", "removed"):
        lines.extend(("", f"  {kind}: {path}") for path in config[kind])
    return lines


def _reload(reload: dict[str, Any] | None) -> list[tuple[str, str]]:
    if reload is None:
        return [("reload", "none since the start")]
    lines = [("reload", f"{_when(reload['at'])} {reload['result']}")]
    lines.extend(("", f"  {problem}") for problem in reload["problems"])
    return lines


def _when(value: str) -> str:
    """A recorded ISO 8601 time, in UTC to the second: ``2026-12-01 11:23:05Z``."""
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
