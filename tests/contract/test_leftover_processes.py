"""What a dead daemon's command left running: recognised by its recorded process group and its
marker, and ended (SIGTERM, then SIGKILL after the grace), with real processes that outlived
the process that started them (``scripts/orphan.py``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from triggerd.engine.dispatcher import Dispatcher
from triggerd.engine.resolver import Dispatch
from triggerd.engine.runqueue import StoreQueue
from triggerd.runs import NewRun, RunRecord
from triggerd.store import Store, meta, open_store, outbox, queries, states
from triggerd.submitters.base import RunRequest
from triggerd.submitters.command import CommandSubmitter
from triggerd.submitters.processgroup import (
    BOOT_ID,
    MARKER_VARIABLE,
    ProcessEntry,
    ProcessIdentity,
    end_leftovers,
    identify,
    leftovers,
    this_host,
)

SCRIPT = str(Path(__file__).parent / "scripts" / "orphan.py")
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]


def is_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def marker() -> str:
    return f"{uuid.uuid4().hex}:7"


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Pids to SIGKILL after the test, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


Orphaned = tuple[ProcessIdentity, dict[str, int]]


@pytest.fixture
def orphaned(tmp_path: Path, cleanup: list[int]) -> Callable[..., Orphaned]:
    """Start a command the way triggerd does, from a stand-in daemon, then SIGKILL the daemon:
    the command's identity as recorded, and its pids (they run on, re-parented)."""

    def start(mode: str, marker: str) -> Orphaned:
        out = tmp_path / f"{mode}.json"
        env = {**os.environ, MARKER_VARIABLE: marker}
        daemon = subprocess.Popen(
            [sys.executable, SCRIPT, "daemon", str(out), mode],
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        assert daemon.stdout is not None
        assert daemon.stdout.readline() == b"ready\n"
        pids: dict[str, int] = json.loads(out.read_text())
        cleanup.extend(pids.values())
        identity = ProcessIdentity.from_json(json.loads(Path(f"{out}.identity").read_text()))
        assert identity is not None
        daemon.kill()
        daemon.wait()
        daemon.stdout.close()
        for name, pid in pids.items():
            if not (mode == "leaderless" and name == "leader"):
                assert not is_gone(pid), f"the {name} died with its daemon"
        if mode != "leaderless":  # the leader was re-parented: no process of ours waits for it
            stat = Path(f"/proc/{pids['leader']}/stat").read_text()
            assert int(stat.rsplit(")", 1)[1].split()[1]) not in (daemon.pid, os.getpid())
        return identity, pids

    return start


def test_identity_is_pid_start_time_host_and_boot() -> None:
    with subprocess.Popen(["sleep", "30"]) as proc:
        try:
            identity = identify(proc.pid)
            stat = Path(f"/proc/{proc.pid}/stat").read_text()
            assert identity == ProcessIdentity(
                pid=proc.pid,
                start_ticks=int(stat.rsplit(")", 1)[1].split()[19]),  # field 22
                host=socket.gethostname(),
                boot_id=BOOT_ID.read_text().strip(),
            )
            assert ProcessIdentity.from_json(identity.as_json()) == identity
        finally:
            proc.kill()
    assert identify(proc.pid) is None  # reaped


@pytest.mark.parametrize("data", [{}, {"pid": "1", "start_ticks": 2, "host": "h"}, [], None])
def test_a_malformed_record_is_no_identity(data: Any) -> None:
    assert ProcessIdentity.from_json(data) is None


@pytest.mark.parametrize(
    ("host", "boot_id", "where"),
    [
        ("vm", "b1", None),
        ("other", "b1", "another host"),
        ("vm", "b0", "an earlier boot"),
        ("vm", None, "unknown boot"),
    ],
)
def test_only_a_record_of_this_host_and_boot_is_acted_on(
    host: str, boot_id: str | None, where: str | None
) -> None:
    record = ProcessIdentity(pid=10, start_ticks=5, host="vm", boot_id="b1")
    assert record.elsewhere(host, boot_id) == where
    assert this_host()[0] == socket.gethostname()


def test_a_group_that_outlived_its_daemon_gets_sigterm(
    orphaned: Callable[..., Orphaned], marker: str
) -> None:
    record, pids = orphaned("tree", marker)
    began = time.monotonic()
    ended = end_leftovers(record, marker, grace=10)
    assert time.monotonic() - began < 5  # it ended on SIGTERM, well within the grace
    assert ended is not None
    assert (ended.group, ended.signal, ended.survivors) == (record.pid, signal.SIGTERM, ())
    assert set(ended.pids) == {pids["leader"], pids["grandchild"]}
    assert is_gone(pids["leader"]) and is_gone(pids["grandchild"])
    assert end_leftovers(record, marker, grace=10) is None  # nothing left


def test_a_group_that_ignores_sigterm_gets_sigkill_after_the_grace(
    orphaned: Callable[..., Orphaned], marker: str
) -> None:
    record, pids = orphaned("stubborn", marker)
    began = time.monotonic()
    ended = end_leftovers(record, marker, grace=0.5)
    assert time.monotonic() - began >= 0.5
    assert ended is not None and ended.signal == signal.SIGKILL and ended.survivors == ()
    assert is_gone(pids["leader"])


def test_without_a_record_the_marker_finds_the_processes(
    orphaned: Callable[..., Orphaned], marker: str
) -> None:
    """The daemon died between starting the command and committing its identity."""
    _, pids = orphaned("tree", marker)
    ended = end_leftovers(None, marker, grace=10)
    assert ended is not None and ended.group is None
    assert set(ended.pids) == {pids["leader"], pids["grandchild"]}
    wait_until(lambda: is_gone(pids["leader"]) and is_gone(pids["grandchild"]))


def test_a_leaderless_group_is_the_runs_when_a_member_carries_the_marker(
    orphaned: Callable[..., Orphaned], marker: str
) -> None:
    record, pids = orphaned("leaderless", marker)
    assert is_gone(pids["leader"])
    ended = end_leftovers(record, marker, grace=10)
    assert ended is not None
    assert (ended.group, ended.pids) == (record.pid, (pids["grandchild"],))
    assert is_gone(pids["grandchild"])


def test_a_process_that_left_the_group_is_found_by_its_marker(
    orphaned: Callable[..., Orphaned], marker: str
) -> None:
    record, pids = orphaned("setsid", marker)
    assert os.getpgid(pids["grandchild"]) != record.pid
    ended = end_leftovers(record, marker, grace=10)
    assert ended is not None and ended.group == record.pid
    assert set(ended.pids) == {pids["leader"], pids["grandchild"]}
    wait_until(lambda: is_gone(pids["leader"]) and is_gone(pids["grandchild"]))


def test_a_member_without_the_marker_is_ended_with_its_group(
    orphaned: Callable[..., Orphaned], marker: str
) -> None:
    """It ignores SIGTERM and outlives its leader: the group, once found, stays the run's."""
    record, pids = orphaned("unmarked", marker)
    environ = Path(f"/proc/{pids['grandchild']}/environ").read_bytes()
    assert MARKER_VARIABLE.encode() not in environ
    ended = end_leftovers(record, marker, grace=0.5)
    assert ended is not None and ended.signal == signal.SIGKILL and ended.survivors == ()
    assert set(ended.pids) == {pids["leader"], pids["grandchild"]}
    wait_until(lambda: is_gone(pids["grandchild"]))


@pytest.mark.parametrize(
    "other", ["{db}:8", "another-database:7"], ids=["another run", "another database"]
)
def test_another_runs_or_databases_processes_are_left_alone(
    orphaned: Callable[..., Orphaned], marker: str, other: str
) -> None:
    db = marker.split(":")[0]
    _, pids = orphaned("sleep", other.format(db=db))
    assert end_leftovers(None, marker, grace=10) is None
    assert not is_gone(pids["leader"])


def test_a_reused_pid_is_not_the_runs(marker: str, cleanup: list[int]) -> None:
    """The recorded pid now belongs to another process (same pid, another start time): neither
    it nor its group is touched."""
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    cleanup.append(stranger.pid)
    try:
        now = identify(stranger.pid)
        assert now is not None
        record = ProcessIdentity(stranger.pid, now.start_ticks - 1, now.host, now.boot_id)
        assert end_leftovers(record, marker, grace=10) is None
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def p(
    pid: int, pgrp: int, start: int = 100, *, live: bool = True, marked: bool | None = False
) -> ProcessEntry:
    return ProcessEntry(pid=pid, pgrp=pgrp, start_ticks=start, live=live, marked=marked)


RECORD = ProcessIdentity(pid=50, start_ticks=100, host="vm", boot_id="b1")


@pytest.mark.parametrize(
    ("record", "processes", "group", "members", "strays", "known"),
    [
        # The leader runs, with the recorded start time: the group and all its members.
        (RECORD, [p(50, 50), p(51, 50), p(52, 50, marked=None)], 50, (50, 51, 52), (), False),
        # The leader is a zombie, its group lives on: still the run's.
        (RECORD, [p(50, 50, live=False), p(51, 50)], 50, (51,), (), False),
        # Same pid, another start time: reused; the group is someone else's.
        (RECORD, [p(50, 50, start=900), p(51, 50)], None, (), (), False),
        # Reused, but a marked process of the run lives elsewhere: only that one.
        (RECORD, [p(50, 50, start=900), p(60, 60, marked=True)], None, (), (60,), False),
        # No leader; a marked member proves the group is the run's: all its members.
        (RECORD, [p(51, 50, marked=True), p(52, 50)], 50, (51, 52), (), False),
        # No leader; members unmarked or unreadable prove nothing: left alone.
        (RECORD, [p(51, 50), p(52, 50, marked=None)], None, (), (), False),
        # No record (the daemon died before committing it): marked processes only.
        (None, [p(50, 50, marked=True), p(51, 50)], None, (), (50,), False),
        # Only zombies left: nothing to end.
        (RECORD, [p(50, 50, live=False), p(51, 50, live=False, marked=True)], None, (), (), False),
        # The daemon itself (excluded) is never taken, marked or not.
        (None, [p(1, 1, marked=True)], None, (), (), False),
        # Found to be the run's a moment ago: still the run's without leader or marker.
        (RECORD, [p(51, 50), p(52, 50, marked=None)], 50, (51, 52), (), True),
    ],
)
def test_what_counts_as_the_runs(
    record: ProcessIdentity | None,
    processes: list[ProcessEntry],
    group: int | None,
    members: tuple[int, ...],
    strays: tuple[int, ...],
    known: bool,
) -> None:
    found = leftovers(record, processes, exclude={1}, known=known)
    assert (found.group, found.members, tuple(s.pid for s in found.strays)) == (
        group,
        members,
        strays,
    )


# --- the dispatcher: before an attempt, what a dead daemon's attempt left running is ended ----

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'triggerd.db'}")
    yield opened
    opened.close()


