"""Faults the daemon rides out without a word from the operator: a frozen process (SIGSTOP, a
paused VM) and a flood of connections on its HTTP port."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import socket
import sys
import threading
import time
from datetime import datetime
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
  - name: on-the-minute
    pipeline: noop
    recurrence:
      frequency: Minute
      interval: 1
      start_time: "2024-03-31T01:00:00"
      time_zone: W. Europe Standard Time
  - name: inbox
    pipeline: noop
    datastore: inbox
    polling_interval: 1s
"""


def write_config(tmp_path: Path) -> tuple[Path, Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(inbox=json.dumps(str(inbox)), python=json.dumps(sys.executable)),
        encoding="utf-8",
    )
    return config, inbox


def test_a_frozen_daemon_fires_the_slot_it_slept_through_once_when_it_thaws(
    tmp_path: Path,
) -> None:
    config, inbox = write_config(tmp_path)
    clock = ShiftedClock(tmp_path)
    now = time.time()
    slot = math.ceil(now / 60) * 60 + 60  # a minute boundary; the daemon starts 8 s before it
    clock.set(slot - 8 - now)
    daemon = DaemonProcess(config, tmp_path / "state", env=clock.env)
    try:
        url = daemon.wait_event("http.listening")["url"]
        daemon.wait_event("poll.completed")
        time.sleep(max(0.0, slot - 4 - (time.time() + clock.offset)))
        daemon.signal(signal.SIGSTOP)  # frozen across the slot, as a paused VM or cgroup
        (inbox / "while-frozen.csv").write_text("x")
        time.sleep(8)
        daemon.signal(signal.SIGCONT)
        fired = daemon.wait_event("fire.planned", schedule="on-the-minute", timeout=10)
        assert datetime.fromisoformat(fired["scheduled_for"]).timestamp() == slot
        daemon.wait_event("fire.planned", schedule="inbox", timeout=10)
        daemon.wait_for(lambda: probe(f"{url}/healthz")[0] == 200, 5, what="healthy again")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        daemon.kill()
    assert daemon.named("clock.stepped") == []  # frozen is not a step: both clocks ran on
    slots = [e for e in daemon.named("fire.planned") if e["schedule"] == "on-the-minute"]
    assert len(slots) == 1  # late by the freeze, fired once, nothing skipped
    assert not [e for e in daemon.named("fire.skipped") if e["schedule"] == "on-the-minute"]


def test_a_flood_of_connections_neither_stops_the_firing_nor_grows_the_threads(
    tmp_path: Path,
) -> None:
    config, inbox = write_config(tmp_path)
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state)
    idle: list[socket.socket] = []
    stop = threading.Event()
    try:
        url = daemon.wait_event("http.listening")["url"]
        host, port = url.removeprefix("http://").rsplit(":", 1)
        daemon.wait_event("poll.completed")
        before = threads_of(daemon.proc.pid)

        def hammer() -> None:  # requests as fast as they are answered, or refused
            while not stop.is_set():
                probe(f"{url}/readyz", timeout=2)
                probe(f"{url}/metrics", timeout=2)

        workers = [threading.Thread(target=hammer, daemon=True) for _ in range(16)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 20
        while len(idle) < 300 and time.monotonic() < deadline:  # connections that send nothing:
            with contextlib.suppress(OSError):  # each would hold a thread for 10 s
                idle.append(socket.create_connection((host, int(port)), timeout=1))
        peak = 0
        for i in range(20):
            (inbox / f"f{i}.csv").write_text("x")
            peak = max(peak, threads_of(daemon.proc.pid))
            time.sleep(0.25)
        daemon.wait_for(
            lambda: len([e for e in daemon.named("fire.planned") if e["schedule"] == "inbox"])
            == 20,
            30, what="every file fired during the flood",
        )  # fmt: skip
        assert peak <= before + 32 + 8  # the connection cap, and the runs' own threads
        stop.set()
        for sock in idle:
            sock.close()
        for worker in workers:
            worker.join(10)
        daemon.wait_for(lambda: probe(f"{url}/healthz")[0] == 200, 10, what="probes again")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        stop.set()
        for sock in idle:
            sock.close()
        daemon.kill()
    files = [r for r in runs_json(state, config) if r["schedule"] == "inbox"]
    assert len(files) == 20 and {r["status"] for r in files} == {"succeeded"}


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads: line")
