"""What a poll saw, kept for the operator: the poll history, the files left out with their
reason, and the origin of each snapshot row. On SQLite and PostgreSQL (the ``store`` fixture),
with real folders and real pollers on an injected clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from structlog.testing import capture_logs

from tests.contract.test_poller import Folder
from triggerd.datastores.snapshot import Ignored, IgnoredChange
from triggerd.store import Store, open_store, polls
from triggerd.store.polls import HISTORY_KEPT, PollRecord
from triggerd.store.tables import datastore_entries

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Berlin springs forward this night


@contextmanager
def writes(store: Store) -> Iterator[list[str]]:
    """The INSERT/UPDATE/DELETE statements run on ``store`` inside the block."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def history(store: Store) -> list[PollRecord]:
    return store.read(polls.history, "files")


def left_out(store: Store) -> dict[str, Ignored]:
    return store.read(polls.load_ignored, "files")


def origins(store: Store) -> dict[str, str | None]:
    t = datastore_entries
    with store.reading() as conn:
        rows = conn.execute(select(t.c.path, t.c.origin).where(t.c.schedule == "files"))
        return dict(rows.all())


# -- the store functions -------------------------------------------------------------------------


def test_the_history_keeps_the_newest_polls_of_each_schedule_newest_first(store: Store) -> None:
    for i in range(HISTORY_KEPT + 5):
        record = PollRecord(T0 + timedelta(minutes=i), duration_ms=i, listed=i, new=1)
        store.write(polls.append, "files", record)
    store.write(polls.append, "other", PollRecord(T0, duration_ms=1, listed=None, error="gone"))
    kept = history(store)
    assert len(kept) == HISTORY_KEPT
    assert [r.duration_ms for r in kept] == list(range(HISTORY_KEPT + 4, 4, -1))
    assert kept[0].started_at == T0 + timedelta(minutes=HISTORY_KEPT + 4)
    [other] = store.read(polls.history, "other")
    assert (other.listed, other.error, other.baseline) == (None, "gone", False)


def test_ignored_rows_are_added_replaced_and_removed_as_the_set_changes(store: Store) -> None:
    first = {"in/a.tmp": Ignored("excluded", "*.tmp"), "in/sub": Ignored("not_regular", "dir")}
    store.write(polls.write_ignored, "files", IgnoredChange.between({}, first), T0)
    assert left_out(store) == first
    later = {"in/a.tmp": Ignored("excluded", ".*"), "in/b.tmp": Ignored("excluded", "*.tmp")}
    change = IgnoredChange.between(first, later)
    assert change.removed == ["in/sub"] and set(change.added) == {"in/a.tmp", "in/b.tmp"}
    store.write(polls.write_ignored, "files", change, T0 + timedelta(minutes=1))
    assert left_out(store) == later
    assert not IgnoredChange.between(later, dict(later))  # the same set: nothing to write
    store.reset_snapshot("files")
    assert left_out(store) == {}


# -- what the poller writes ----------------------------------------------------------------------


def test_a_steady_poll_adds_no_history_row_and_writes_nothing(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store)
    folder.write("a.csv")
    folder.write("upload.tmp")
    folder.poll()  # the baseline
    [baseline] = history(store)
    assert (baseline.baseline, baseline.listed, baseline.excluded) == (True, 1, 1)
    with writes(store) as seen:
        for _ in range(3):
            folder.clock.now += timedelta(seconds=5)  # within the lease and the statistics' minute
            folder.poller.poll()
    assert seen == []
    assert len(history(store)) == 1


def test_a_steady_poll_logs_at_debug_and_one_that_did_something_at_info(
    tmp_path: Path, store: Store
) -> None:
    folder = Folder(tmp_path, store)
    with capture_logs() as logs:
        folder.poll()  # the baseline
        folder.poll()  # nothing new
        folder.write("a.csv")
        folder.poll()  # a.csv seen
        folder.poll()  # a.csv fires
        folder.poll()  # nothing new
    levels = [e["log_level"] for e in logs if e["event"] == "poll.completed"]
    assert levels == ["info", "debug", "info", "info", "debug"]


