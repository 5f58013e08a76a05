"""The runtime with an injected clock and a real SQLite store: restarts, catch-up, disabling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from triggerd.config import Config, load_config
from triggerd.engine.clockwatch import ClockWatch
from triggerd.engine.resolver import Unresolvable
from triggerd.engine.runtime import Runtime
from triggerd.runs import DataPath, NewRun
from triggerd.store import Store, open_store, outbox, queries, states

CONFIG = """
pipelines:
  job:
    kind: command
    argv: [echo, "{greeting}"]
schedules:
  - name: every-10-minutes
    pipeline: job
    recurrence:
      frequency: Minute
      interval: 10
      time_zone: W. Europe Standard Time
    pipeline_parameters: {greeting: hi}
  - name: nightly
    pipeline: job
    recurrence:
      frequency: Day
      interval: 1
      start_time: "2024-03-01T00:00:00"
      hours: [2]
      minutes: [30]
      time_zone: W. Europe Standard Time
    pipeline_parameters: {greeting: night}
"""


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "triggerd.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'triggerd.db'}")
    yield opened
    opened.close()


def start(config: Config, store: Store, clock: Clock, owner: str = "a") -> Runtime:
    runtime = Runtime(config, store, clock=clock, owner=owner, running_since=clock())
    runtime.startup()
    return runtime


def keys(store: Store, schedule: str, status: str = "pending") -> list[str]:
    return [
        r.fire_key
        for r in reversed(store.read(queries.list_runs, schedule=schedule, statuses=[status]))
    ]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_new_schedule_without_start_time_fires_at_once_then_every_interval(
    config: Config, store: Store
) -> None:
    # Berlin, the night clocks go back at 03:00 CEST: Minute/10 stays 10 minutes apart on the
    # absolute timeline, so 02:55 CEST is followed by 02:05 CET.
    clock = Clock(at("2024-10-27T02:55:07.400+02:00"))
    runtime = start(config, store, clock)
    assert keys(store, "every-10-minutes") == ["every-10-minutes:2024-10-27T00:55:07Z"]
    for local in ("02:05:07.1+01:00", "02:15:07.1+01:00", "02:25:07.1+01:00"):
        clock.now = at(f"2024-10-27T{local}")
        runtime.tick("every-10-minutes")
        runtime.tick("every-10-minutes")  # a second wake-up in the same slot adds nothing
    assert keys(store, "every-10-minutes") == [
        "every-10-minutes:2024-10-27T00:55:07Z",
        "every-10-minutes:2024-10-27T01:05:07Z",
        "every-10-minutes:2024-10-27T01:15:07Z",
        "every-10-minutes:2024-10-27T01:25:07Z",
    ]


def test_restart_inside_a_slot_does_not_fire_it_again(config: Config, store: Store) -> None:
    clock = Clock(at("2024-03-31T03:30:00.200+02:00"))  # the nightly slot (02:30 does not exist)
    first = start(config, store, clock)
    first.tick("nightly")
    assert keys(store, "nightly") == ["nightly:2024-03-31T01:30:00Z"]
    clock.now += timedelta(seconds=20)  # SIGKILL, restart within the slot's minute
    start(config, store, clock, owner="b")
    assert keys(store, "nightly") == ["nightly:2024-03-31T01:30:00Z"]


def test_a_slot_missed_by_a_crash_fires_once_after_restart(config: Config, store: Store) -> None:
    clock = Clock(at("2024-03-30T12:00:00+01:00"))
    start(config, store, clock)  # first seen at noon; nothing due
    assert keys(store, "nightly") == []
    clock.now = at("2024-03-31T03:40:00+02:00")  # down over the slot, back 10 minutes later
    second = start(config, store, clock, owner="b")
    second.tick("nightly")
    assert keys(store, "nightly") == ["nightly:2024-03-31T01:30:00Z"]


def test_a_long_downtime_fires_the_latest_slot_and_records_why_the_others_did_not(
    config: Config, store: Store
) -> None:
    clock = Clock(at("2024-03-27T12:00:00+01:00"))
    start(config, store, clock)
    clock.now = at("2024-03-31T10:00:00+02:00")
    start(config, store, clock, owner="b")
    assert keys(store, "nightly") == ["nightly:2024-03-31T01:30:00Z"]
    skipped = {r.fire_key: r.reason for r in store.read(queries.list_runs, statuses=["skipped"])}
    assert skipped["nightly:2024-03-28T01:30:00Z"] == (
        "missed: 3d6h30m late, beyond misfire_grace_time 1d"
    )
    assert len([k for k in skipped if k.startswith("nightly:")]) == 3


def test_disabling_records_skips_and_enabling_resumes(config: Config, store: Store) -> None:
    clock = Clock(at("2024-03-30T12:00:00+01:00"))
    runtime = start(config, store, clock)
    store.write(states.set_enabled, "nightly", False, clock())
    clock.now = at("2024-03-31T03:30:01+02:00")
    runtime.tick("nightly")
    assert keys(store, "nightly", "skipped") == ["nightly:2024-03-31T01:30:00Z"]
    assert store.read(queries.list_runs, schedule="nightly")[0].reason == "schedule disabled"
    store.write(states.set_enabled, "nightly", True, clock())
    clock.now = at("2024-04-01T02:30:01+02:00")
    runtime.tick("nightly")
    assert keys(store, "nightly") == ["nightly:2024-04-01T00:30:00Z"]


def test_a_run_whose_schedule_left_the_config_fails_with_the_reason(
    config: Config, store: Store
) -> None:
    clock = Clock(at("2024-03-31T03:30:00+02:00"))
    runtime = start(config, store, clock)
    runtime.tick("nightly")
    run = store.write(outbox.claim_next, "a", clock())
    assert run is not None
    shrunk = config.model_copy(update={"schedules": {}})
    later = Runtime(shrunk, store, clock=clock, owner="b", running_since=clock())
    with pytest.raises(Unresolvable) as refused:
        later.resolver.resolve(run)
    assert str(refused.value) == "schedule 'every-10-minutes' is no longer in the configuration"


def test_a_manual_data_path_outside_the_datastore_fails_with_the_reason(
    tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "files.yaml"
    path.write_text(
        CONFIG
        + f"""
  - name: files
    pipeline: job
    datastore: inbox
    data_path_parameter_name: greeting