def crashed_run(store: Store) -> int:
    """A run whose first attempt was in flight when its daemon died (SIGKILL)."""
    store.write(states.ensure, "nightly", NOW)
    new = NewRun("nightly", "time", "nightly:1", NOW, {})
    [run_id] = store.record_fires("nightly", [new], cursor_at=NOW, now=NOW)
    assert store.write(outbox.claim_next, "dead daemon", NOW) is not None
    return run_id


def dispatch(store: Store, run_id: int, argv: list[str]) -> RunRecord:
    """Run the pending run with a restarted daemon's dispatcher, until it ends."""
    submitter = CommandSubmitter(argv, kill_grace=timedelta(seconds=5))

    def resolve(run: RunRecord) -> Dispatch:
        request = RunRequest(
            run.id, run.schedule, run.fire_key, "time", run.scheduled_for, {}, attempt=run.attempts
        )
        return Dispatch(request, submitter)

    dispatcher = Dispatcher(
        StoreQueue(store),
        resolve,
        owner="restarted",
        concurrency=1,
        clock=lambda: datetime.now(UTC),
    )
    dispatcher.start()
    try:
        wait_until(
            lambda: store.read(queries.get_run, run_id).status not in ("pending", "running"), 30
        )
    finally:
        dispatcher.stop(timedelta(seconds=5))
    return store.read(queries.get_run, run_id)


