"""The command line: `triggerd run | validate | next | schedules ... | runs ... | check`."""

from __future__ import annotations

import gc
import logging
import sys
from datetime import datetime
from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from triggerd import __version__
from triggerd.cli.common import (
    cli_config,
    common_options,
    missing_database,
    open_cli_store,
    parse_time,
    print_json,
)
from triggerd.cli.describe import describe
from triggerd.cli.runs import runs
from triggerd.cli.schedules import schedules
from triggerd.cli.status import status
from triggerd.clock import utcnow
from triggerd.config import load_config, read_config
from triggerd.config.notices import notices
from triggerd.config.triggers import TimeTrigger
from triggerd.config.where import Places
from triggerd.cron import CronTimetable
from triggerd.errors import ConfigError, DatabaseMissing, TriggerdError
from triggerd.settings import Settings
from triggerd.store import Store, instances, open_store, states
from triggerd.store.db import store_error
from triggerd.views.daemons import heartbeat_limit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="triggerd")
def main() -> None:
    """triggerd fires pipeline runs from Azure ML style schedules kept in config files."""


@main.command()
@common_options
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), default=None)
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
@click.option("--concurrency", type=click.IntRange(min=1), default=None)
def run(
    settings: Settings, log_format: str | None, log_level: str | None, concurrency: int | None
) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT.

    Creates the database (and its folder) if it does not exist. Exits 2 for an invalid config;
    1, after one `daemon.refused` log line with the reason, when the database cannot be opened
    or fails during startup, or another daemon holds the SQLite file.
    """
    gc.disable()  # until startup is done: Daemon.run freezes what it built, then enables it
    from triggerd.engine.daemon import Daemon, install_signal_handlers
    from triggerd.observability.logging import configure_logging

    extra = {"log_format": log_format, "log_level": log_level, "concurrency": concurrency}
    settings = settings.model_copy(update={k: v for k, v in extra.items() if v is not None})
    configure_logging(settings.log_format, settings.log_level)
    loaded = read_config(settings.config)
    with _daemon_store(settings) as store:
        try:
            daemon = Daemon(loaded.config, store, settings, files=loaded.files)
            install_signal_handlers(daemon)
            code = daemon.run()
        except SQLAlchemyError as exc:  # the database failed during startup
            _refuse(str(store_error(settings.effective_database_url, exc)))
    sys.exit(code)


def _daemon_store(settings: Settings) -> Store:
    try:
        return open_store(settings.effective_database_url, daemon=True)
    except TriggerdError as exc:
        _refuse(str(exc))


def _refuse(reason: str) -> NoReturn:
    from triggerd.observability.logging import get_logger

    get_logger().error("daemon.refused", reason=reason)
    sys.exit(1)


@main.command()
@common_options
@click.option(
    "--strict",
    is_flag=True,
    help="Also check the world: folders, containers, commands, working directories, secrets",
)
def validate(settings: Settings, strict: bool) -> None:
    """Check the configuration: exit 0 if valid, else print one line per problem and exit 1.

    With --strict, a valid config is also checked against the world it names (datastore
    folders and containers, argv[0], cwd, secrets' variables and files): one line per problem,
    exit 1 if there is any.
    """
    try:
        config = load_config(settings.config)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    for notice in notices(config, Places(settings.config)):
        click.echo(f"warning: {notice}", err=True)
    if strict:
        from triggerd.engine.worldcheck import check_world

        # The Azure SDK logs its own account of a failed credential (many lines, on stderr);
        # the check reports it once, as a problem line naming the datastore.
        logging.getLogger("azure").setLevel(logging.CRITICAL)
        problems = check_world(config, settings.config)
        for problem in problems:
            click.echo(str(problem), err=True)
        if problems:
            sys.exit(1)
    click.echo(
        f"{settings.config}: ok ({len(config.schedules)} schedules, "
        f"{len(config.pipelines)} pipelines, {len(config.datastores)} datastores)"
    )


@main.command(name="next")
@common_options
@click.argument("name")
@click.option("--count", type=click.IntRange(min=1, max=10_000), default=5, show_default=True)
@click.option("--after", help="ISO 8601 time (no offset = UTC); default: now")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def next_(settings: Settings, name: str, count: int, after: str | None, as_json: bool) -> None:
    """Upcoming fire times of a time schedule, in its time zone with UTC offsets.

    A schedule with a start_time, or a cron schedule, needs no database. A recurrence without
    one counts from when the daemon first saw it, which is read from the database (never
    created: without one, exit 1).
    """
    config = cli_config(settings)
    schedule = config.schedule(name)
    if not isinstance(schedule.trigger, TimeTrigger):
        raise click.ClickException(f"schedule {name!r} is a datastore schedule; it has no times")
    every = schedule.trigger.every
    start = parse_time(after) if after else utcnow()
    phased = every.start_time is None and not isinstance(every, CronTimetable)
    anchor = _anchor(settings, name) if phased else None
    zone = every.zone
    times = every.fire_times(start, count, anchor=anchor)
    local = [t.astimezone(zone).isoformat() for t in times]
    if as_json:
        print_json({"schedule": name, "times": local})
    else:
        for text in local:
            click.echo(text)


def _anchor(settings: Settings, name: str) -> datetime:
    """The persisted first-seen time, or now for a schedule the daemon has not seen yet."""
    try:
        store = open_cli_store(settings)
    except DatabaseMissing as exc:
        raise click.ClickException(
            f"schedule {name!r} has no start_time, so its times count from when the daemon "
            f"first saw it (kept in the database); {missing_database(exc.path)}"
        ) from exc
    with store:
        state = store.read(states.get, name)
    return state.first_seen_at if state else utcnow().replace(microsecond=0)


@main.command()
@common_options
def check(settings: Settings) -> None:
    """Exit 0 if a daemon on this database is alive (fresh heartbeat), else 1.

    Never creates the database: a missing one, or one that cannot be opened, exits 1.
    """
    with open_cli_store(settings) as store:
        beat = store.read(instances.latest_heartbeat)
    limit = heartbeat_limit(settings.heartbeat_interval)
    now = utcnow()
    if beat is None:
        click.echo("unhealthy: no daemon is running on this database", err=True)
        sys.exit(1)
    age = now - beat
    if age > limit:
        click.echo(
            f"unhealthy: last heartbeat {age.total_seconds():.0f}s ago "
            f"(limit {limit.total_seconds():.0f}s)",
            err=True,
        )
        sys.exit(1)
    click.echo(f"healthy: heartbeat {age.total_seconds():.1f}s ago")


main.add_command(schedules)
schedules.add_command(describe)
main.add_command(runs)
main.add_command(status)

if __name__ == "__main__":  # pragma: no cover
    main()
