"""`triggerd status`: the daemons on this database, what each holds, the config each runs on
against the files on disk now, and each one's last reload (the view is
`triggerd.views.daemons`'s, which the daemon's API serves too; this prints it)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from triggerd.cli.common import common_options, open_cli_store, print_json
from triggerd.clock import utcnow
from triggerd.humanize import human
from triggerd.settings import Settings
from triggerd.views.daemons import heartbeat_limit, status_view

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
    with open_cli_store(settings) as store:
        view = status_view(store, settings.config, settings.heartbeat_interval, utcnow())
    if as_json:
        print_json(view)
    elif not view["daemons"]:
        click.echo("no daemon on this database (none running, none stopped in the last hour)")
    else:
        limit = heartbeat_limit(settings.heartbeat_interval)
        for daemon in view["daemons"]:
            _print(daemon, limit)
    sys.exit(0 if view["healthy"] else 1)


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
