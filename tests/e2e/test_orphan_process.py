"""A daemon SIGKILLed while a command runs: the command outlives it, and the restarted daemon
ends it (SIGTERM) before it runs the command again, so two copies never run at once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, cli, read_records

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parent / "scripts" / "slow_job.py"


def write_config(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "job.jsonl"
    config = tmp_path / "triggerd.yaml"
    config.write_text(
        f"""
pipelines:
  slow-job:
    kind: command
    argv: [{json.dumps(sys.executable)}, {json.dumps(str(SCRIPT))}, {json.dumps(str(out))},
           "60", "0.3"]
    cwd: {json.dumps(str(tmp_path))}
schedules:
  - name: slow
    pipeline: slow-job
    overlap: skip
    recurrence:
      frequency: Day
      interval: 1
      start_time: "2099-01-01T00:00:00"
      time_zone: UTC
""",
        encoding="utf-8",
    )
    return config, out


def recorded_process(state: Path, run_id: int) -> Any:
    """The run's ``process`` column, read as an operator's sqlite3 would (read-only)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{state / 'triggerd.db'}?mode=ro", uri=True)
    ) as db:
        row = db.execute("SELECT process FROM runs WHERE id = ?", (run_id,)).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_command_left_running_by_a_killed_daemon_is_ended_before_it_runs_again(
    tmp_path: Path,
) -> None:
    config, out = write_config(tmp_path)
    state = tmp_path / "state"
    triggered = cli("schedules", "trigger", "slow", state_dir=state, config=config)
    assert triggered.returncode == 0, triggered.stderr
    [run] = json.loads(cli("runs", "list", "--json", state_dir=state, config=config).stdout)
    run_id = run["id"]

    first = DaemonProcess(config, state)
    try:
        first.wait_for(lambda: read_records(out), what="attempt 1 to start")
        first.wait_for(lambda: recorded_process(state, run_id), what="its group to be recorded")
        first.proc.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
    [started] = read_records(out)
    orphan = started["pid"]
    try:
        assert running(orphan), "the command died with its daemon"
        assert started["pgid"] == orphan  # the leader of a group of its own
        assert recorded_process(state, run_id)["pid"] == orphan

        second = DaemonProcess(config, state)
        try:
            second.wait_event("run.recovered", run_id=run_id)
            stopped = second.wait_event("run.orphan_stopped", run_id=run_id, timeout=30)
            second.wait_event("run.succeeded", run_id=run_id, timeout=30)
            second.signal(signal.SIGTERM)
            assert second.wait() == 0
        finally:
            second.kill()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)

    assert (stopped["pid"], stopped["processes"], stopped["signal"]) == (orphan, 1, "SIGTERM")
    events = [e["event"] for e in second.events if e.get("run_id") == run_id]
    assert events.index("run.orphan_stopped") < events.index("run.started")
    lives = [(r["phase"], r["attempt"]) for r in read_records(out)]
    assert lives == [("started", "1"), ("terminated", "1"), ("started", "2"), ("finished", "2")]
    _, ended, again, _ = read_records(out)
    assert ended["pid"] == orphan and ended["time"] <= again["time"]  # never two at once

    shown = cli("runs", "show", str(run_id), "--json", state_dir=state, config=config)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["status"], record["attempts"]) == ("succeeded", 2)
    assert record["note"] == (
        f"attempt 1's process group {orphan} was still running after the daemon running it "
        "died: ended with SIGTERM before attempt 2 started."
    )
    text = cli("runs", "show", str(run_id), state_dir=state, config=config).stdout
    assert f"note:             attempt 1's process group {orphan} was still running" in text
    assert recorded_process(state, run_id) is None  # the last attempt ended as recorded
