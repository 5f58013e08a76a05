"""Several daemons on one PostgreSQL database, as real processes: exactly once, with failover.

Each replica has its own state directory and the same config and ``--database`` URL, with a
1 s heartbeat so claims and poll leases are renewed (and expired ones taken over) quickly. The
claim and the poll lease expire 30 s after a daemon's last renewal.
"""

from __future__ import annotations

import itertools
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.daemon import DaemonProcess
from tests.support.replicas import FILES, MINUTE, Replicas, pg_start, pg_stop, wait_until
from triggerd.store import leases, states

pytestmark = pytest.mark.e2e

_names = itertools.count()
LEASE = f"poll:{FILES}"
OUTAGE_EVENTS = {"dispatcher.error", "poll.crashed", "daemon.heartbeat_failed"}


def _database(server: postgres.PostgresServer) -> str:
    return server.create_database(f"replicas{next(_names)}_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def cluster(pg_server: postgres.PostgresServer, tmp_path: Path) -> Iterator[Replicas]:
    replicas = Replicas(tmp_path, _database(pg_server), sleep=0.2)
    try:
        yield replicas
    finally:
        replicas.close()


def _all_alive(daemons: list[DaemonProcess]) -> None:
    for daemon in daemons:
        assert daemon.proc.poll() is None, "a replica exited:\n" + daemon.log_text()


def _anchor(cluster: Replicas) -> datetime | None:
    state = cluster.store.read(states.get, MINUTE)
    return state.first_seen_at if state else None


def test_three_replicas_share_the_work_exactly_once_and_survive_a_sigkill(
    cluster: Replicas,
) -> None:
    burst = [f"burst-{i:03d}.csv" for i in range(150)]
    daemons = cluster.start(3)
    for daemon in daemons:
        daemon.wait_event("schedule.loaded", schedule=MINUTE)
    wait_until(
        lambda: any(d.named("poll.completed") for d in daemons), timeout=30, what="a first poll"
    )
    anchor: datetime = wait_until(
        lambda: _anchor(cluster), timeout=10, what="the minute schedule's anchor"
    )

    for _ in range(3):  # before the burst: a burst of short runs is over in a few seconds
        cluster.cli("schedules", "trigger", MINUTE)
    for i, name in enumerate(burst):
        cluster.write(name, f"{i}\n")
    wait_until(
        lambda: len(cluster.finished_paths()) >= 20, timeout=60, what="the burst to be under way"
    )

    # SIGKILL the replica that polls the folder, while it holds claims of runs in flight.
    holder = cluster.store.read(leases.holder, LEASE)
    assert holder is not None
    victim = cluster.by_instance(holder[0])
    victim_id = holder[0]

    def victim_busy() -> bool:
        return any(r.status == "running" and r.claimed_by == victim_id for r in cluster.runs())

    wait_until(victim_busy, timeout=20, step=0.05, what="the poller replica to run something")
    victim.proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    victim.wait()
    survivors = [d for d in daemons if d is not victim]
    held = {r.id for r in cluster.runs() if r.status == "running" and r.claimed_by == victim_id}
    assert held, "the killed replica held no claim (it finished them before the kill)"

    # The survivors take over the folder: a file dropped after the kill still fires.
    cluster.write("after-kill.csv", "x\n")
    wait_until(
        lambda: str(cluster.folder / "after-kill.csv") in cluster.finished_paths(),
        timeout=50,
        what="the run of a file dropped after the kill",
    )
    took_over = time.monotonic() - killed_at
    assert took_over <= 45, f"the poll lease was taken over only {took_over:.0f}s after the kill"
    new_holder = cluster.store.read(leases.holder, LEASE)
    assert new_holder is not None and new_holder[0] != victim_id

    # Everything ends succeeded, including the runs the dead replica held.
    file_count = len(burst) + 1

    def settled() -> bool:
        runs = cluster.runs()
        files = [r for r in runs if r.trigger == "datastore"]
        return len(files) == file_count and all(r.status == "succeeded" for r in runs)

    wait_until(settled, timeout=45, what="a succeeded run for every file")
    # The next minute slot after the anchor also fires once, on one of the survivors.
    next_slot = anchor + timedelta(minutes=1)

    def next_slot_done() -> bool:
        return any(
            r.trigger == "time" and r.scheduled_for == next_slot and r.status == "succeeded"
            for r in cluster.runs()
        )

    wait_until(next_slot_done, timeout=90, what="the run of the second minute slot")
    _all_alive(survivors)
    recovered = [
        e["run_id"]
        for d in survivors
        for e in d.named("run.recovered")
        if e.get("reason") == "claim expired"
    ]
    cluster.stop_all(survivors)

    assert held <= set(recovered), (held, recovered)
    assert len(recovered) == len(set(recovered)), "a run was taken over twice"
    runs = cluster.runs_json()
    assert {r["status"] for r in runs} == {"succeeded"}, [
        (r["id"], r["status"], r["error"]) for r in runs if r["status"] != "succeeded"
    ]
    files = [r for r in runs if r["trigger"] == "datastore"]
    assert sorted(r["data_path"]["relative_path"] for r in files) == sorted(
        f"incoming/{name}" for name in [*burst, "after-kill.csv"]
    )
    assert len({r["fire_key"] for r in files}) == file_count
    # Every file's command ran to the end at least once (one killed mid-run may have run twice).
    assert set(cluster.finished_paths()) == {
        str(cluster.folder / name) for name in [*burst, "after-kill.csv"]
    }
    timed = Counter(r["scheduled_for"] for r in runs if r["trigger"] == "time")
    assert timed[anchor.isoformat()] == 1, timed
    assert timed[next_slot.isoformat()] == 1, timed
    assert set(timed.values()) == {1}, timed
    assert len([r for r in runs if r["trigger"] == "manual"]) == 3
    by_id = {r["id"]: r for r in runs}
    assert all(by_id[run_id]["attempts"] >= 2 for run_id in held)
    # Runs were spread over the replicas (each claimed some of the burst).
    claimers = {d.proc.pid for d in daemons if any(e.get("run_id") for e in d.named("run.started"))}
    assert len(claimers) == 3


def test_postgresql_restarted_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    reason = postgres.available()
    if reason:
        pytest.skip(reason)
    server = postgres.start()  # our own server: the session one is shared by other tests
    cluster: Replicas | None = None
    try:
        cluster = Replicas(tmp_path, _database(server), sleep=0.5)
        burst = [f"load-{i:03d}.csv" for i in range(100)]
        daemons = cluster.start(2)
        wait_until(
            lambda: any(d.named("poll.completed") for d in daemons), timeout=30, what="a poll"
        )
        for i, name in enumerate(burst):
            cluster.write(name, f"{i}\n")
        wait_until(
            lambda: len(cluster.finished_paths()) >= 5, timeout=60, what="the burst under way"
        )

        pg_stop(server)
        down_at = time.monotonic()
        while time.monotonic() - down_at < 20:
            _all_alive(daemons)
            time.sleep(0.5)
        pg_start(server)

        def settled() -> bool:
            runs = cluster.runs()
            files = [r for r in runs if r.trigger == "datastore"]
            return len(files) == len(burst) and all(r.status == "succeeded" for r in runs)

        try:
            wait_until(settled, timeout=60, what="a succeeded run for every file")
        except AssertionError:
            stuck = [(r.id, r.status, r.claimed_by, r.error) for r in cluster.runs()]
            stuck = [s for s in stuck if s[1] != "succeeded"]
            why = "\n".join(
                line[:300]
                for d in daemons
                for line in d.raw
                if "Exception in thread" in line or '"run.crashed"' in line
            )
            raise AssertionError(f"runs not succeeded after the restart: {stuck}\n{why}") from None
        _all_alive(daemons)
        for daemon in daemons:
            logged = {e["event"] for e in daemon.events} & OUTAGE_EVENTS
            assert logged, "the outage was not logged:\n" + daemon.log_text()
        cluster.stop_all(daemons)

        runs = cluster.runs_json()
        assert {r["status"] for r in runs} == {"succeeded"}
        files = [r for r in runs if r["trigger"] == "datastore"]
        assert sorted(r["data_path"]["relative_path"] for r in files) == [
            f"incoming/{name}" for name in burst
        ]
        assert len({r["fire_key"] for r in files}) == len(burst)
        assert set(cluster.finished_paths()) == {str(cluster.folder / name) for name in burst}
        timed = Counter(r["scheduled_for"] for r in runs if r["trigger"] == "time")
        assert timed and set(timed.values()) == {1}, timed
    finally:
        if cluster is not None:
            cluster.close()
        server.stop()
