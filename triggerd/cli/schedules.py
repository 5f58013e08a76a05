"""`triggerd schedules list | enable | disable | reset | trigger`."""

from __future__ import annotations

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
from triggerd.cli.overrides import operator, reset_message, set_message, status_text
from triggerd.clock import utcnow
from triggerd.config import Config, Schedule
from triggerd.config.triggers import DatastoreTrigger, TimeTrigger
from triggerd.datastores.manual import DataPathRefused, check_data_path
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.errors import ListingError
from triggerd.runs import DataPath, NewRun, TriggerKind, manual_fire_key, time_fire_key
from triggerd.settings import Settings
from triggerd.store import outbox, queries, states
from triggerd.views.schedules import schedule_items


@click.group()
def schedules() -> None:
    """List schedules, switch them on and off, fire one by hand."""


@schedules.command(name="list")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def list_(settings: Settings, as_json: bool) -> None:
    """Every configured schedule with its status, next fire and last run.

    Reads the database, never creates it: without one, exit 1 (it says where it looked).
    """
    config = cli_config(settings)
    with open_cli_store(settings) as store:
        items = schedule_items(store, config)
    if as_json:
        print_json(items)
        return
    rows = [
        [
            i["name"],
            i["pipeline"],
            i["trigger"],
            _ended_text(status_text(i["status"], i["override"]), i),
            i["next_fire"] or "-",
            when(datetime.fromisoformat(i["last_poll"]) if i["last_poll"] else None),
            "-" if i["entries"] is None else str(i["entries"]),
            f"{i['last_run']['status']} #{i['last_run']['id']}" if i["last_run"] else "-",
        ]
        for i in items
    ]
    headers = ["NAME", "PIPELINE", "TRIGGER", "STATUS", "NEXT FIRE", "LAST POLL", "FILES"]
    table(rows, [*headers, "LAST RUN"])


def _ended_text(status: str, item: dict[str, Any]) -> str:
    """``Active (ended)``: an active schedule whose end_time has passed (a disabled one fires
    nothing anyway: its status says so)."""
    if not item["ended"] or not status.startswith("Active"):
        return status
    return status[:-1] + ", ended)" if status.endswith(")") else f"{status} (ended)"


def _set_enabled(settings: Settings, name: str, enabled: bool, note: str | None) -> None:
    config = cli_config(settings)
    schedule = config.schedule(name)  # raises ScheduleNotFound
    with open_cli_store(settings, create=True) as store:
        state = store.write(
            states.set_override, name, enabled, note=note, by=operator(), now=utcnow()
        )
    click.echo(set_message(schedule, state))


_NOTE = click.option("--note", help="Why (kept with the override, shown by `schedules list`)")


@schedules.command()
@common_options
@click.argument("name")
@_NOTE
def enable(settings: Settings, name: str, note: str | None) -> None:
    """Switch a schedule on (overrides `status: Disabled` in its config until `reset`)."""
    _set_enabled(settings, name, True, note)


@schedules.command()
@common_options
@click.argument("name")
@_NOTE
def disable(settings: Settings, name: str, note: str | None) -> None:
    """Switch a schedule off; its slots are recorded as skipped until it is enabled or reset."""
    _set_enabled(settings, name, False, note)


@schedules.command()
@common_options
@click.argument("name")
def reset(settings: Settings, name: str) -> None:
    """Forget the `enable`/`disable` override: the config's `status` is in force again (at
    the schedule's next slot, in a running daemon too)."""
    config = cli_config(settings)
    schedule = config.schedule(name)  # raises ScheduleNotFound
    with open_cli_store(settings) as store:
        before = store.write(states.clear_override, name, utcnow())
    click.echo(reset_message(schedule, before))


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not K=V", param_hint="--param")
        params[key] = value
    return params


def _known_params(config: Config, schedule: Schedule, values: tuple[str, ...]) -> dict[str, str]:
    """The --param overrides; each must be a pipeline parameter or a placeholder of the pipeline."""
    overrides = _parse_params(values)
    pipeline = config.pipelines.get(schedule.pipeline)
    known = set(schedule.pipeline_parameters) | set(pipeline.placeholders if pipeline else ())
    unknown = sorted(set(overrides) - known)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise click.BadParameter(
            f"unknown parameter{plural} {', '.join(map(repr, unknown))} for schedule "
            f"{schedule.name!r}; known: {', '.join(sorted(known)) or 'none'} (its "
            f"pipeline_parameters and the placeholders of pipeline {schedule.pipeline!r})",
            param_hint="--param",
        )
    return overrides


