"""The folder watch (inotify): a change in a watched folder wakes its poll, a burst wakes it a
few times (not once per file), the config watch wakes only for the files it accepts, and a folder
that cannot be watched says so."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from triggerd.datastores.watch import FolderWatcher

WAIT = 30.0  # seconds: generous, a wake normally comes within milliseconds


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self._event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self._event.set()

    def wait(self) -> bool:
        woken = self._event.wait(WAIT)
        self._event.clear()
        return woken


@pytest.fixture
def watcher() -> Iterator[FolderWatcher]:
    watching = FolderWatcher()
    yield watching
    watching.stop()


def test_a_new_file_wakes_the_poll(watcher: FolderWatcher, tmp_path: Path) -> None:
    wakes = Wakes()
    assert watcher.watch("files", tmp_path, wakes)
    (tmp_path / "a.csv").write_text("x", encoding="utf-8")
    assert wakes.wait()


@pytest.mark.parametrize(
    "change",
    [
        lambda folder: (folder / "old.csv").rename(folder / "new.csv"),
        lambda folder: (folder / "old.csv").unlink(),
        lambda folder: os.utime(folder / "old.csv", ns=(10**18, 10**18)),
        lambda folder: (folder / "old.csv").write_text("more", encoding="utf-8"),
        lambda folder: (folder / "sub").mkdir(),
    ],
    ids=["renamed", "deleted", "touched", "rewritten", "sub-folder made"],
)
def test_every_change_a_listing_can_see_wakes_the_poll(
    watcher: FolderWatcher, tmp_path: Path, change: object
) -> None:
    (tmp_path / "old.csv").write_text("x", encoding="utf-8")
    wakes = Wakes()
    assert watcher.watch("files", tmp_path, wakes)
    change(tmp_path)  # type: ignore[operator]
    assert wakes.wait()


def test_a_burst_of_files_wakes_the_poll_a_few_times_not_once_a_file(
    watcher: FolderWatcher, tmp_path: Path
) -> None:
    wakes = Wakes()
    assert watcher.watch("files", tmp_path, wakes)
    for i in range(2000):
        (tmp_path / f"f{i:04d}.csv").touch()
    (tmp_path / "last.csv").touch()
    assert wakes.wait()
    assert 1 <= wakes.count < 2000


def test_the_config_watch_wakes_only_for_the_files_it_accepts(
    watcher: FolderWatcher, tmp_path: Path
) -> None:
    seen: list[str] = []

    def is_config(path: str) -> bool:
        seen.append(path)
        return path.endswith(".yaml")

    wakes = Wakes()
    assert watcher.watch_config(tmp_path, wakes, accept=is_config)
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "config.yaml").write_text("x", encoding="utf-8")
    assert wakes.wait()
    assert str(tmp_path / "config.yaml") in seen  # the path as the folder names it


def test_two_schedules_on_one_folder_are_both_woken_and_each_can_stop(
    watcher: FolderWatcher, tmp_path: Path
) -> None:
    first, second = Wakes(), Wakes()
    assert watcher.watch("first", tmp_path, first)
    assert watcher.watch("second", tmp_path, second)
    (tmp_path / "a.csv").touch()
    assert first.wait() and second.wait()
    watcher.unwatch("first")
    (tmp_path / "b.csv").touch()
    assert second.wait()
    assert watcher.watch("first", tmp_path, first)  # watched again: woken again
    (tmp_path / "c.csv").touch()
    assert first.wait()


def test_a_folder_that_is_missing_cannot_be_watched(watcher: FolderWatcher, tmp_path: Path) -> None:
    with capture_logs() as logs:
        assert not watcher.watch("files", tmp_path / "missing", Wakes())
    [warning] = [log for log in logs if log["event"] == "watch.unavailable"]
    assert warning["schedule"] == "files" and warning["fallback"] == "polling only"
    assert "No such file or directory" in warning["reason"]


def test_a_folder_deleted_and_made_again_can_be_watched_again(
    watcher: FolderWatcher, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    wakes = Wakes()
    assert watcher.watch("files", folder, wakes)
    folder.rmdir()
    assert wakes.wait()  # the folder's own deletion wakes the poll (which then fails)
    folder.mkdir()
    assert watcher.watch("files", folder, wakes)
    (folder / "a.csv").touch()
    assert wakes.wait()


def test_a_stopped_watcher_watches_nothing_more(tmp_path: Path) -> None:
    watcher = FolderWatcher()
    assert watcher.watch("files", tmp_path, Wakes())
    watcher.stop()
    watcher.stop()  # twice is harmless
    with capture_logs() as logs:
        assert not watcher.watch("other", tmp_path, Wakes())
    assert [log["event"] for log in logs] == ["watch.unavailable"]


def test_a_wake_that_raises_neither_stops_the_watch_nor_the_other_wakes(
    watcher: FolderWatcher, tmp_path: Path
) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    wakes = Wakes()
    assert watcher.watch("broken", tmp_path, broken)
    assert watcher.watch("files", tmp_path, wakes)
    with capture_logs() as logs:
        (tmp_path / "a.csv").write_text("x", encoding="utf-8")
        assert wakes.wait()
        (tmp_path / "b.csv").write_text("x", encoding="utf-8")
        assert wakes.wait()  # the thread is still reading
    assert any(entry["event"] == "watch.failed" for entry in logs)


def test_a_folder_given_as_a_symlink_is_watched_at_its_target(
    watcher: FolderWatcher, tmp_path: Path
) -> None:
    target = tmp_path / "data"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    wakes = Wakes()
    assert watcher.watch("files", link, wakes)
    (target / "a.csv").write_text("x", encoding="utf-8")
    assert wakes.wait()