datastores:
  inbox: {{kind: local, path: {tmp_path}}}
""",
        encoding="utf-8",
    )
    config = load_config(path)
    clock = Clock(at("2024-03-31T03:30:00+02:00"))
    runtime = Runtime(config, store, clock=clock, owner="a", running_since=clock())
    new = NewRun(
        "files", "manual", "files:manual:1", clock(), {},
        data_path=DataPath("inbox", "../etc/passwd"),
    )  # fmt: skip
    store.write(outbox.add_run, new, clock())
    run = store.write(outbox.claim_next, "a", clock())
    assert run is not None
    with pytest.raises(Unresolvable) as refused:
        runtime.resolver.resolve(run)
    assert str(refused.value) == (
        "cannot locate '../etc/passwd': '../etc/passwd' is not a path inside the datastore"
    )
    store.write(outbox.finish, run.id, status="failed", now=clock())
    store.write(
        outbox.add_run,
        NewRun("files", "manual", "files:manual:2", clock(), {},
               data_path=DataPath("inbox", "a b.csv")),
        clock(),
    )  # fmt: skip
    good = store.write(outbox.claim_next, "a", clock())
    assert good is not None
    request = runtime.resolver.resolve(good).request
    assert request.bound_values() == {"greeting": str(tmp_path / "a b.csv")}
    assert request.file is not None and request.file.uri == (tmp_path / "a b.csv").as_uri()


def test_an_edited_recurrence_neither_refires_nor_drops_a_slot(
    tmp_path: Path, config: Config, store: Store
) -> None:
    clock = Clock(at("2024-03-31T03:29:00+02:00"))
    runtime = start(config, store, clock)
    # The edit lands just after 03:30 CEST (the nightly slot; 02:30 does not exist that night)
    # but before the old job's wake-up recorded it: the old definition records it first.
    clock.now = at("2024-03-31T03:30:00.300+02:00")
    edited = tmp_path / "edited.yaml"
    edited.write_text(CONFIG.replace("hours: [2]", "hours: [4]"), encoding="utf-8")
    change = runtime.replace_config(load_config(edited))
    assert (change.added, change.removed, change.changed) == ([], [], ["nightly"])
    assert keys(store, "nightly") == ["nightly:2024-03-31T01:30:00Z"]
    clock.now = at("2024-03-31T04:30:01+02:00")
    runtime.tick("nightly")
    runtime.tick("nightly")
    assert keys(store, "nightly") == [
        "nightly:2024-03-31T01:30:00Z",
        "nightly:2024-03-31T02:30:00Z",  # 04:30 CEST, the new definition's first slot
    ]
    assert store.read(queries.list_runs, statuses=["skipped"], schedule="nightly") == []


def test_reloading_adds_and_removes_schedules_and_keeps_their_history(
    tmp_path: Path, config: Config, store: Store
) -> None:
    clock = Clock(at("2024-03-31T03:30:00+02:00"))
    runtime = start(config, store, clock)
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(CONFIG.split("  - name: nightly")[0], encoding="utf-8")
    change = runtime.replace_config(load_config(smaller))
    assert (change.added, change.removed, change.changed) == ([], ["nightly"], [])
    assert runtime.tick("nightly") == 0
    assert keys(store, "nightly") == ["nightly:2024-03-31T01:30:00Z"]  # history stays
    again = runtime.replace_config(config)
    assert again.added == ["nightly"]


def test_a_replica_that_slept_through_slots_its_peer_fired_never_doubles_them(
    config: Config, store: Store
) -> None:
    """Each replica plans from the cursor it committed last; one that lagged behind its peer
    plans the peer's slots again, and the fire keys keep them single."""
    clock = Clock(at("2024-10-27T02:41:00+02:00"))  # Berlin falls back at 03:00 CEST
    a = start(config, store, clock, owner="a")
    b = start(config, store, clock, owner="b")
    for local in ("02:51:00.5+02:00", "02:01:00.5+01:00", "02:11:00.5+01:00"):
        clock.now = at(f"2024-10-27T{local}")
        a.tick("every-10-minutes")
    clock.now = at("2024-10-27T02:21:00.5+01:00")
    b.tick("every-10-minutes")  # b's last cursor is 02:41 CEST: it plans four slots
    assert keys(store, "every-10-minutes") == [
        "every-10-minutes:2024-10-27T00:41:00Z",
        "every-10-minutes:2024-10-27T00:51:00Z",
        "every-10-minutes:2024-10-27T01:01:00Z",
        "every-10-minutes:2024-10-27T01:11:00Z",
        "every-10-minutes:2024-10-27T01:21:00Z",
    ]
    assert store.read(queries.list_runs, statuses=["skipped"]) == []


