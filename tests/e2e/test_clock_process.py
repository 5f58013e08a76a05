"""Wall-clock steps under a running daemon (issue 11, fault 1): the LD_PRELOAD shim in
tests/support/clockshift.c moves the daemon's wall clock only; its monotonic clock runs on."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.clockshift import ShiftedClock
from tests.support.daemon import DaemonProcess, probe, runs_json

pytestmark = pytest.mark.e2e

CONFIG = """
datastores:
  inbox: {{kind: local, path: {inbox}}}
pipelines:
  noop:
    kind: command
    argv: [{python}, -c, "pass"]
schedules:
  - name: minutely
    pipeline: noop
    recurrence: {{frequency: Minute, interval: 1, time_zone: W. Europe Standard Time}}
  - name: minutely-none
    pipeline: noop
    catchup: none
    recurrence: {{frequency: Minute, interval: 1, time_zone: Pacific Standard Time}}
  - name: inbox
    pipeline: noop
    datastore: inbox
    polling_interval: 1s
"""


def healthy_throughout(daemon: DaemonProcess, url: str, seconds: float) -> list[int]:
    """/healthz every half second for ``seconds`` of real time: the statuses seen."""
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and daemon.proc.poll() is None:
        seen.append(probe(f"{url}/healthz")[0])
        time.sleep(0.5)
    return seen


def planned(daemon: DaemonProcess, schedule: str) -> list[dict[str, object]]:
    return [e for e in daemon.named("fire.planned") if e.get("schedule") == schedule]


def test_steps_back_and_forward_keep_it_firing_once_per_slot_and_polling(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(inbox=json.dumps(str(inbox)), python=json.dumps(sys.executable)),
        encoding="utf-8",
    )
    state = tmp_path / "state"
    clock = ShiftedClock(tmp_path)
    daemon = DaemonProcess(config, state, env=clock.env)
    try:
        url = daemon.wait_event("http.listening")["url"]
        first = daemon.wait_for(lambda: planned(daemon, "minutely"), what="the first fire")[0]
        s0 = datetime.fromisoformat(first["scheduled_for"])
        time.sleep(max(0.0, s0.timestamp() + 8 - (time.time() + clock.offset)))

        # Back 25 s: the wall clock passes S0 again, which must not fire a second time.
        clock.step(-25)
        back = daemon.wait_event("clock.stepped", direction="backward")
        assert -27 < back["step_s"] < -23
        polls = len(daemon.named("poll.completed"))
        statuses = healthy_throughout(daemon, url, 19)
        assert statuses and set(statuses) == {200}, statuses
        assert len(daemon.named("poll.completed")) >= polls + 12  # ~1 s apart all along
        assert [e["fire_key"] for e in planned(daemon, "minutely")] == [first["fire_key"]]

        # Forward to 2 s before the next slot: S1 fires when the wall clock reaches it, live
        # (catchup: none makes up nothing, yet its S1 runs).
        s1 = s0 + timedelta(minutes=1)
        clock.set(s1.timestamp() - 2 - time.time())
        daemon.wait_event("clock.stepped", direction="forward")
        for name in ("minutely", "minutely-none"):
            daemon.wait_for(lambda n=name: len(planned(daemon, n)) == 2, 15, what=f"{name} S1")
            assert datetime.fromisoformat(planned(daemon, name)[1]["scheduled_for"]) == s1

        # Forward a day: the jumped-over slots get the catch-up policy, with their reasons.
        clock.step(86_400)
        day = daemon.wait_for(
            lambda: [e for e in daemon.named("clock.stepped") if e["step_s"] > 80_000],
            15, what="the day step",
        )[0]  # fmt: skip
        assert 86_390 < day["step_s"] < 86_410
        jumped_from, jumped_to = (datetime.fromisoformat(day[k]) for k in ("expected", "now"))
        daemon.wait_for(lambda: len(planned(daemon, "minutely")) == 3, 15, what="the catch-up")
        assert set(healthy_throughout(daemon, url, 3)) == {200}

        # And back a day: still healthy and polling, and nothing fires a second time.
        clock.step(-86_400)
        daemon.wait_for(
            lambda: [e for e in daemon.named("clock.stepped") if e["step_s"] < -80_000],
            15, what="the step back a day",
        )  # fmt: skip
        polls = len(daemon.named("poll.completed"))
        assert set(healthy_throughout(daemon, url, 3)) == {200}
        assert len(daemon.named("poll.completed")) >= polls + 2
        assert len(planned(daemon, "minutely")) == 3
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(60) == 0
    finally:
        daemon.kill()
    assert len(daemon.named("clock.stepped")) == 4  # each step logged once

    for name, fired in (("minutely", 1), ("minutely-none", 0)):
        runs = [
            r
            for r in runs_json(state, config, "--schedule", name, "--limit", "5000")
            if jumped_from < datetime.fromisoformat(r["scheduled_for"]) <= jumped_to
        ]
        assert 1438 <= len(runs) <= 1441  # a day of minutes, each decided once
        assert sum(r["status"] != "skipped" for r in runs) == fired
        newest = max(runs, key=lambda r: r["scheduled_for"])
        if fired:
            assert newest["status"] != "skipped"  # catchup: latest makes up the newest slot
        else:
            assert newest["reason"] == "missed: the daemon was not running (catchup: none)"
        assert all(r["reason"].startswith("missed:") for r in runs if r["status"] == "skipped")