def _data_path(config: Config, schedule: Schedule, value: str | None) -> DataPath | None:
    """The file a manual run binds: one a poll of the schedule would fire (else refused)."""
    watch = schedule.trigger
    if not isinstance(watch, DatastoreTrigger):
        if value is not None:
            raise click.BadParameter(
                f"schedule {schedule.name!r} watches no datastore", param_hint="--data-path"
            )
        return None
    if value is None:
        head = normalise_path_on_datastore(watch.path_on_datastore)
        raise click.UsageError(
            f"schedule {schedule.name!r} watches datastore {watch.datastore!r}: give "
            "--data-path, the file to run on, relative to the datastore root "
            f"(e.g. --data-path {head + '/' if head else ''}NAME)"
        )
    try:
        relative = check_data_path(watch, config.datastores[watch.datastore], value)
    except DataPathRefused as exc:
        raise click.BadParameter(str(exc), param_hint="--data-path") from exc
    except ListingError as exc:
        raise click.ClickException(f"cannot check --data-path: {exc}") from exc
    return DataPath(watch.datastore, relative)


@schedules.command()
@common_options
@click.argument("name")
@click.option(
    "--param", "params", multiple=True, help="K=V: a pipeline parameter or placeholder's value"
)
@click.option(
    "--data-path",
    help="A file directly in the watched folder, relative to the datastore root "
    "(required for datastore schedules)",
)
def trigger(settings: Settings, name: str, params: tuple[str, ...], data_path: str | None) -> None:
    """Record a manual run now; the daemon submits it (at its next start if it is not running).

    Refused (exit 2, nothing recorded) when the run could only fail: --data-path on a time
    schedule, or missing on a datastore schedule; a data path a poll of the schedule would never
    fire (outside the datastore, missing, in a sub-folder, not a regular file, a symlink out of
    the folder, refused by include/exclude, a name the store cannot hold); a --param that is
    neither one of the schedule's pipeline_parameters nor a placeholder of its pipeline.
    Exit 1 when the datastore cannot be listed to check the path.
    """
    config = cli_config(settings)
    schedule = config.schedule(name)
    overrides = _known_params(config, schedule, params)
    bound = _data_path(config, schedule, data_path)
    parameters: dict[str, Any] = {**schedule.pipeline_parameters, **overrides}
    now = utcnow()
    new = NewRun(
        schedule=name,
        trigger=TriggerKind.MANUAL,
        fire_key=manual_fire_key(name),
        scheduled_for=now,
        parameters=parameters,
        data_path=bound,
    )
    with open_cli_store(settings, create=True) as store:
        store.write(states.ensure, name, now.replace(microsecond=0))
        run_id = store.write(outbox.add_run, new, now)
    click.echo(f"recorded run {run_id} (fire key {new.fire_key}); the daemon submits it")


@schedules.command()
@common_options
@click.argument("name")
@click.option("--from", "start", required=True, help="ISO 8601; slots at or after it")
@click.option("--to", "end", required=True, help="ISO 8601; slots at or before it (not future)")
@click.option("--dry-run", is_flag=True, help="List the slots and what would happen; record none")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def backfill(
    settings: Settings, name: str, start: str, end: str, dry_run: bool, as_json: bool
) -> None:
    """Record one run per slot of a time schedule in a past range, under the slots' own fire
    keys: a slot that already has a run is left alone; a skipped slot is run after all."""
    schedule = cli_config(settings).schedule(name)
    if not isinstance(schedule.trigger, TimeTrigger):
        raise click.ClickException(f"schedule {name!r} is a datastore schedule; it has no slots")
    every = schedule.trigger.every
    first, last, now = parse_time(start), parse_time(end), utcnow()
    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    if last > now:
        raise click.BadParameter("backfill records past slots only", param_hint="--to")
    with open_cli_store(settings, create=True) as store:
        state = store.write(states.ensure, name, now.replace(microsecond=0))
        try:
            slots = every.fire_times_between(
                first - timedelta(microseconds=1), last, anchor=state.first_seen_at
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        keys = [time_fire_key(name, slot) for slot in slots]
        existing = store.read(queries.statuses, keys)
        actions = [_backfill_action(existing.get(key)) for key in keys]
        if not dry_run:
            new_runs = [
                NewRun(name, TriggerKind.TIME, key, slot, dict(schedule.pipeline_parameters))
                for slot, key, action in zip(slots, keys, actions, strict=True)
                if action == "record"
            ]
            store.record_fires(name, new_runs, cursor_at=None, now=now)
            requeue = [k for k, a in zip(keys, actions, strict=True) if a == "run skipped slot"]
            if requeue:
                store.write(outbox.requeue_skipped, requeue, reason="backfilled")
    zone = every.zone
    items = [
        {"scheduled_for": slot.astimezone(zone).isoformat(), "fire_key": key, "action": action}
        for slot, key, action in zip(slots, keys, actions, strict=True)
    ]
    if as_json:
        print_json({"schedule": name, "dry_run": dry_run, "slots": items})
        return
    table(
        [[i["scheduled_for"], i["fire_key"], i["action"]] for i in items],
        ["SLOT", "FIRE KEY", "ACTION"],
    )
    done = sum(a in ("record", "run skipped slot") for a in actions)
    verb = "would record" if dry_run else "recorded"
    click.echo(f"{verb} {done} of {len(slots)} slots; the others already have a run")


def _backfill_action(status: str | None) -> str:
    if status is None:
        return "record"
    if status == "skipped":
        return "run skipped slot"
    return f"leave ({status})"
