"""An Azure ML v2 schedule file drives a command pipeline in a real daemon, up to its end_time.

The file is a v2 ``JobSchedule`` as ``az ml schedule create`` takes it (plus the
``triggerd.pipeline`` tag): a minute recurrence whose ``start_time`` carries an offset (+05:30)
and whose ``end_time`` is two minutes later (in UTC, ``Z``). The daemon runs with its wall clock
shifted (tests/support/clockshift.c) so that each slot is two seconds away: both slots fire and
their runs succeed, the slot after end_time never fires, and `schedules list` (on the same
shifted clock) then shows the schedule as ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support.clockshift import ShiftedClock
from tests.support.daemon import REPO, DaemonProcess

pytestmark = pytest.mark.e2e

PIPELINES = """\
pipelines:
  record:
    kind: command
    argv: [{python}, -c, "import os, sys; open(sys.argv[1], 'a').write(os.environ['TRIGGERD_SCHEDULED_FOR'] + chr(10))", {out}]
"""  # noqa: E501

V2_FILE = """\
$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json
name: every_minute_for_two
display_name: Every minute, for two minutes
description: a v2 recurrence with an offset in start_time and an end_time
tags: {{triggerd.pipeline: record}}
trigger:
  type: recurrence
  frequency: minute
  interval: 1
  start_time: "{start}"
  end_time: "{end}"
  time_zone: W. Europe Standard Time
create_job: azureml:simple-pipeline-job:1
"""


def planned(daemon: DaemonProcess) -> list[dict[str, Any]]:
    return [
        e
        for e in daemon.events
        if e.get("event") == "fire.planned" and e.get("schedule") == "every_minute_for_two"
    ]


def shifted_cli(clock: ShiftedClock, config: Path, state: Path, *args: str) -> Any:
    """A `triggerd` command on the daemon's (shifted) clock; its JSON output."""
    env = {**os.environ, **clock.env, "PYTHONUNBUFFERED": "1"}
    env.pop("TRIGGERD_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "triggerd", *args, "--config", str(config),
         "--state-dir", str(state)],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_v2_schedule_file_runs_its_pipeline_until_end_time(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    out = tmp_path / "fired.txt"
    (config / "pipelines.yaml").write_text(
        PIPELINES.format(python=json.dumps(sys.executable), out=json.dumps(str(out))),
        encoding="utf-8",
    )
    start = datetime.fromtimestamp(int(time.time()) - 30, UTC)  # the first slot: start + 1 min
    end = start + timedelta(minutes=2)
    india = timezone(timedelta(hours=5, minutes=30))
    (config / "every-minute.yml").write_text(
        V2_FILE.format(
            start=start.astimezone(india).isoformat(),
            end=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
        encoding="utf-8",
    )
    state = tmp_path / "state"
    clock = ShiftedClock(tmp_path)
    daemon = DaemonProcess(config, state, env=clock.env)
    try:
        daemon.wait_event("daemon.started", timeout=60)
        for count, minutes in ((1, 1), (2, 2)):
            slot = start + timedelta(minutes=minutes)
            clock.set(slot.timestamp() - 2 - time.time())
            daemon.wait_for(lambda: len(planned(daemon)) >= count, 30, what=f"slot {count}")  # noqa: B023
            event = planned(daemon)[count - 1]
            assert datetime.fromisoformat(event["scheduled_for"]) == slot
            daemon.wait_event("run.succeeded", fire_key=event["fire_key"])
        # The next slot would be a minute after end_time: step past it, and nothing fires.
        clock.set((start + timedelta(minutes=3)).timestamp() + 3 - time.time())
        daemon.wait_for(lambda: len(daemon.named("clock.stepped")) >= 3, 30, what="the step")
        time.sleep(3)  # the slot after end_time is 3 s past: it would have been planned by now
        assert len(planned(daemon)) == 2
        [listed] = shifted_cli(clock, config, state, "schedules", "list", "--json")
        assert (listed["status"], listed["ended"], listed["next_fire"]) == ("Active", True, None)
        assert listed["pipeline"] == "record"
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(60) == 0
    finally:
        daemon.kill()

    berlin = [line for line in out.read_text(encoding="utf-8").splitlines() if line]
    assert [datetime.fromisoformat(t) for t in berlin] == [
        start + timedelta(minutes=1),
        start + timedelta(minutes=2),
    ]
