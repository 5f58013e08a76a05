"""`triggerd schedules list | enable | disable | trigger`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import click

from triggerd.cli.common import (
    common_options,
    iso,
    open_cli_store,
    parse_time,
    print_json,
    table,
)
from triggerd.config import Schedule, load_config
from triggerd.engine.planner import time_fire_key
from triggerd.engine.runtime import Runtime
from triggerd.settings import Settings
from triggerd.store import RunRecord, ScheduleState
from triggerd.store.repository import NewRun, utcnow


@click.group()
def schedules() -> None:
    """List schedules, switch them on and off, fire one by hand."""


def _describe(
    schedule: Schedule, state: ScheduleState | None, last: RunRecord | None
) -> dict[str, Any]:
    override = state.enabled if state else None
    next_fire = None
    status = Runtime.effective_status(schedule, override)
    if schedule.recurrence is not None and status == "Active":
        anchor = state.first_seen_at if state else utcnow().replace(microsecond=0)
        moment = schedule.recurrence.next_fire_after(utcnow(), anchor=anchor)
        next_fire = moment.astimezone(schedule.recurrence.zone) if moment else None
    return {
        "name": schedule.name,
        "pipeline": schedule.pipeline,
        "trigger": schedule.trigger,
        "status": status,
        "next_fire": iso(next_fire),
        "last_poll": iso(state.last_poll_at) if state else None,
        "entries": state.entries if state else None,
        "last_run": (
            {
                "id": last.id,
                "status": last.status,
                "fire_key": last.fire_key,
                "scheduled_for": iso(last.scheduled_for),
                "finished_at": iso(last.finished_at),
            }
            if last
            else None
        ),
        "description": schedule.description,
        "source": schedule.source,
    }


@schedules.command(name="list")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def list_(settings: Settings, as_json: bool) -> None:
    """Every configured schedule with its status, next fire and last run."""
    config = load_config(settings.config)
    store = open_cli_store(settings)
    try:
        states, last_runs = store.schedule_states(), store.last_runs()
    finally:
        store.close()
    items = [_describe(s, states.get(n), last_runs.get(n)) for n, s in config.schedules.items()]
    if as_json:
        print_json(items)
        return
    rows = [
        [
            i["name"],
            i["pipeline"],
            i["trigger"],
            i["status"],
            i["next_fire"] or "-",
            i["last_poll"] or "-",
            "-" if i["entries"] is None else str(i["entries"]),
            f"{i['last_run']['status']} #{i['last_run']['id']}" if i["last_run"] else "-",
        ]
        for i in items
    ]
    headers = ["NAME", "PIPELINE", "TRIGGER", "STATUS", "NEXT FIRE", "LAST POLL", "FILES"]
    table(rows, [*headers, "LAST RUN"])


def _set_enabled(settings: Settings, name: str, enabled: bool) -> None:
    config = load_config(settings.config)
    config.schedule(name)  # raises ScheduleNotFound
    store = open_cli_store(settings)
    try:
        store.set_enabled(name, enabled, utcnow())
    finally:
        store.close()
    word = "enabled" if enabled else "disabled"
    click.echo(f"{name}: {word} (takes effect at its next slot; survives restarts)")


@schedules.command()
@common_options
@click.argument("name")
def enable(settings: Settings, name: str) -> None:
    """Switch a schedule on (overrides `status: Disabled` in its config)."""
    _set_enabled(settings, name, True)


@schedules.command()
@common_options
@click.argument("name")
def disable(settings: Settings, name: str) -> None:
    """Switch a schedule off; its slots are recorded as skipped until it is enabled."""
    _set_enabled(settings, name, False)


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not K=V", param_hint="--param")
        params[key] = value
    return params


@schedules.command()
@common_options
@click.argument("name")
@click.option("--param", "params", multiple=True, help="K=V, overrides a pipeline parameter")
@click.option("--data-path", help="A path relative to the datastore root (datastore schedules)")
def trigger(settings: Settings, name: str, params: tuple[str, ...], data_path: str | None) -> None:
    """Record a manual run now; the daemon submits it (at its next start if it is not running)."""
    config = load_config(settings.config)
    schedule = config.schedule(name)
    if data_path is not None and schedule.datastore is None:
        raise click.BadParameter(
            f"schedule {name!r} watches no datastore", param_hint="--data-path"
        )
    parameters: dict[str, Any] = {**schedule.pipeline_parameters, **_parse_params(params)}
    now = utcnow()
    new = NewRun(
        schedule=name,
        trigger="manual",
        fire_key=f"{name}:manual:{uuid.uuid4().hex}",
        scheduled_for=now,
        parameters=parameters,
        data_path=(
            {"datastore": schedule.datastore, "relative_path": data_path}
            if data_path is not None and schedule.datastore is not None
            else None
        ),
    )
    store = open_cli_store(settings)
    try:
        store.ensure_schedule_state(name, now.replace(microsecond=0))
        run_id = store.add_run(new, now)
    finally:
        store.close()
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
    schedule = load_config(settings.config).schedule(name)
    if schedule.recurrence is None:
        raise click.ClickException(f"schedule {name!r} is a datastore schedule; it has no slots")
    first, last, now = parse_time(start), parse_time(end), utcnow()
    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    if last > now:
        raise click.BadParameter("backfill records past slots only", param_hint="--to")
    store = open_cli_store(settings)
    try:
        state = store.ensure_schedule_state(name, now.replace(microsecond=0))
        try:
            slots = schedule.recurrence.fire_times_between(
                first - timedelta(microseconds=1), last, anchor=state.first_seen_at
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        keys = [time_fire_key(name, slot) for slot in slots]
        existing = store.statuses(keys)
        actions = [_backfill_action(existing.get(key)) for key in keys]
        if not dry_run:
            new_runs = [
                NewRun(name, "time", key, slot, dict(schedule.pipeline_parameters))
                for slot, key, action in zip(slots, keys, actions, strict=True)
                if action == "record"
            ]
            store.record_fires(name, new_runs, cursor_at=None, now=now)
            requeue = [k for k, a in zip(keys, actions, strict=True) if a == "run skipped slot"]
            if requeue:
                store.requeue_skipped(requeue, reason="backfilled")
    finally:
        store.close()
    zone = schedule.recurrence.zone
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
