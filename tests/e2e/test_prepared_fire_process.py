"""A slot's runs are written just before it and committed at it: a SIGKILL in between loses
and doubles nothing.

The planner opens the slot's transaction ``HOLD`` (50 ms) before the slot and holds SQLite's
write lock until its COMMIT at the slot. The test sees that lock from outside (a ``BEGIN
IMMEDIATE`` that is refused at once), kills the daemon right then, and starts it again: the
slot has exactly one run, recorded by the restart's catch-up (``catchup: latest``) or, if the
COMMIT won the race with the signal, by the killed daemon.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, runs_json

pytestmark = pytest.mark.e2e

CONFIG = """
pipelines:
  noop:
    kind: command
    argv: [{python}, "-c", "pass"]
schedules:
  - name: every-minute
    pipeline: noop
    recurrence:
      frequency: Minute
      interval: 1
      time_zone: W. Europe Standard Time
"""


def kill_inside_the_hold(daemon: DaemonProcess, database: Path, slot: datetime) -> bool:
    """Sleep to just before ``slot``, then try SQLite's write lock every ~0.5 ms; the moment it
    is refused (the planner holds it for the slot's transaction), SIGKILL. Returns whether the
    lock was seen held; gives up 0.2 s after the slot (and kills then). (The lock is looked for
    from 45 ms before the slot only, inside the hold: the daemon's other writes are rare.)"""
    time.sleep(max(0.0, (slot - datetime.now(UTC)).total_seconds() - 0.045))
    db = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        deadline = slot + timedelta(seconds=0.2)
        while datetime.now(UTC) < deadline:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    daemon.proc.send_signal(signal.SIGKILL)
                    return True
                raise
            db.execute("ROLLBACK")
            time.sleep(0.0005)
    finally:
        db.close()
    daemon.proc.send_signal(signal.SIGKILL)
    return False


def test_a_sigkill_between_the_write_and_the_commit_of_a_slot_gives_it_one_run(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "triggerd.yaml").write_text(
        CONFIG.format(python=json.dumps(sys.executable)), encoding="utf-8"
    )
    state = tmp_path / "state"
    first = DaemonProcess(config, state)
    try:
        started = first.wait_event("fire.planned", schedule="every-minute")  # first run: now
        first.wait_event("run.succeeded", fire_key=started["fire_key"])
        # The slots follow the first one (the start), a minute apart.
        slot = datetime.fromisoformat(started["scheduled_for"]) + timedelta(minutes=1)
        if (slot - datetime.now(UTC)).total_seconds() < 3:  # too close to be sure of the wait
            slot += timedelta(minutes=1)
        seen_held = kill_inside_the_hold(first, state / "triggerd.db", slot)
        first.wait()
    finally:
        first.kill()
    assert seen_held, "the slot's transaction was never seen holding the write lock before it"

    second = DaemonProcess(config, state)
    try:

        def slot_runs() -> list[dict[str, object]] | None:
            runs = [
                r
                for r in runs_json(state, config, "--schedule", "every-minute")
                if r["scheduled_for"] and datetime.fromisoformat(str(r["scheduled_for"])) == slot
            ]
            return runs if runs and all(r["status"] == "succeeded" for r in runs) else None

        runs = second.wait_for(slot_runs, timeout=60, what="the slot's run succeeded")
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
    finally:
        second.kill()
    assert len(runs) == 1, runs
    keys = [r["fire_key"] for r in runs_json(state, config, "--schedule", "every-minute")]
    assert len(keys) == len(set(keys))
