"""Overrides reach a running daemon: `schedules enable` makes a schedule the config disables
fire, `schedules reset` returns it to its config's `status: Disabled` at its next slot.

The daemon runs with its wall clock shifted (tests/support/clockshift.c) so that each next
minute slot is two seconds away instead of up to a minute; the CLI runs on the real clock.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.clockshift import ShiftedClock
from tests.support.daemon import DaemonProcess, cli, runs_json

pytestmark = pytest.mark.e2e

CONFIG = """
pipelines:
  noop:
    kind: command
    argv: [{python}, -c, "pass"]
schedules:
  - name: paused
    pipeline: noop
    status: Disabled
    recurrence: {{frequency: Minute, interval: 1, time_zone: W. Europe Standard Time}}
"""


def decided(daemon: DaemonProcess) -> list[dict[str, Any]]:
    """The slots of `paused` the daemon decided, in order: fired or skipped."""
    return [
        e
        for e in daemon.events
        if e.get("event") in ("fire.planned", "fire.skipped") and e.get("schedule") == "paused"
    ]


def next_slot(daemon: DaemonProcess, clock: ShiftedClock, count: int) -> dict[str, Any]:
    """Step the daemon's clock to 2 s before the slot after the last one decided, and wait
    for that slot's decision (the ``count``-th)."""
    last = datetime.fromisoformat(decided(daemon)[-1]["scheduled_for"])
    upcoming = last + timedelta(minutes=1)
    clock.set(upcoming.timestamp() - 2 - time.time())
    daemon.wait_for(lambda: len(decided(daemon)) >= count, 20, what=f"slot {count}")
    event = decided(daemon)[count - 1]
    assert datetime.fromisoformat(event["scheduled_for"]) == upcoming
    return event


def test_enable_then_reset_reach_the_running_daemon(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(python=json.dumps(sys.executable)), encoding="utf-8")
    state = tmp_path / "state"
    clock = ShiftedClock(tmp_path)
    daemon = DaemonProcess(config, state, env=clock.env)
    try:
        first = daemon.wait_for(lambda: decided(daemon), what="the first slot")[0]
        assert (first["event"], first["reason"]) == ("fire.skipped", "schedule disabled")

        enabled = cli(
            "schedules", "enable", "paused", "--note", "INC-7", state_dir=state, config=config
        )
        assert enabled.returncode == 0, enabled.stderr
        fired = next_slot(daemon, clock, 2)
        assert fired["event"] == "fire.planned"
        daemon.wait_event("run.succeeded", fire_key=fired["fire_key"])

        reset = cli("schedules", "reset", "paused", state_dir=state, config=config)
        assert reset.returncode == 0, reset.stderr
        assert "status now Disabled, from the config" in reset.stdout
        for count in (3, 4):  # it stays off, slot after slot
            skipped = next_slot(daemon, clock, count)
            assert (skipped["event"], skipped["reason"]) == ("fire.skipped", "schedule disabled")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(60) == 0
    finally:
        daemon.kill()

    runs = runs_json(state, config, "--schedule", "paused")
    by_key = {r["fire_key"]: r for r in runs}
    assert by_key[fired["fire_key"]]["status"] == "succeeded"
    for event in (first, *decided(daemon)[2:4]):
        run = by_key[event["fire_key"]]
        assert (run["status"], run["reason"]) == ("skipped", "schedule disabled")
    assert len(runs) == 4
