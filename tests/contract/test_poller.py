"""One datastore schedule's polls against a real folder and store, with an injected clock."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from triggerd.config import load_config
from triggerd.engine.poller import DatastorePoller, retry_delay
from triggerd.runs import DataPath
from triggerd.store import Store, leases, open_store, queries, states


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # Berlin falls back this night

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


class Folder:
    def __init__(
        self, tmp_path: Path, store: Store, prefix: str = "incoming", **options: Any
    ) -> None:
        self.path = tmp_path / "inbox" / prefix
        self.path.mkdir(parents=True)
        extra = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in options.items())
        (tmp_path / "c.yaml").write_text(
            f"""
datastores:
  inbox: {{kind: local, path: {json.dumps(str(tmp_path / "inbox"))}}}
pipelines:
  job: {{kind: command, argv: [echo, "{{f}}"]}}
schedules:
  - name: files
    pipeline: job
    datastore: inbox
    path_on_datastore: {prefix}
    data_path_parameter_name: f
    pipeline_parameters: {{threshold: 0.5}}
{extra}""",
            encoding="utf-8",
        )
        config = load_config(tmp_path / "c.yaml")
        self.enabled = True
        self.clock = Clock()
        self.store = store
        self.poller = DatastorePoller(
            config.schedules["files"],
            config,
            store,
            clock=self.clock,
            is_enabled=lambda: self.enabled,
        )
        self._mtime = 1_700_000_000 * 10**9

    def write(self, name: str, text: str = "x") -> None:
        path = self.path / name
        path.write_text(text, encoding="utf-8")
        self._mtime += 10**9
        os.utime(path, ns=(self._mtime, self._mtime))

    def poll(self) -> timedelta | None:
        self.clock.now += timedelta(minutes=5)
        return self.poller.poll()

    def runs(self, status: str = "pending") -> list[str]:
        return [
            r.data_path.relative_path
            for r in self.store.read(queries.list_runs, statuses=[status])
            if r.data_path
        ]


def test_a_settled_new_file_becomes_one_pending_run_with_its_data_path(
    tmp_path: Path, store: Store
) -> None:
    folder = Folder(tmp_path, store)
    folder.poll()
    folder.write("a.csv")
    folder.poll()
    folder.poll()
    folder.poll()
    [run] = store.read(queries.list_runs)
    assert (run.trigger, run.status, run.parameters) == ("datastore", "pending", {"threshold": 0.5})
    assert run.data_path == DataPath("inbox", "incoming/a.csv")
    assert run.fire_key == f"files:incoming/a.csv:{(folder.path / 'a.csv').stat().st_mtime_ns}"
    state = store.read(states.get, "files")
    assert state is not None and state.entries == 1 and state.last_poll_at is not None


def test_a_poll_that_finds_no_change_writes_nothing(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store)
    for i in range(50):
        folder.write(f"{i}.csv")
    folder.poll()  # baseline: 50 rows and the poll statistics
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        folder.clock.now += timedelta(seconds=10)  # within a minute: no statistics are due
        folder.poller.poll()
        folder.clock.now += timedelta(seconds=10)
        folder.poller.poll()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert writes == []


def test_a_poll_that_finds_no_change_reads_nothing_either(tmp_path: Path, store: Store) -> None:
    """Not even whether the schedule is enabled: that is asked only when a file fires."""
    folder = Folder(tmp_path, store)
    folder.write("a.csv")
    folder.poll()  # baseline
    asked: list[str] = []
    folder.poller.is_enabled = lambda: asked.append("enabled?") is None  # type: ignore[method-assign]
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        for _ in range(3):  # within the lease (no heartbeat renews it here) and the minute of
            folder.clock.now += timedelta(seconds=5)  # poll statistics
            folder.poller.poll()
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    assert (statements, asked) == ([], [])


def test_a_restarted_poller_continues_from_the_stored_snapshot(
    tmp_path: Path, store: Store
) -> None:
    folder = Folder(tmp_path, store)
    folder.write("old.csv")
    folder.poll()  # baseline
    folder.write("new.csv")
    again = Folder.__new__(Folder)
    again.__dict__.update(folder.__dict__)
    again.poller = DatastorePoller(
        folder.poller.schedule, _config(folder), store, clock=folder.clock, is_enabled=lambda: True
    )
    again.poll()
    again.poll()
    assert again.runs() == ["incoming/new.csv"]


def _config(folder: Folder) -> Any:
    return load_config(folder.path.parents[1] / "c.yaml")


def test_on_existing_fire_fires_what_the_first_poll_finds(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store, on_existing="fire")
    folder.write("there-before.csv")
    folder.poll()
    folder.poll()
    assert folder.runs() == ["incoming/there-before.csv"]


def test_a_disabled_schedule_records_its_files_as_skipped(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store)
    folder.poll()
    folder.enabled = False
    folder.write("a.csv")
    folder.poll()
    folder.poll()
    assert folder.runs() == []
    assert folder.runs("skipped") == ["incoming/a.csv"]
    assert store.read(queries.list_runs)[0].reason == "schedule disabled"


def test_a_failed_listing_backs_off_and_keeps_the_snapshot(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store)
    folder.write("a.csv")
    folder.poll()
    os.rename(folder.path, folder.path.with_name("moved"))
    first, second = folder.poll(), folder.poll()
    assert first is not None and second is not None
    assert timedelta(seconds=4) < first < second <= timedelta(seconds=11)
    os.rename(folder.path.with_name("moved"), folder.path)
    assert folder.poll() is None
    folder.poll()
    assert folder.runs() == []  # a.csv is still the baseline: nothing fired


@pytest.mark.parametrize(
    ("failures", "interval", "low", "high"),
    [
        (1, timedelta(minutes=5), 4.5, 5.0),
        (3, timedelta(minutes=5), 18.0, 20.0),
        (30, timedelta(minutes=5), 270.0, 300.0),
        (2, timedelta(seconds=3), 2.7, 3.0),
    ],
)
def test_retry_delays_grow_but_never_past_the_interval(
    failures: int, interval: timedelta, low: float, high: float
) -> None:
    assert low <= retry_delay(failures, interval).total_seconds() <= high


@pytest.mark.parametrize("options", [{}, {"settle": "30s"}])
def test_a_watched_folder_polls_again_soon_while_files_settle(
    tmp_path: Path, store: Store, options: dict[str, Any]
) -> None:
    folder = Folder(tmp_path, store, **options)
    folder.poll()
    folder.poller.watched = True
    folder.write("a.csv")
    assert folder.poller.poll() == timedelta(seconds=5)  # a.csv is settling
    folder.poller.watched = False
    assert folder.poller.poll() is None  # unwatched: the interval is the pace


def test_a_poll_whose_commit_failed_decides_again_on_the_next_poll(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database went away while a poll committed: nothing it saw may be forgotten, even
    though the folder does not change again afterwards."""
    folder = Folder(tmp_path, store)
    folder.poll()  # baseline
    folder.write("a.csv")
    record_poll = store.record_poll
    failures = []

    def fails_once(*args: Any, **kwargs: Any) -> list[int]:
        if not failures:
            failures.append(1)
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return record_poll(*args, **kwargs)

    monkeypatch.setattr(store, "record_poll", fails_once)
    with pytest.raises(OperationalError):
        folder.poll()  # a.csv first seen: the candidate is not committed
    for _ in range(3):
        folder.poll()
    assert failures == [1]
    assert folder.runs() == ["incoming/a.csv"]


