"""What a daemon records of its config on the database, on SQLite and PostgreSQL: the last valid
config files (replaced as a whole, written only when they differ), the config each daemon runs
on, its last reload, and what each daemon holds (leases, claimed runs)."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select

from triggerd import __version__
from triggerd.config.digest import ConfigFiles, config_digest, file_sha256
from triggerd.runs import NewRun, RunStatus, TriggerKind
from triggerd.store import Store, configrecord, instances, leases, outbox, states
from triggerd.store.instances import ReloadResult
from triggerd.store.tables import config_files

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Europe/Berlin springs forward at 01:00 UTC

A = "/etc/triggerd/config/a.yaml"
B = "/etc/triggerd/config/b.yaml"
FIRST = ConfigFiles({A: "schedules: []\n", B: "pipelines: {}\n"})
SECOND = ConfigFiles({A: "schedules: []  # edited\n"})


def _writes(store: Store) -> list[str]:
    """The INSERT/UPDATE/DELETE statements the store runs from now on."""
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            seen.append(statement)

    return seen


def test_the_last_valid_config_is_recorded_and_replaced_as_a_whole(store: Store) -> None:
    assert store.read(configrecord.recorded) is None
    assert store.write(configrecord.record, FIRST, T0, "host:1:aa") is True
    first = store.read(configrecord.recorded)
    assert first is not None
    assert first.texts == dict(FIRST.texts)
    assert (first.loaded_at, first.loaded_by) == (T0, "host:1:aa")
    assert store.read(configrecord.recorded_digest) == FIRST.digest

    later = T0 + timedelta(hours=1)
    assert store.write(configrecord.record, SECOND, later, "host:2:bb") is True
    second = store.read(configrecord.recorded)
    assert second is not None
    assert second.texts == {A: "schedules: []  # edited\n"}  # b.yaml is gone with the old set
    assert (second.loaded_at, second.loaded_by) == (later, "host:2:bb")


def test_recording_the_same_files_again_writes_nothing(store: Store) -> None:
    store.write(configrecord.record, FIRST, T0, "host:1:aa")
    writes = _writes(store)
    same = ConfigFiles(dict(FIRST.texts))  # another load of the same files
    assert store.write(configrecord.record, same, T0 + timedelta(days=1), "host:9:zz") is False
    assert writes == []
    recorded = store.read(configrecord.recorded)
    assert recorded is not None and recorded.loaded_by == "host:1:aa"


def test_two_daemons_recording_at_once_leave_one_complete_set(store: Store) -> None:
    errors: list[BaseException] = []

    def record(files: ConfigFiles, who: str) -> None:
        try:
            store.write(configrecord.record, files, T0, who)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=record, args=(FIRST if i % 2 else SECOND, f"d{i}"))
        for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    recorded = store.read(configrecord.recorded)
    assert recorded is not None
    assert recorded.texts in (dict(FIRST.texts), dict(SECOND.texts))
    with store.reading() as conn:
        loaders = conn.execute(select(func.count(func.distinct(config_files.c.loaded_by))))
        assert loaders.scalar() == 1


def test_the_digest_is_sha256sum_over_the_files_in_path_order() -> None:
    shas = {B: file_sha256("pipelines: {}\n"), A: file_sha256("schedules: []\n")}
    assert FIRST.sha256s == shas
    lines = f"{shas[A]}  {A}\n{shas[B]}  {B}\n"
    assert FIRST.digest == hashlib.sha256(lines.encode()).hexdigest() == config_digest(shas)
    assert SECOND.digest != FIRST.digest


def test_a_daemon_records_its_version_config_and_last_reload(store: Store) -> None:
    instance = store.write(instances.register, T0, 42)
    [daemon] = store.read(instances.recent, T0)
    assert (daemon.id, daemon.pid, daemon.version) == (instance, 42, __version__)
    assert (daemon.config, daemon.reload) == (None, None)

    store.write(instances.config_loaded, instance, FIRST, T0)
    later = T0 + timedelta(minutes=5)
    problems = ["/etc/triggerd/config/b.yaml:3: pipelines: must be a mapping"]
    store.write(instances.reload_attempted, instance, later, ReloadResult.REFUSED, problems)
    [daemon] = store.read(instances.recent, T0)
    assert daemon.config == {
        "digest": FIRST.digest,
        "loaded_at": T0.isoformat(),
        "files": [
            {"path": A, "sha256": FIRST.sha256s[A]},
            {"path": B, "sha256": FIRST.sha256s[B]},
        ],
    }
    assert daemon.reload == {"at": later.isoformat(), "result": "refused", "problems": problems}


def test_recent_daemons_are_the_running_ones_and_those_stopped_since(store: Store) -> None:
    running = store.write(instances.register, T0, 1)
    stopped_long_ago = store.write(instances.register, T0, 2)
    stopped_lately = store.write(instances.register, T0 + timedelta(seconds=1), 3)
    store.write(instances.stop, stopped_long_ago, T0 + timedelta(minutes=1))
    store.write(instances.stop, stopped_lately, T0 + timedelta(hours=2))
    since = T0 + timedelta(hours=1)
    shown = store.read(instances.recent, since)
    assert [d.id for d in shown] == [running, stopped_lately]
    assert [d.stopped_at for d in shown] == [None, T0 + timedelta(hours=2)]


def test_what_each_daemon_holds(store: Store) -> None:
    me = store.write(instances.register, T0, 1)
    other = store.write(instances.register, T0, 2)
    ttl = timedelta(seconds=30)
    store.write(leases.acquire, "poll:b-files", me, T0, ttl)
    store.write(leases.acquire, "poll:a-files", me, T0, ttl)
    store.write(leases.acquire, "poll:c-files", other, T0, ttl)
    for name in ("nightly", "hourly", "waiting"):
        store.write(states.ensure, name, T0)
        run = NewRun(name, TriggerKind.TIME, f"{name}:1", T0, {})
        store.record_fires(name, [run], cursor_at=T0, now=T0)
    first = store.write(outbox.claim_next, me, T0)
    second = store.write(outbox.claim_next, me, T0)
    assert first is not None and second is not None
    store.write(outbox.finish, second.id, status=RunStatus.SUCCEEDED, now=T0)  # no longer held

    held = store.read(instances.held_leases, [me, other, "nobody"])
    until = T0 + ttl
    assert held == {
        me: [("poll:a-files", until), ("poll:b-files", until)],
        other: [("poll:c-files", until)],
        "nobody": [],
    }
    claimed = store.read(instances.claimed_runs, [me, other])
    assert claimed == {me: [(first.id, first.schedule)], other: []}
