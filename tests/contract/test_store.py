"""The store contract, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from triggerd.errors import RunNotFound, StoreLocked
from triggerd.runs import DataPath, NewRun
from triggerd.store import (
    Store,
    instances,
    leases,
    meta,
    open_store,
    outbox,
    queries,
    snapshots,
    states,
)

T0 = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


def pending(key: str, schedule: str = "nightly", **extra: object) -> NewRun:
    return NewRun(
        schedule=schedule,
        trigger="time",
        fire_key=key,
        scheduled_for=T0,
        parameters={"threshold": 0.5, "flag": True},
        **extra,  # type: ignore[arg-type]
    )


def test_first_seen_is_kept_across_calls(store: Store) -> None:
    first = store.write(states.ensure, "nightly", T0)
    again = store.write(states.ensure, "nightly", T0 + timedelta(hours=5))
    assert first.first_seen_at == again.first_seen_at == T0
    assert again.first_seen_at.tzinfo is not None


def test_a_fire_key_is_recorded_once(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    created = store.record_fires("nightly", [pending("nightly:a")], cursor_at=T0, now=T0)
    again = store.record_fires("nightly", [pending("nightly:a")], cursor_at=T0, now=T0)
    assert len(created) == 1
    assert again == []
    assert store.read(queries.count_runs) == 1


def test_fires_and_cursor_are_one_transaction(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    broken = NewRun("nightly", "time", "nightly:b", T0, {"x": object()})  # not JSON
    with pytest.raises(Exception):  # noqa: B017 - any driver error
        store.record_fires(
            "nightly", [pending("nightly:a"), broken], cursor_at=T0 + timedelta(1), now=T0
        )
    assert store.read(queries.count_runs) == 0
    state = store.read(states.get, "nightly")
    assert state is not None and state.cursor_at is None


def test_the_cursor_never_moves_back(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    store.record_fires("nightly", [], cursor_at=T0 + timedelta(days=1), now=T0)
    store.record_fires("nightly", [], cursor_at=T0, now=T0)
    state = store.read(states.get, "nightly")
    assert state is not None and state.cursor_at == T0 + timedelta(days=1)


def test_skipped_fires_keep_their_reason_and_are_not_claimed(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    skipped = pending("nightly:s", status="skipped", reason="schedule disabled")
    assert store.record_fires("nightly", [skipped], cursor_at=T0, now=T0) == []
    assert store.write(outbox.claim_next, "me", T0) is None
    [run] = store.read(queries.list_runs, statuses=["skipped"])
    assert run.reason == "schedule disabled"
    assert run.finished_at == T0


def test_claiming_moves_a_run_to_running_once(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    [run_id] = store.record_fires("nightly", [pending("nightly:a")], cursor_at=T0, now=T0)
    claimed = store.write(outbox.claim_next, "me", T0)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.attempts, claimed.claimed_by) == (
        run_id,
        "running",
        1,
        "me",
    )
    assert store.write(outbox.claim_next, "other", T0) is None


def test_parallel_claims_take_each_run_once(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    keys = [pending(f"nightly:{i}") for i in range(40)]
    store.record_fires("nightly", keys, cursor_at=T0, now=T0)
    taken: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        for _ in range(100):
            run = store.write(outbox.claim_next, name, T0)
            if run is None:
                return
            with lock:
                taken.append(run.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken) == sorted(set(taken))
    assert len(taken) == 40


def test_finishing_records_the_outcome(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    [run_id] = store.record_fires("nightly", [pending("nightly:a")], cursor_at=T0, now=T0)
    store.write(outbox.claim_next, "me", T0)
    store.write(
        outbox.finish,
        run_id,
        status="failed",
        now=T0 + timedelta(seconds=3),
        exit_code=3,
        error="exited with status 3",
        output="boom\n",
    )
    run = store.read(queries.get_run, run_id)
    assert run.as_json() == {
        "id": run_id,
        "schedule": "nightly",
        "status": "failed",
        "trigger": "time",
        "fire_key": "nightly:a",
        "scheduled_for": "2024-03-31T01:30:00+00:00",
        "data_path": None,
        "parameters": {"threshold": 0.5, "flag": True},
        "attempts": 1,
        "created_at": "2024-03-31T01:30:00+00:00",
        "started_at": "2024-03-31T01:30:00+00:00",
        "finished_at": "2024-03-31T01:30:03+00:00",
        "next_attempt_at": None,
        "reason": None,
        "error": "exited with status 3",
        "exit_code": 3,
        "external_id": None,
        "note": None,
        "remote_status": None,
        "remote_url": None,
        "follow_until": None,
    }
    assert run.output == "boom\n"


def test_a_failed_run_can_be_retried_under_its_fire_key(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    [run_id] = store.record_fires("nightly", [pending("nightly:a")], cursor_at=T0, now=T0)
    with pytest.raises(ValueError, match="only a failed run can be retried"):
        store.write(outbox.retry_run, run_id)
    store.write(outbox.claim_next, "me", T0)
    store.write(outbox.finish, run_id, status="failed", now=T0, error="x")
    again = store.write(outbox.retry_run, run_id)
    assert (again.status, again.fire_key) == ("pending", "nightly:a")
    claimed = store.write(outbox.claim_next, "me", T0)
    assert claimed is not None and claimed.attempts == 2
    with pytest.raises(RunNotFound):
        store.write(outbox.retry_run, 9999)


def test_runs_of_a_dead_daemon_are_handed_back(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    store.record_fires(
        "nightly", [pending("nightly:a"), pending("nightly:b")], cursor_at=T0, now=T0
    )
    dead = store.write(outbox.claim_next, "dead-daemon", T0)
    mine = store.write(outbox.claim_next, "me", T0)
    assert dead is not None and mine is not None
    assert store.write(outbox.recover_orphans, except_owner="me") == [dead.id]
    recovered = store.read(queries.get_run, dead.id)
    assert (recovered.status, recovered.attempts) == ("pending", 1)
    assert store.read(queries.get_run, mine.id).status == "running"


def test_listing_filters_and_last_runs(store: Store) -> None:
    store.write(states.ensure, "a", T0)
    store.record_fires(
        "a",
        [pending("a:1", schedule="a"), pending("a:2", schedule="a", status="skipped", reason="r")],
        cursor_at=T0,
        now=T0,
    )
    store.record_fires("b", [pending("b:1", schedule="b")], cursor_at=None, now=T0)
    assert [r.fire_key for r in store.read(queries.list_runs, schedule="a")] == ["a:2", "a:1"]
    assert [r.fire_key for r in store.read(queries.list_runs, statuses=["pending"])] == [
        "b:1",
        "a:1",
    ]
    assert [r.fire_key for r in store.read(queries.list_runs, limit=1)] == ["b:1"]
    assert {k: r.fire_key for k, r in store.read(queries.last_runs).items()} == {
        "a": "a:1",
        "b": "b:1",
    }


def test_heartbeats_of_running_daemons(store: Store) -> None:
    assert store.read(instances.latest_heartbeat) is None
    instance = store.write(instances.register, T0, 42)
    store.write(instances.heartbeat, instance, T0 + timedelta(seconds=5))
    assert store.read(instances.latest_heartbeat) == T0 + timedelta(seconds=5)
    store.write(instances.stop, instance, T0 + timedelta(seconds=6))
    assert store.read(instances.latest_heartbeat) is None


def test_enable_override_is_persisted(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    store.write(states.set_enabled, "nightly", False, T0)
    state = store.read(states.get, "nightly")
    assert state is not None and state.enabled is False


def test_opening_twice_migrates_once(store_url: str) -> None:
    open_store(store_url).close()
    again = open_store(store_url)
    assert again.read(queries.count_runs) == 0
    again.close()


def test_a_second_daemon_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'triggerd.db'}"
    first = open_store(url, daemon=True)
    try:
        with pytest.raises(StoreLocked, match="SQLite supports one daemon at a time"):
            open_store(url, daemon=True)
    finally:
        first.close()
    open_store(url, daemon=True).close()  # free again once the first one is gone


def test_a_transient_failure_waits_for_its_next_attempt(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    [run_id] = store.record_fires("nightly", [pending("nightly:a")], cursor_at=T0, now=T0)
    store.write(outbox.claim_next, "me", T0)
    store.write(outbox.schedule_retry, run_id, at=T0 + timedelta(seconds=30), error="HTTP 503")
    waiting = store.read(queries.get_run, run_id)
    assert (waiting.error, waiting.next_attempt_at) == ("HTTP 503", T0 + timedelta(seconds=30))
    assert store.write(outbox.claim_next, "me", T0 + timedelta(seconds=29)) is None
    again = store.write(outbox.claim_next, "me", T0 + timedelta(seconds=30))
    assert again is not None
    assert (again.attempts, again.error, again.next_attempt_at) == (2, None, None)
    assert [(h["attempt"], h["error"]) for h in again.history or []] == [(1, "HTTP 503")]


def test_a_handed_back_run_does_not_use_up_an_attempt(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    [run_id] = store.record_fires("nightly", [pending("nightly:a")], cursor_at=T0, now=T0)
    store.write(outbox.claim_next, "me", T0)
    store.write(outbox.hand_back, run_id, error="interrupted: daemon shutting down")
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.attempts) == ("pending", 0)


def test_blocked_schedules_wait_and_skip_marks_only_unattempted_fires(store: Store) -> None:
    store.write(states.ensure, "a", T0)
    store.record_fires(
        "a",
        [pending("a:1", schedule="a"), pending("a:2", schedule="a"), pending("b:1", schedule="b")],
        cursor_at=None,
        now=T0,
    )
    first = store.write(outbox.claim_next, "me", T0)
    assert first is not None and first.fire_key == "a:1"
    assert store.read(queries.running_counts) == {"a": 1}
    other = store.write(outbox.claim_next, "me", T0, blocked={"a"})
    assert other is not None and other.fire_key == "b:1"
    assert store.write(outbox.skip_waiting, "a", reason="busy", now=T0) == ["a:2"]
    assert store.read(queries.statuses, ["a:1", "a:2", "nope"]) == {
        "a:1": "running",
        "a:2": "skipped",
    }
    assert store.write(outbox.requeue_skipped, ["a:2"], reason="backfill") == 1
    assert store.read(queries.statuses, ["a:2"]) == {"a:2": "pending"}


def test_a_lease_is_held_by_one_daemon_until_it_expires(store: Store) -> None:
    ttl = timedelta(seconds=30)
    first = store.write(leases.acquire, "poll:inbox", "a", T0, ttl)
    assert first is not None
    assert store.write(leases.acquire, "poll:inbox", "b", T0 + timedelta(seconds=10), ttl) is None
    assert store.write(leases.acquire, "poll:inbox", "a", T0 + timedelta(seconds=20), ttl) == first
    taken = store.write(leases.acquire, "poll:inbox", "b", T0 + timedelta(seconds=51), ttl)
    assert taken == first + 1  # the fencing token grows when the lease changes hands
    store.write(leases.release, "poll:inbox", "b", T0 + timedelta(seconds=52))
    assert (
        store.write(leases.acquire, "poll:inbox", "a", T0 + timedelta(seconds=53), ttl) == first + 2
    )


def test_a_heartbeat_renews_the_leases_still_held_in_one_go(store: Store) -> None:
    ttl = timedelta(seconds=30)
    kept = store.write(leases.acquire, "poll:kept", "a", T0, ttl)
    lost = store.write(leases.acquire, "poll:lost", "a", T0, ttl)
    assert kept is not None and lost is not None
    # a stalled: b takes "poll:lost" over
    taken = store.write(leases.acquire, "poll:lost", "b", T0 + timedelta(seconds=31), ttl)
    names = ["poll:kept", "poll:lost", "poll:never"]

    held = store.write(leases.renew, names, "a", T0 + timedelta(seconds=32), ttl)

    assert held == {"poll:kept": kept}
    # Renewed until 62 s: b cannot take it at 61 s; b keeps what it took, with its token.
    assert store.write(leases.acquire, "poll:kept", "b", T0 + timedelta(seconds=61), ttl) is None
    assert store.read(leases.holder, "poll:lost") == ("b", T0 + timedelta(seconds=61), taken)


def test_a_poll_under_a_lost_lease_writes_nothing(store: Store) -> None:
    from triggerd.datastores.settle import SettleResult, Tracked
    from triggerd.datastores.snapshot import Entry
    from triggerd.errors import LeaseLost

    ttl = timedelta(seconds=30)
    store.write(states.ensure, "inbox", T0)
    old = store.write(leases.acquire, "poll:inbox", "a", T0, ttl)
    store.write(leases.acquire, "poll:inbox", "b", T0 + timedelta(minutes=1), ttl)
    result = SettleResult(inserts={"in/a.csv": Tracked(fired=Entry(1, "1"))})
    with pytest.raises(LeaseLost):
        store.record_poll(
            "inbox", result, [], now=T0, entries=1, lease=("poll:inbox", "a", old or 0)
        )
    assert store.read(snapshots.load, "inbox") == {}


def test_claims_expire_unless_renewed_and_are_taken_over(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    store.record_fires(
        "nightly", [pending("nightly:a"), pending("nightly:b")], cursor_at=T0, now=T0
    )
    alive = store.write(outbox.claim_next, "alive", T0)
    dead = store.write(outbox.claim_next, "dead", T0)
    assert alive is not None and dead is not None
    store.write(outbox.renew_claims, "alive", T0 + timedelta(seconds=25))
    assert store.write(outbox.take_over_expired, T0 + timedelta(seconds=31)) == [dead.id]
    assert store.read(queries.get_run, dead.id).status == "pending"
    assert store.read(queries.get_run, alive.id).status == "running"
    # The dead daemon wakes up late: its result is not recorded over the new owner's.
    again = store.write(outbox.claim_next, "new-owner", T0 + timedelta(seconds=32))
    assert again is not None and again.id == dead.id
    assert not store.write(outbox.finish, dead.id, status="succeeded", now=T0, owner="dead")
    assert store.write(outbox.finish, dead.id, status="succeeded", now=T0, owner="new-owner")


def test_a_pending_fire_wins_over_another_replica_s_missed_record(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    missed = pending("nightly:a", status="skipped", reason="missed: the daemon was not running")
    store.record_fires("nightly", [missed], cursor_at=None, now=T0)
    assert store.record_fires("nightly", [pending("nightly:a")], cursor_at=None, now=T0)
    assert store.read(queries.statuses, ["nightly:a"]) == {"nightly:a": "pending"}
    disabled = pending("nightly:b", status="skipped", reason="schedule disabled")
    store.record_fires("nightly", [disabled], cursor_at=None, now=T0)
    assert store.record_fires("nightly", [pending("nightly:b")], cursor_at=None, now=T0) == []


def test_a_schema_newer_than_this_triggerd_is_refused(store_url: str) -> None:
    from sqlalchemy import create_engine, text

    from triggerd.errors import SchemaTooNew

    open_store(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew, match="revision '9999', newer than this triggerd knows"):
        open_store(store_url)


def test_replicas_starting_together_migrate_one_after_the_other(store_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_store(store_url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_a_planning_pass_stores_what_a_single_record_stores(store: Store) -> None:
    """record_fires_many (the planner's executemany path) and record_fires (RETURNING ids)
    write the same rows, on both backends."""
    for name in ("nightly", "hourly", "berlin"):
        store.write(states.ensure, name, T0)
    later = T0 + timedelta(minutes=1, microseconds=250)
    store.record_fires("nightly", [pending("nightly:single")], cursor_at=T0, now=later)
    batch = [
        ("hourly", [pending("hourly:a", schedule="hourly")], T0),
        (
            "berlin",
            [
                pending("berlin:a", schedule="berlin"),
                pending(
                    "berlin:b", schedule="berlin", status="skipped", reason="schedule disabled"
                ),
                replace(
                    pending("berlin:c", schedule="berlin"),
                    trigger="datastore",
                    data_path=DataPath("inbox", "in/ä b.csv"),
                ),
            ],
            T0 + timedelta(hours=1),
        ),
    ]
    assert store.record_fires_many(batch, now=later) == 3  # the pending ones
    assert store.record_fires_many(batch, now=later) == 0  # every fire key is recorded

    single = store.read(queries.list_runs, schedule="nightly")[0]
    runs = {r.fire_key: r for r in store.read(queries.list_runs)}
    for key in ("hourly:a", "berlin:a"):
        run = runs[key]
        assert (run.status, run.trigger, run.parameters, run.data_path, run.reason) == (
            single.status, single.trigger, single.parameters, None, None,
        )  # fmt: skip
        assert run.scheduled_for == single.scheduled_for == T0
        assert run.created_at == single.created_at == later
        assert run.attempts == 0 and run.finished_at is None
    skipped = runs["berlin:b"]
    assert (skipped.status, skipped.reason, skipped.finished_at) == (
        "skipped", "schedule disabled", later,
    )  # fmt: skip
    assert runs["berlin:c"].data_path == DataPath("inbox", "in/ä b.csv")
    cursors = {n: s.cursor_at for n, s in store.read(states.get_all).items()}
    assert cursors == {"nightly": T0, "hourly": T0, "berlin": T0 + timedelta(hours=1)}


def test_a_planning_pass_revives_a_missed_record_and_never_moves_a_cursor_back(
    store: Store,
) -> None:
    store.write(states.ensure, "nightly", T0)
    missed = pending("nightly:a", status="skipped", reason="missed: the daemon was not running")
    store.record_fires("nightly", [missed], cursor_at=T0 + timedelta(days=1), now=T0)
    assert store.record_fires_many([("nightly", [pending("nightly:a")], T0)], now=T0) == 1
    assert store.read(queries.statuses, ["nightly:a"]) == {"nightly:a": "pending"}
    state = store.read(states.get, "nightly")
    assert state is not None and state.cursor_at == T0 + timedelta(days=1)


def test_a_poll_records_its_runs_once_and_counts_the_pending_ones(store: Store) -> None:
    """record_poll inserts through the driver's executemany: the rows are what record_fires
    stores, a fire key already recorded is left alone, and the count is of pending runs."""
    from triggerd.datastores.settle import SettleResult, Tracked
    from triggerd.datastores.snapshot import Entry

    store.write(states.ensure, "inbox", T0)
    fired = {"in/ä b.csv": Tracked(fired=Entry(1, "1")), "in/b.csv": Tracked(fired=Entry(2, "2"))}
    new_runs = [
        replace(pending("inbox:a", schedule="inbox"), trigger="datastore",
                data_path=DataPath("inbox", "in/ä b.csv")),
        replace(pending("inbox:b", schedule="inbox"), trigger="datastore",
                data_path=DataPath("inbox", "in/b.csv"), status="skipped",
                reason="schedule disabled"),
    ]  # fmt: skip
    later = T0 + timedelta(seconds=5)
    result = SettleResult(inserts=fired)

    assert store.record_poll("inbox", result, new_runs, now=later, entries=2) == 1
    assert store.record_poll("inbox", SettleResult(), new_runs, now=later, entries=2) == 0

    runs = {r.fire_key: r for r in store.read(queries.list_runs, schedule="inbox")}
    assert sorted(runs) == ["inbox:a", "inbox:b"]
    run = runs["inbox:a"]
    assert (run.status, run.trigger, run.data_path, run.parameters, run.created_at) == (
        "pending", "datastore", DataPath("inbox", "in/ä b.csv"), {"threshold": 0.5, "flag": True},
        later,
    )  # fmt: skip
    skipped = runs["inbox:b"]
    assert (skipped.status, skipped.reason, skipped.finished_at) == (
        "skipped", "schedule disabled", later,
    )  # fmt: skip
    assert set(store.read(snapshots.load, "inbox")) == set(fired)


# -- a command's process group, for the daemon after a crash ------------------------------------

PROCESS = {"pid": 4242, "start_ticks": 987654, "host": "vm", "boot_id": "b-1", "attempt": 1}


def claimed_run(store: Store, key: str = "nightly:a") -> int:
    store.write(states.ensure, "nightly", T0)
    [run_id] = store.record_fires("nightly", [pending(key)], cursor_at=T0, now=T0)
    assert store.write(outbox.claim_next, "me", T0) is not None
    return run_id


def test_a_process_group_stays_on_the_run_until_its_attempt_ends(store: Store) -> None:
    run_id = claimed_run(store)
    assert store.read(queries.get_run, run_id).process is None
    assert store.write(outbox.record_process, run_id, PROCESS, owner="me")
    assert not store.write(
        outbox.record_process, run_id, {**PROCESS, "pid": 1}, owner="another daemon"
    )
    assert store.read(queries.get_run, run_id).process == PROCESS
    # The daemon dies: the run is pending again and keeps the group for whoever claims it.
    assert store.write(outbox.recover_orphans) == [run_id]
    again = store.write(outbox.claim_next, "me", T0)
    assert again is not None and (again.attempts, again.process) == (2, PROCESS)
    assert store.write(outbox.take_over_expired, T0 + timedelta(hours=1)) == [run_id]
    assert store.read(queries.get_run, run_id).process == PROCESS
    # The attempt's end is recorded: its submitter stopped the group.
    assert store.write(outbox.claim_next, "me", T0) is not None
    store.write(outbox.finish, run_id, status="succeeded", now=T0, exit_code=0, owner="me")
    assert store.read(queries.get_run, run_id).process is None
    # not part of the JSON contract:
    assert "process" not in store.read(queries.get_run, run_id).as_json()


@pytest.mark.parametrize("ending", ["retry", "hand back"])
def test_a_retry_or_hand_back_clears_the_process_group(store: Store, ending: str) -> None:
    run_id = claimed_run(store)
    store.write(outbox.record_process, run_id, PROCESS, owner="me")
    if ending == "retry":
        store.write(outbox.schedule_retry, run_id, at=T0, error="HTTP 503")
    else:
        store.write(outbox.hand_back, run_id, error="interrupted")
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.process) == ("pending", None)


def test_notes_add_up_and_are_shown(store: Store) -> None:
    run_id = claimed_run(store)
    store.write(outbox.add_note, run_id, "attempt 1's process group 4242 was still running.")
    store.write(outbox.add_note, run_id, "attempt 2's process group 4300 was still running.")
    note = store.read(queries.get_run, run_id).as_json()["note"]
    assert note == (
        "attempt 1's process group 4242 was still running. "
        "attempt 2's process group 4300 was still running."
    )
    assert store.read(queries.list_runs)[0].note == note


def test_each_database_has_an_id_of_its_own(store_url: str, tmp_path: Path) -> None:
    first = open_store(store_url)
    try:
        store_id = first.read(meta.store_id)
    finally:
        first.close()
    again = open_store(store_url)
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert again.read(meta.store_id) == store_id and len(store_id) == 32
        assert other.read(meta.store_id) != store_id
    finally:
        again.close()
        other.close()


def test_runs_recorded_before_migration_0004_get_no_process_and_no_note(store_url: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine

    from triggerd.store.db import MIGRATIONS
    from triggerd.store.tables import runs

    engine = create_engine(store_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            runs.insert().values(
                schedule="nightly",
                trigger="time",
                fire_key="nightly:old",
                status="running",
                parameters={},
                attempts=1,
                created_at=T0,
                claimed_by="a daemon of 0.1.0",
            )
        )
    engine.dispose()
    store = open_store(store_url)
    try:
        [old] = store.read(queries.list_runs)
        assert (old.fire_key, old.process, old.note) == ("nightly:old", None, None)
        assert store.write(outbox.recover_orphans) == [old.id]
        assert len(store.read(meta.store_id)) == 32
    finally:
        store.close()


def test_a_step_back_of_the_clock_moves_the_waiting_retries_with_it(store: Store) -> None:
    store.write(states.ensure, "nightly", T0)
    store.record_fires(
        "nightly", [pending("nightly:a"), pending("nightly:b")], cursor_at=T0, now=T0
    )
    first = store.write(outbox.claim_next, "me", T0)
    second = store.write(outbox.claim_next, "me", T0)
    assert first is not None and second is not None
    store.write(outbox.schedule_retry, first.id, at=T0 + timedelta(seconds=5), error="HTTP 503")
    store.write(outbox.schedule_retry, second.id, at=T0 + timedelta(minutes=30), error="HTTP 503")
    stepped = T0 - timedelta(hours=1)  # the wall clock went back an hour just after
    assert store.write(outbox.shift_retries, -timedelta(hours=1), after=stepped) == 2
    assert store.read(queries.get_run, first.id).next_attempt_at == stepped + timedelta(seconds=5)
    assert store.read(queries.get_run, second.id).next_attempt_at == stepped + timedelta(minutes=30)
    due = store.write(outbox.claim_next, "me", stepped + timedelta(seconds=5))
    assert due is not None  # due again


def test_the_migrations_build_exactly_the_tables_the_code_uses(store: Store) -> None:
    """Alembic's own comparison of the migrated database with triggerd/store/tables.py: a
    column added to one and not the other fails here, on SQLite and on PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from triggerd.store.tables import metadata

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    assert diff == []
