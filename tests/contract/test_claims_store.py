"""Claiming runs a batch at a time and recording their ends together (store/claims.py), on
SQLite and PostgreSQL: each run is claimed by one daemon once, oldest first, within the overlap
limits; an end is written only while its daemon still holds the claim."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection

from triggerd.runs import NewRun, TriggerKind
from triggerd.store import Store, claims, outbox, queries, states
from triggerd.store.tables import runs

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def record(store: Store, count: int, schedule: str = "watch") -> list[int]:
    store.write(states.ensure, schedule, T0)
    new = [
        NewRun(schedule, TriggerKind.TIME, f"{schedule}:{n}", T0 + timedelta(minutes=n), {})
        for n in range(count)
    ]
    return store.record_fires(schedule, new, cursor_at=None, now=T0)


def ended(status: str = "submitted", **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": status,
        "finished_at": T0 + timedelta(seconds=5),
        "exit_code": None,
        "error": None,
        "output": None,
        "external_id": None,
    }
    return {**values, **extra}


def test_a_batch_takes_the_oldest_due_runs_once_and_as_one_claim_each(store: Store) -> None:
    ids = record(store, 5)
    first = store.write(claims.claim_batch, "me", T0, limit=3)
    assert [run.id for run in first] == ids[:3]
    assert {(run.status, run.attempts, run.claimed_by) for run in first} == {("running", 1, "me")}
    assert first[0].started_at == T0 and first[0].claim_expires_at == T0 + claims.CLAIM_TTL
    assert first[0] == store.read(queries.get_run, ids[0])  # the returned row is the stored one
    rest = store.write(claims.claim_batch, "other", T0, limit=10)
    assert [run.id for run in rest] == ids[3:]
    assert store.write(claims.claim_batch, "me", T0, limit=10) == []


def test_a_batch_keeps_to_the_overlap_limits(store: Store) -> None:
    capped = record(store, 3, "capped")
    free = record(store, 2, "free")
    batch = store.write(claims.claim_batch, "me", T0, limit=10, caps={"capped": 1})
    assert [run.id for run in batch] == [capped[0], *free]
    blocked = store.write(claims.claim_batch, "me", T0, limit=10, blocked=["capped"])
    assert blocked == []
    assert [r.id for r in store.write(claims.claim_batch, "me", T0, limit=10)] == capped[1:]


def test_a_run_attempted_before_moves_its_attempt_into_the_history(store: Store) -> None:
    [retried, fresh] = record(store, 2)
    store.write(claims.claim_batch, "me", T0, limit=1)
    store.write(outbox.schedule_retry, retried, at=T0, error="HTTP 503")
    later = T0 + timedelta(seconds=10)
    batch = store.write(claims.claim_batch, "me", later, limit=10)
    assert [(run.id, run.attempts) for run in batch] == [(retried, 2), (fresh, 1)]
    [entry] = batch[0].history or []
    assert (entry["attempt"], entry["error"], entry["started_at"]) == (
        1,
        "HTTP 503",
        T0.isoformat(),
    )
    assert batch[0].error is None and batch[0].started_at == later


def test_replicas_claiming_at_once_never_take_the_same_run(store: Store) -> None:
    ids = record(store, 300)
    taken: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    start = threading.Barrier(len(taken))

    def claim(owner: str) -> None:
        start.wait()
        while batch := store.write(claims.claim_batch, owner, T0, limit=7):
            taken[owner] += [run.id for run in batch]

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [run_id for ids_ in taken.values() for run_id in ids_]
    assert sorted(every) == ids  # each run exactly once
    owners = {run.id: run.claimed_by for run in store.read(queries.list_runs, limit=1000)}
    assert all(owners[run_id] == owner for owner, got in taken.items() for run_id in got)


def taken_over(conn: Connection, run_id: int, owner: str) -> None:
    conn.execute(update(runs).where(runs.c.id == run_id).values(claimed_by=owner))


def test_ends_are_recorded_together_only_where_the_claim_is_held(store: Store) -> None:
    ids = record(store, 3)
    store.write(claims.claim_batch, "me", T0, limit=3)
    lost = ids[2]
    store.write(taken_over, lost, "other")  # this daemon stalled: another replica has it
    done = [
        (ids[0], ended(external_id="r1", remote_id="r1", remote_url=None)),
        (ids[1], ended("failed", error="HTTP 400: bad")),
        (lost, ended(external_id="r3")),
    ]
    assert store.write(claims.finish_batch, done, owner="me") == [True, True, False]
    first, second, third = (store.read(queries.get_run, run_id) for run_id in ids)
    assert (first.status, first.external_id, first.remote_id) == ("submitted", "r1", "r1")
    assert (second.status, second.error) == ("failed", "HTTP 400: bad")
    assert first.claimed_by is None and first.claim_expires_at is None and first.process is None
    assert first.finished_at == T0 + timedelta(seconds=5)
    assert (third.status, third.claimed_by, third.external_id) == ("running", "other", None)


def test_recording_an_end_clears_the_process_group(store: Store) -> None:
    [run_id] = record(store, 1)
    store.write(claims.claim_batch, "me", T0, limit=1)
    process = {"pid": 4242, "start_ticks": 1, "host": "vm", "boot_id": "b", "attempt": 1}
    store.write(outbox.record_process, run_id, process, owner="me")
    assert store.write(claims.finish_batch, [(run_id, ended("succeeded", exit_code=0))], owner="me")
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.exit_code, run.process) == ("succeeded", 0, None)
