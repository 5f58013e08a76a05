"""`triggerd runs list | show | retry`."""

from __future__ import annotations

import contextlib
import difflib
import json
import sys
from datetime import datetime, timedelta
from typing import Any

import click

from triggerd.cli.common import (
    cli_config,
    common_options,
    open_cli_store,
    parse_time,
    print_json,
    table,
    when,
)
from triggerd.errors import ConfigError
from triggerd.humanize import human
from triggerd.runs import RunRecord, RunStatus, TriggerKind
from triggerd.settings import Settings
from triggerd.store import Store, outbox, queries
from triggerd.views.runs import LIST_LIMIT, run_item, run_json, run_records

WHY_WIDTH = 60  # the WHY column on a terminal, without --wide


@click.group()
def runs() -> None:
    """What fired, what ran, what did not and why."""


def _time_option(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


@runs.command(name="list")
@common_options
@click.option("--schedule", help="Only this schedule's runs (an unknown name is an error)")
@click.option(
    "--status", type=click.Choice([str(s) for s in RunStatus]), help="Only runs with this status"
)
@click.option(
    "--trigger",
    type=click.Choice([str(t) for t in TriggerKind]),
    help="Only runs made by a recurrence (time), a file (datastore) or an operator (manual)",
)
@click.option(
    "--since",
    callback=lambda _c, _p, v: _time_option(v),
    help="Only runs recorded at or after this ISO 8601 time (no offset = UTC)",
)
@click.option(
    "--until",
    callback=lambda _c, _p, v: _time_option(v),
    help="Only runs recorded before this ISO 8601 time (no offset = UTC)",
)
@click.option("--file", help="Only runs for a datastore file whose relative path contains this")
@click.option("--limit", type=click.IntRange(min=1), default=LIST_LIMIT, show_default=True)
@click.option("--wide", is_flag=True, help="Print WHY in full (the default when not on a terminal)")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array")
def list_(
    settings: Settings,
    schedule: str | None,
    status: str | None,
    trigger: str | None,
    since: datetime | None,
    until: datetime | None,
    file: str | None,
    limit: int,
    wide: bool,
    as_json: bool,
) -> None:
    """The newest runs first. Never creates the database: without one, exit 1.

    Times are UTC, to the second. WHY is cut at a word, with `…`, to fit a terminal; it is
    printed in full with --wide, in --json, and when the output is not a terminal.
    """
    with open_cli_store(settings) as store:
        records = run_records(
            store,
            schedule=schedule,
            status=status,
            trigger=trigger,
            since=since,
            until=until,
            file=file,
            limit=limit,
        )
        if schedule is not None and not records:
            _check_known(settings, store, schedule)
    if as_json:
        print_json([run_item(record) for record in records])
        return
    full = wide or not sys.stdout.isatty()
    rows = [_row(r, full) for r in records]
    headers = ["ID", "SCHEDULE", "STATUS", "TRIGGER", "FILE", "SCHEDULED FOR", "FINISHED"]
    table(rows, [*headers, "DURATION", "ATTEMPTS", "WHY"])


def _row(run: RunRecord, full: bool) -> list[str]:
    why = " ".join((run.error or run.reason or "").split())  # one line in a table
    return [
        str(run.id),
        run.schedule,
        run.status,
        run.trigger,
        run.data_path.relative_path if run.data_path else "-",
        when(run.scheduled_for),
        when(run.finished_at),
        took(run.started_at, run.finished_at),
        str(run.attempts),
        why if full else shorten(why, WHY_WIDTH),
    ]


def _check_known(settings: Settings, store: Store, name: str) -> None:
    """An unknown --schedule is an error (a typo would look like "no runs"): known names are
    the database's (states and runs) and the config's (the last valid one if it is broken)."""
    names = store.read(queries.schedule_names)
    with contextlib.suppress(ConfigError):  # a broken config: the database knows the rest
        names |= set(cli_config(settings).schedules)
    if name in names:
        return
    close = difflib.get_close_matches(name, sorted(names), n=3)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise click.ClickException(
        f"no schedule named {name!r} in the configuration or the database{hint}"
    )


def took(start: datetime | None, end: datetime | None) -> str:
    """How long an attempt took (``1m30s``, ``<1s``); ``-`` unless it started and ended."""
    if start is None or end is None:
        return "-"
    delta = end - start
    return "<1s" if delta < timedelta(seconds=1) else human(delta)


def shorten(text: str, width: int) -> str:
    """``text`` if it fits, else cut at the last word boundary that leaves room for ``…``
    (mid-word only when a single word is longer than half the width)."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space >= width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


@runs.command()
@common_options
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the history and output)")
def show(settings: Settings, run_id: int, as_json: bool) -> None:
    """Everything about one run: its current attempt, the earlier ones, the tail of its output
    (exit 1 if there is no such run)."""
    with open_cli_store(settings) as store:
        record = store.read(queries.get_run, run_id)
    if as_json:
        print_json(run_json(record))
        return
    for key, value in record.as_json().items():
        if value is not None:
            text = json.dumps(value) if isinstance(value, dict | list) else str(value)
            click.echo(f"{key + ':':<18}{text}")
    if record.history:
        click.echo("history:")
        table(
            [_attempt_row(entry) for entry in record.history],
            ["  ATTEMPT", "STARTED", "FINISHED", "DURATION", "EXIT", "ERROR"],
        )
    if record.output:
        click.echo("output:")
        for line in record.output.splitlines():
            click.echo(f"  {line}")


def _attempt_row(entry: dict[str, Any]) -> list[str]:
    """An earlier attempt as a row of `runs show`'s history."""
    started, finished = (_moment(entry.get(k)) for k in ("started_at", "finished_at"))
    error = entry.get("error") or ""
    if entry.get("retried"):
        error += " (then `runs retry`)" if error else "(then `runs retry`)"
    code = entry.get("exit_code")
    return [
        f"  {entry.get('attempt')}",
        when(started),
        when(finished),
        took(started, finished),
        "-" if code is None else str(code),
        error,
    ]


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@runs.command()
@common_options
@click.argument("run_id", type=int)
def retry(settings: Settings, run_id: int) -> None:
    """Run a failed run again, under the same fire key; its last attempt goes into the
    history of `runs show`.

    Exit 1 if the run does not exist or did not fail; never creates the database.
    """
    with open_cli_store(settings) as store:
        try:
            record = store.write(outbox.retry_run, run_id)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"run {record.id} is pending again (fire key {record.fire_key})")