def test_a_clock_step_seen_by_a_planning_pass_is_applied_before_it_plans(
    config: Config, store: Store
) -> None:
    """The pass reads the time, then asks the clock watch: a step it reports is known before
    any slot of the jumped span is decided (Berlin's spring-forward night, 02:00 -> 03:00)."""
    clock = Clock(at("2024-03-31T01:55:00+01:00"))
    monotonic = [0.0]
    runtime = Runtime(
        config, store, clock=clock, owner="a", running_since=clock(),
        check_clock=lambda: watch.check(),
    )  # fmt: skip
    watch = ClockWatch(clock, monotonic=lambda: monotonic[0], on_step=runtime.clock_stepped)
    runtime.startup()
    assert keys(store, "every-10-minutes") == ["every-10-minutes:2024-03-31T00:55:00Z"]
    clock.now += timedelta(hours=2)  # the wall clock jumps two hours; the monotonic one: 1 s
    monotonic[0] += 1.0
    runtime.tick("every-10-minutes")
    skipped = store.read(queries.list_runs, schedule="every-10-minutes", statuses=["skipped"])
    assert len(skipped) == 11 and all(r.reason and r.reason.startswith("missed:") for r in skipped)
    # catchup: latest makes up the newest jumped-over slot (within its 10-minute grace)
    assert keys(store, "every-10-minutes")[-1] == "every-10-minutes:2024-03-31T02:55:00Z"
    clock.now += timedelta(minutes=10)  # the next slot comes while running: it fires
    monotonic[0] += 600.0
    runtime.tick("every-10-minutes")
    assert keys(store, "every-10-minutes")[-1] == "every-10-minutes:2024-03-31T03:05:00Z"
    clock.now -= timedelta(minutes=30)  # back half an hour: nothing is decided twice
    monotonic[0] += 1.0
    assert runtime.tick("every-10-minutes") == 0
    assert len(store.read(queries.list_runs, schedule="every-10-minutes")) == 14
