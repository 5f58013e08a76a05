"""Reloading the config of a running daemon: SIGHUP and edits in the config directory."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, cli, probe

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parent / "scripts" / "record.py"


def schedule_file(name: str, out: Path) -> str:
    return f"""
pipelines:
  record-{name}:
    kind: command
    argv: [{json.dumps(sys.executable)}, {json.dumps(str(SCRIPT))}, {json.dumps(str(out))}, "0"]
schedules:
  - name: {name}
    pipeline: record-{name}
    recurrence: {{frequency: Hour, interval: 1, time_zone: Pacific Standard Time}}
"""


def test_sighup_adds_a_schedule_and_a_broken_file_keeps_the_last_good_config(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    out = tmp_path / "record.jsonl"
    (config / "first.yaml").write_text(schedule_file("first", out), encoding="utf-8")
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state)
    try:
        daemon.wait_event("run.succeeded", schedule="first")
        (config / "second.yaml").write_text(schedule_file("second", out), encoding="utf-8")
        daemon.signal(signal.SIGHUP)
        reloaded = daemon.wait_event("config.reloaded")
        assert reloaded["added"] == ["second"]
        daemon.wait_event("run.succeeded", schedule="second")  # no start_time: fires at once

        (config / "second.yaml").write_text("schedules:\n  - name: second\n    pipeline: [\n")
        daemon.signal(signal.SIGHUP)
        failed = daemon.wait_event("config.reload_failed")
        assert failed["file"] == str(config / "second.yaml")
        # The last good config is still in force: both schedules are there and run.
        # (The CLI reads its own copy of the good definition; the daemon runs from memory.)
        good = tmp_path / "second-good.yaml"
        good.write_text(schedule_file("second", out), encoding="utf-8")
        triggered = cli("schedules", "trigger", "second", state_dir=state, config=good)
        assert triggered.returncode == 0, triggered.stderr
        daemon.wait_for(
            lambda: len(daemon.named("run.succeeded")) >= 3, what="the manual run of 'second'"
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    assert daemon.named("daemon.stopped")


def test_an_edit_in_the_config_directory_reloads_by_itself(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    out = tmp_path / "record.jsonl"
    (config / "first.yaml").write_text(schedule_file("first", out), encoding="utf-8")
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state)
    try:
        daemon.wait_event("run.succeeded", schedule="first")
        (config / "first.yaml").unlink()
        (config / "renamed.yaml").write_text(schedule_file("renamed", out), encoding="utf-8")
        daemon.wait_for(
            lambda: (
                any(e.get("added") == ["renamed"] for e in daemon.named("config.reloaded"))
                or any("renamed" in e.get("added", []) for e in daemon.named("config.reloaded"))
            ),
            what="a reload that adds 'renamed'",
        )
        daemon.wait_event("run.succeeded", schedule="renamed")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    removed = [r for e in daemon.named("config.reloaded") for r in e["removed"]]
    assert "first" in removed


def test_an_emptied_a_half_written_or_a_hostile_file_never_costs_a_schedule(
    tmp_path: Path,
) -> None:
    """Issue 11, fault 4: `: > file` removed every schedule; a file read while being written
    defined half of them; a 300-byte alias bomb killed the daemon with MemoryError."""
    config = tmp_path / "config"
    config.mkdir()
    out = tmp_path / "record.jsonl"
    main = config / "main.yaml"
    main.write_text(schedule_file("first", out), encoding="utf-8")
    (config / "other.yaml").write_text(schedule_file("other", out), encoding="utf-8")
    daemon = DaemonProcess(config, tmp_path / "state")
    try:
        url = daemon.wait_event("http.listening")["url"]
        daemon.wait_event("run.succeeded", schedule="first")

        main.write_text("", encoding="utf-8")  # what a truncate-then-write save looks like
        failed = daemon.wait_event("config.reload_failed", file=str(main))
        assert "schedules: []" in failed["problem"]

        # Written again in pieces, 0.1 s apart; every prefix is valid YAML with fewer schedules.
        pieces = schedule_file("first", out).split("schedules:\n")
        pieces = [pieces[0], "schedules:\n" + pieces[1]]
        daily = "{frequency: Day, interval: 1, time_zone: Pacific Standard Time}"
        for name in ("second", "third"):
            pieces.append(f"  - {{name: {name}, pipeline: record-first, recurrence: {daily}}}\n")
        with main.open("w", encoding="utf-8") as handle:
            for piece in pieces:
                handle.write(piece)
                handle.flush()
                time.sleep(0.1)
        reloaded = daemon.wait_event("config.reloaded")
        assert (reloaded["added"], reloaded["removed"]) == (["second", "third"], [])

        bomb = "".join(
            f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        )
        (config / "other.yaml").write_text(
            'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + bomb, encoding="utf-8"
        )
        began = time.monotonic()
        refused = daemon.wait_event("config.reload_failed", file=str(config / "other.yaml"))
        assert time.monotonic() - began < 5
        assert "alias" in refused["problem"]
        assert probe(f"{url}/healthz")[0] == 200
        assert [e["removed"] for e in daemon.named("config.reloaded")] == [[]]
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