def run_events(logs: list[dict[str, Any]], run_id: int) -> list[str]:
    return [e["event"] for e in logs if e.get("run_id") == run_id]


def test_a_recorded_group_is_ended_before_the_next_attempt(
    store: Store, orphaned: Callable[..., Orphaned]
) -> None:
    run_id = crashed_run(store)
    record, pids = orphaned("tree", f"{store.read(meta.store_id)}:{run_id}")
    store.write(
        outbox.record_process, run_id, {**record.as_json(), "attempt": 1}, owner="dead daemon"
    )
    assert store.write(outbox.recover_orphans) == [run_id]
    with capture_logs() as logs:
        run = dispatch(store, run_id, [sys.executable, "-c", "pass"])
    assert (run.status, run.attempts, run.process) == ("succeeded", 2, None)
    assert is_gone(pids["leader"]) and is_gone(pids["grandchild"])
    events = run_events(logs, run_id)
    assert events.index("run.orphan_stopped") < events.index("run.started")
    [stopped] = [e for e in logs if e["event"] == "run.orphan_stopped"]
    assert (stopped["pid"], stopped["processes"], stopped["signal"]) == (record.pid, 2, "SIGTERM")
    assert run.note == (
        f"attempt 1's process group {record.pid} (2 processes) was still running after the "
        "daemon running it died: ended with SIGTERM before attempt 2 started."
    )


