"""`triggerd runs list | show | retry`."""

from __future__ import annotations

import json

import click

from triggerd.cli.common import common_options, iso, open_cli_store, print_json, table
from triggerd.runs import RunStatus
from triggerd.settings import Settings
from triggerd.store import outbox, queries


@click.group()
def runs() -> None:
    """What fired, what ran, what did not and why."""


@runs.command(name="list")
@common_options
@click.option("--schedule", help="Only this schedule's runs")
@click.option(
    "--status", type=click.Choice([str(s) for s in RunStatus]), help="Only runs with this status"
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array")
def list_(
    settings: Settings, schedule: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """The newest runs first. Never creates the database: without one, exit 1."""
    with open_cli_store(settings) as store:
        records = store.read(
            queries.list_runs, schedule=schedule, statuses=[status] if status else None, limit=limit
        )
    if as_json:
        print_json([r.as_json() for r in records])
        return
    rows = [
        [
            str(r.id),
            r.schedule,
            r.status,
            r.trigger,
            iso(r.scheduled_for) or "-",
            str(r.attempts),
            (r.error or r.reason or "")[:60],
        ]
        for r in records
    ]
    table(rows, ["ID", "SCHEDULE", "STATUS", "TRIGGER", "SCHEDULED FOR", "ATTEMPTS", "WHY"])


@runs.command()
@common_options
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the output tail)")
def show(settings: Settings, run_id: int, as_json: bool) -> None:
    """Everything about one run, including the tail of its output (exit 1 if there is none)."""
    with open_cli_store(settings) as store:
        record = store.read(queries.get_run, run_id)
    if as_json:
        print_json({**record.as_json(), "output": record.output})
        return
    for key, value in record.as_json().items():
        if value is not None:
            text = json.dumps(value) if isinstance(value, dict | list) else str(value)
            click.echo(f"{key + ':':<18}{text}")
    if record.output:
        click.echo("output:")
        for line in record.output.splitlines():
            click.echo(f"  {line}")


@runs.command()
@common_options
@click.argument("run_id", type=int)
def retry(settings: Settings, run_id: int) -> None:
    """Run a failed run again, under the same fire key.

    Exit 1 if the run does not exist or did not fail; never creates the database.
    """
    with open_cli_store(settings) as store:
        try:
            record = store.write(outbox.retry_run, run_id)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"run {record.id} is pending again (fire key {record.fire_key})")