def test_each_poll_that_did_something_is_one_row_with_its_counts(
    tmp_path: Path, store: Store
) -> None:
    folder = Folder(tmp_path, store)
    folder.write("old.csv")
    folder.poll()  # baseline
    folder.write("new.csv")
    folder.write("old.csv", "changed")
    folder.poll()  # both seen: settling
    folder.poll()  # both fire
    (folder.path / "new.csv").unlink()
    folder.poll()  # a removal
    removal, fired, seen, baseline = history(store)
    assert (baseline.baseline, baseline.new, baseline.listed) == (True, 1, 1)
    assert (seen.new, seen.changed, seen.settling, seen.fired) == (1, 1, 2, 0)
    assert (fired.new, fired.changed, fired.settling, fired.fired) == (0, 0, 0, 2)
    assert (removal.listed, removal.fired, removal.baseline) == (1, 0, False)
    assert all(r.duration_ms >= 0 and r.error is None for r in (removal, fired, seen, baseline))
    assert seen.started_at == folder.clock.now - timedelta(minutes=10)


def test_a_failed_listing_is_a_row_with_its_error(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store)
    folder.poll()
    os.rename(folder.path, folder.path.with_name("moved"))
    folder.poll()
    failed = history(store)[0]
    assert failed.listed is None and failed.error is not None
    assert "does not exist" in failed.error and str(folder.path) in failed.error


def test_snapshot_rows_say_whether_their_version_was_the_baseline_or_fired(
    tmp_path: Path, store: Store
) -> None:
    folder = Folder(tmp_path, store)
    folder.write("there.csv")
    folder.write("changes.csv")
    folder.poll()
    assert origins(store) == {"incoming/there.csv": "baseline", "incoming/changes.csv": "baseline"}
    folder.write("changes.csv", "again")
    folder.write("new.csv")
    folder.poll()  # settling: the baseline row keeps its origin, the new one has none yet
    assert origins(store)["incoming/changes.csv"] == "baseline"
    assert origins(store)["incoming/new.csv"] is None
    folder.poll()
    assert origins(store) == {
        "incoming/there.csv": "baseline",
        "incoming/changes.csv": "fired",
        "incoming/new.csv": "fired",
    }


def test_files_left_out_are_written_when_the_set_changes_only(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store, exclude=["*.tmp", "~*"])
    folder.poll()
    folder.write("upload.tmp")
    (folder.path / "archive").mkdir()
    os.mkfifo(folder.path / "pipe.csv")
    folder.poll()
    assert left_out(store) == {
        "incoming/upload.tmp": Ignored("excluded", "*.tmp"),
        "incoming/archive": Ignored("not_regular", "directory"),
        "incoming/pipe.csv": Ignored("not_regular", "fifo"),
    }
    assert history(store)[0].excluded == 3
    folder.write("a.csv")  # the folder changes, what is left out does not
    with writes(store) as seen:
        folder.poll()
    assert not [s for s in seen if "datastore_ignored" in s]
    (folder.path / "upload.tmp").unlink()
    folder.poll()
    assert set(left_out(store)) == {"incoming/archive", "incoming/pipe.csv"}


def test_a_name_the_store_cannot_hold_is_left_out_under_its_shown_name(
    tmp_path: Path, store: Store
) -> None:
    folder = Folder(tmp_path, store, include=["*.csv", "*.txt"])
    folder.poll()
    with open(os.fsencode(folder.path) + b"/bad\xff.txt", "wb") as bad:
        bad.write(b"x")
    folder.write("skip.json")
    folder.poll()
    assert left_out(store) == {
        "incoming/bad\\xff.txt": Ignored(
            "unrepresentable", "its name is not valid UTF-8; rename the file to fire it"
        ),
        "incoming/skip.json": Ignored("excluded", "not included (*.csv, *.txt)"),
    }


def test_a_changed_watch_forgets_what_its_polls_left_out(tmp_path: Path, store: Store) -> None:
    folder = Folder(tmp_path, store)
    folder.write("upload.tmp")
    folder.poll()
    assert left_out(store) != {}
    store.reset_snapshot("files")
    assert left_out(store) == {}
    assert len(history(store)) == 1  # the history stays: the new watch's baseline follows


def test_a_failed_poll_still_retries_when_its_row_cannot_be_written(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db' / 'triggerd.db'}")
    try:
        folder = Folder(tmp_path, store)
        folder.poll()
        os.rename(folder.path, folder.path.with_name("moved"))
        store.engine.dispose()
        (tmp_path / "db" / "triggerd.db").unlink()  # the database is gone too
        folder.clock.now += timedelta(seconds=5)  # the lease is still held: no write before
        with capture_logs() as logs:
            retry = folder.poller.poll()
        assert retry is not None and retry <= timedelta(seconds=5)
        events = [e["event"] for e in logs]
        assert events == ["poll.failed", "poll.unrecorded"]
    finally:
        store.close()