def test_without_a_recorded_group_the_marker_still_finds_the_command(
    store: Store, orphaned: Callable[..., Orphaned]
) -> None:
    """The daemon died between starting the command and committing its group."""
    run_id = crashed_run(store)
    _, pids = orphaned("sleep", f"{store.read(meta.store_id)}:{run_id}")
    store.write(outbox.recover_orphans)
    run = dispatch(store, run_id, [sys.executable, "-c", "pass"])
    assert run.status == "succeeded"
    assert is_gone(pids["leader"])
    assert run.note == (
        f"process {pids['leader']} of an earlier attempt was still running after the daemon "
        "running it died: ended with SIGTERM before attempt 2 started."
    )


def test_a_group_recorded_on_another_host_is_not_acted_on(store: Store, cleanup: list[int]) -> None:
    """Its pid names nothing here, even when a process here has that pid and start time."""
    run_id = crashed_run(store)
    local = subprocess.Popen(["sleep", "30"], start_new_session=True)
    cleanup.append(local.pid)
    try:
        same = identify(local.pid)
        assert same is not None
        process = {**same.as_json(), "host": "elsewhere", "attempt": 1}
        store.write(outbox.record_process, run_id, process, owner="dead daemon")
        store.write(outbox.recover_orphans)
        with capture_logs() as logs:
            run = dispatch(store, run_id, [sys.executable, "-c", "pass"])
        assert local.poll() is None
    finally:
        local.kill()
        local.wait()
    assert run.status == "succeeded"
    assert "run.orphan_unchecked" in run_events(logs, run_id)
    assert run.note == (
        f"attempt 1 ran on host elsewhere (process group {local.pid}) and was not checked from "
        "here: if it still runs there, attempt 2 runs beside it."
    )


def test_the_group_of_an_attempt_in_flight_is_on_record(store: Store, tmp_path: Path) -> None:
    store.write(states.ensure, "nightly", NOW)
    new = NewRun("nightly", "time", "nightly:1", NOW, {})
    [run_id] = store.record_fires("nightly", [new], cursor_at=NOW, now=NOW)
    go = tmp_path / "go"
    wait = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)"
    seen: list[Any] = []

    def recorded() -> bool:  # then let the command end
        process = store.read(queries.get_run, run_id).process
        if process:
            seen.append(process)
            go.touch()
        return bool(process)

    watcher = threading.Thread(target=wait_until, args=(recorded, 20), daemon=True)
    watcher.start()
    run = dispatch(store, run_id, [sys.executable, "-c", wait])
    watcher.join(timeout=5)
    process = seen[-1]
    host, boot_id = this_host()
    assert (process["host"], process["boot_id"], process["attempt"]) == (host, boot_id, 1)
    assert process["pid"] > 1 and process["start_ticks"] > 0
    assert (run.status, run.note, run.process) == ("succeeded", None, None)
