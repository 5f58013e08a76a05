"""Datastore schedules with the daemon as a process, on a real folder."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import runs_json
from tests.support.inbox import HOSTILE_NAME, Inbox, stop, wait_polls

pytestmark = pytest.mark.e2e

BURST = 300  # files dropped at once in the crash test


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    yield Inbox(tmp_path)


def test_files_fire_once_when_new_or_changed_and_never_otherwise(inbox: Inbox) -> None:
    inbox.write("existing.csv", "was here first")
    daemon = inbox.start()
    try:
        baseline = daemon.wait_event("poll.completed", baseline=True)
        assert baseline["entries"] == 1
        inbox.write("new.csv", "a,b\n")
        inbox.write(".hidden.csv", "no")
        inbox.write("upload.tmp", "no")
        inbox.write("sub/deeper.csv", "no")
        inbox.write(HOSTILE_NAME, "evil")
        daemon.wait_for(lambda: len(inbox.fired()) >= 2, what="two runs")
        inbox.write("existing.csv", "changed")
        daemon.wait_for(lambda: len(inbox.fired()) >= 3, what="the modified file's run")
        (inbox.folder / "new.csv").unlink()
        wait_polls(daemon, 2)
        inbox.write("new.csv", "again")
        daemon.wait_for(lambda: len(inbox.fired()) >= 4, what="the recreated file's run")
        wait_polls(daemon, 3)
        stop(daemon)
    finally:
        daemon.kill()
    assert sorted(inbox.fired()[:2]) == sorted(
        [str(inbox.folder / HOSTILE_NAME), str(inbox.folder / "new.csv")]
    )
    assert inbox.fired()[2:] == [str(inbox.folder / "existing.csv"), str(inbox.folder / "new.csv")]
    hostile = [r for r in inbox.records() if r["argv"] == [str(inbox.folder / HOSTILE_NAME)]]
    assert hostile, "the hostile file name reached the command as one argument"
    assert not (inbox.work / "PWNED").exists()
    assert not (inbox.work / "P2").exists()
    runs = runs_json(inbox.state, inbox.config)
    assert len(runs) == 4
    assert {r["status"] for r in runs} == {"succeeded"}
    assert {r["trigger"] for r in runs} == {"datastore"}
    assert {r["data_path"]["relative_path"] for r in runs} == {
        "incoming/new.csv",
        f"incoming/{HOSTILE_NAME}",
        "incoming/existing.csv",
    }
    assert all(r["fire_key"].startswith("new-files:incoming/") for r in runs)


def test_a_file_written_over_several_polls_fires_once_after_it_settles(inbox: Inbox) -> None:
    daemon = inbox.start()
    try:
        daemon.wait_event("poll.completed", baseline=True)
        for chunk in range(4):
            inbox.write("growing.csv", f"row {chunk}\n", append=True)
            wait_polls(daemon, 1)
        daemon.wait_for(lambda: inbox.fired(), what="the settled file's run")
        wait_polls(daemon, 3)
        stop(daemon)
    finally:
        daemon.kill()
    assert inbox.fired() == [str(inbox.folder / "growing.csv")]
    [run] = runs_json(inbox.state, inbox.config)
    assert run["status"] == "succeeded"


def test_files_added_while_stopped_fire_after_restart_exactly_once(inbox: Inbox) -> None:
    daemon = inbox.start()
    try:
        daemon.wait_event("poll.completed", baseline=True)
        stop(daemon)
    finally:
        daemon.kill()
    inbox.write("while-down.csv", "x")
    again = inbox.start()
    try:
        again.wait_for(lambda: inbox.fired(), what="the run of the file added while down")
        assert not again.named("poll.completed")[0]["baseline"]
        wait_polls(again, 3)
        stop(again)
    finally:
        again.kill()
    third = inbox.start()
    try:
        wait_polls(third, 3)
        stop(third)
    finally:
        third.kill()
    assert inbox.fired() == [str(inbox.folder / "while-down.csv")]


def test_a_removed_and_recreated_folder_does_not_stop_the_schedule(inbox: Inbox) -> None:
    daemon = inbox.start()
    try:
        daemon.wait_event("poll.completed", baseline=True)
        shutil.rmtree(inbox.folder)
        failed = daemon.wait_event("poll.failed")
        assert "incoming" in failed["reason"]
        inbox.folder.mkdir()
        inbox.write("after.csv", "back")
        daemon.wait_for(lambda: inbox.fired(), timeout=60, what="a run after the folder came back")
        stop(daemon)
    finally:
        daemon.kill()
    assert inbox.fired() == [str(inbox.folder / "after.csv")]


def test_a_folder_watch_wakes_the_poll_long_before_its_interval(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    inbox.config.write_text(
        inbox.config.read_text().replace("polling_interval: 1s", "polling_interval: 60"),
        encoding="utf-8",
    )
    daemon = inbox.start()
    try:
        daemon.wait_event("poll.completed", baseline=True)
        daemon.wait_event("watch.started", folder=str(inbox.folder))
        inbox.write("early.csv", "no need to wait an hour")
        # An hour-long interval: only the watch (and its settle follow-up) can fire this.
        daemon.wait_for(lambda: inbox.fired(), timeout=30, what="a run woken by the watch")
        stop(daemon)
    finally:
        daemon.kill()
    assert inbox.fired() == [str(inbox.folder / "early.csv")]


def test_a_folder_that_cannot_be_watched_is_polled(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    shutil.rmtree(inbox.folder)  # missing at start: no watch, polls fail and retry
    daemon = inbox.start()
    try:
        unavailable = daemon.wait_event("watch.unavailable")
        assert unavailable["fallback"] == "polling only"
        daemon.wait_event("poll.failed")
        inbox.folder.mkdir()
        daemon.wait_event("poll.completed", baseline=True, timeout=60)
        inbox.write("later.csv", "x")
        daemon.wait_for(lambda: inbox.fired(), timeout=60, what="a run without a watch")
        stop(daemon)
    finally:
        daemon.kill()
    assert inbox.fired() == [str(inbox.folder / "later.csv")]


def test_sigkill_mid_burst_and_restart_gives_every_file_exactly_one_run(inbox: Inbox) -> None:
    daemon = inbox.start()
    try:
        daemon.wait_event("poll.completed", baseline=True)
        for i in range(BURST):
            inbox.write(f"burst-{i:03d}.csv", f"{i}\n")
        daemon.wait_for(lambda: len(inbox.fired()) >= 5, what="the burst to start")
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.wait()
    finally:
        daemon.kill()
    again = inbox.start()
    try:

        def all_done() -> bool:
            runs = runs_json(inbox.state, inbox.config)
            return len(runs) == BURST and all(r["status"] == "succeeded" for r in runs)

        again.wait_for(all_done, timeout=120, what="a succeeded run for each of the files")
        stop(again)
    finally:
        again.kill()
    runs = runs_json(inbox.state, inbox.config)
    assert sorted(r["data_path"]["relative_path"] for r in runs) == [
        f"incoming/burst-{i:03d}.csv" for i in range(BURST)
    ]
    assert len({r["fire_key"] for r in runs}) == BURST
    # Every file's command ran to the end; one interrupted mid-run may have started twice.
    assert set(inbox.fired()) == {str(inbox.folder / f"burst-{i:03d}.csv") for i in range(BURST)}
