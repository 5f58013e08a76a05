"""A real daemon fires a `* * * * *` cron schedule's command pipeline (issue 14, item 3).

The daemon's wall clock is moved (tests/support/clockshift.py) so that it starts a few seconds
before a whole minute: the minute comes quickly, and the test sees that nothing fires when the
daemon first sees the schedule (a cron has no "first run at once"), that the slot fires at the
minute, once, and that the command ran with the slot's fire key.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.clockshift import ShiftedClock
from tests.support.daemon import DaemonProcess, cli, runs_json

pytestmark = pytest.mark.e2e

CONFIG = """
pipelines:
  record:
    kind: command
    argv: [{python}, -c, "{script}", {out}]
schedules:
  - name: every-minute
    pipeline: record
    cron: {{expression: "* * * * *", time_zone: Europe/Berlin}}
"""
# Appends the run's fire key to the file named by its argument.
SCRIPT = "import os, sys; open(sys.argv[1], 'a').write(os.environ['TRIGGERD_FIRE_KEY'] + chr(10))"
LEAD = 5.0  # seconds of the daemon's wall clock before the minute when it starts


def test_a_cron_schedule_fires_its_command_at_the_minute(tmp_path: Path) -> None:
    out = tmp_path / "fired.txt"
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(python=json.dumps(sys.executable), script=SCRIPT, out=json.dumps(str(out))),
        encoding="utf-8",
    )
    state = tmp_path / "state"
    clock = ShiftedClock(tmp_path)
    # The daemon's clock reads LEAD seconds before the next whole minute.
    clock.set((60 - LEAD) - time.time() % 60)
    daemon = DaemonProcess(config, state, env=clock.env)
    try:
        loaded = daemon.wait_event("schedule.loaded", schedule="every-minute")
        assert loaded["trigger"] == "cron"
        assert datetime.fromisoformat(loaded["next_fire"]).second == 0

        planned = daemon.wait_for(
            lambda: daemon.named("fire.planned"), timeout=LEAD + 70, what="the minute's fire"
        )
        slot = datetime.fromisoformat(planned[0]["scheduled_for"])
        assert (slot.second, slot.microsecond) == (0, 0)
        assert slot.utcoffset() is not None
        # Nothing fired when the daemon first saw the schedule: the first fire is the minute.
        assert slot > datetime.fromisoformat(loaded["timestamp"])

        daemon.wait_event("run.succeeded", timeout=30)
        lines = daemon.wait_for(
            lambda: out.exists() and out.read_text(encoding="utf-8").splitlines(),
            timeout=10,
            what="the command's output file",
        )
        assert lines == [planned[0]["fire_key"]]
    finally:
        daemon.kill()

    runs = runs_json(state, config)
    assert [(r["schedule"], r["trigger"], r["status"]) for r in runs[-1:]] == [
        ("every-minute", "time", "succeeded")
    ]
    first = min(runs, key=lambda r: r["scheduled_for"])
    assert first["fire_key"] == planned[0]["fire_key"]
    assert len({r["fire_key"] for r in runs}) == len(runs)  # never a slot twice

    described = cli("schedules", "describe", "every-minute", state_dir=state, config=config)
    assert described.returncode == 0, described.stderr
    assert "cron '* * * * *': every minute (Europe/Berlin)" in described.stdout