def test_a_heartbeat_that_finds_the_lease_taken_stops_the_polls(
    tmp_path: Path, store: Store
) -> None:
    folder = Folder(tmp_path, store)
    folder.poll()  # holds the lease now
    poller = folder.poller
    assert poller.holds_lease
    later = folder.clock.now + timedelta(seconds=31)  # this daemon stalled past the lease
    assert store.write(leases.acquire, poller.lease_name, "other", later, timedelta(seconds=30))
    held = store.write(
        leases.renew, [poller.lease_name], poller.owner, later, timedelta(seconds=30)
    )
    poller.lease_renewed(held.get(poller.lease_name), later)
    assert not poller.holds_lease
    folder.write("a.csv")
    for _ in range(3):
        folder.clock.now = later + timedelta(seconds=5)
        assert poller.poll() is None  # the other daemon polls: this one lists nothing
    assert folder.runs() == []


def test_a_name_that_is_not_utf8_never_stops_the_folder(tmp_path: Path, store: Store) -> None:
    """Issue 11, fault 3: `bad\\xff.txt` made every poll crash in snapshots.write."""
    folder = Folder(tmp_path, store)
    folder.poll()  # baseline: empty
    folder.write("a.csv")
    with open(os.fsencode(folder.path) + b"/bad\xff.txt", "wb") as bad:
        bad.write(b"x")
    for _ in range(3):
        assert folder.poll() is None
    folder.write("b.csv")
    for _ in range(3):
        folder.poll()
    assert sorted(folder.runs()) == ["incoming/a.csv", "incoming/b.csv"]
    [refused] = store.read(queries.list_runs, statuses=["skipped"])
    assert refused.data_path == DataPath("inbox", "incoming/bad\\xff.txt")
    assert refused.reason == "not fired: its name is not valid UTF-8; rename the file to fire it"
    assert refused.fire_key.startswith("files:refused:")
    os.utime(os.fsencode(folder.path) + b"/bad\xff.txt", ns=(1, 1))  # a new version
    folder.poll()
    assert len(store.read(queries.list_runs, statuses=["skipped"])) == 2  # each version once


def test_a_path_too_long_for_the_store_is_refused_and_a_long_fire_key_is_cut(
    tmp_path: Path, store: Store
) -> None:
    prefix = "/".join(["d" * 200] * 4)  # 803 characters of path_on_datastore
    folder = Folder(tmp_path, store, prefix=prefix)
    folder.poll()
    cut = "k" * 200 + ".csv"  # a path of 1008 characters: stored; its fire key (1034) is cut
    refused = "r" * 230 + ".csv"  # a path of 1038 characters: longer than the store holds
    folder.write(cut)
    folder.write(refused)
    for _ in range(3):
        folder.poll()
    [run] = store.read(queries.list_runs, statuses=["pending"])
    assert run.data_path == DataPath("inbox", f"{prefix}/{cut}")
    assert len(run.fire_key) <= 1000 and run.fire_key.startswith(f"files:{prefix}/kkk")
    [skipped] = store.read(queries.list_runs, statuses=["skipped"])
    assert skipped.reason == (
        "not fired: its path is longer than 1024 characters; rename the file to fire it"
    )
    folder.poll()
    assert len(store.read(queries.list_runs)) == 2  # neither is decided again
