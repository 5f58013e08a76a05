"""The daemon as a process: it fires, survives SIGKILL without doubling a run, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, cli, read_records, runs_json

pytestmark = pytest.mark.e2e

HOSTILE = "x; rm -rf ~ $(touch pwned) `id` 'quoted' \"double\""
SCRIPT = Path(__file__).parent / "scripts" / "record.py"


def write_config(tmp_path: Path, *, sleep: float = 0.0) -> tuple[Path, Path]:
    out = tmp_path / "record.jsonl"
    config = tmp_path / "config"
    config.mkdir()
    (config / "triggerd.yaml").write_text(
        f"""
pipelines:
  record:
    kind: command
    argv: [{json.dumps(sys.executable)}, {json.dumps(str(SCRIPT))}, {json.dumps(str(out))},
           "{{sleep}}", --value, "{{value}}"]
    cwd: {json.dumps(str(tmp_path))}
schedules:
  - name: every-minute
    pipeline: record
    experiment_name: e2e
    recurrence:
      frequency: Minute
      interval: 1
      time_zone: W. Europe Standard Time
    pipeline_parameters:
      value: {json.dumps(HOSTILE)}
      sleep: {sleep}
""",
        encoding="utf-8",
    )
    return config, out


def test_fires_at_start_runs_the_command_and_stops_cleanly(tmp_path: Path) -> None:
    config, out = write_config(tmp_path)
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state)
    try:
        planned = daemon.wait_event("fire.planned", schedule="every-minute")
        succeeded = daemon.wait_event("run.succeeded", fire_key=planned["fire_key"])
        assert succeeded["run_id"] >= 1
        output = daemon.wait_event("run.output", fire_key=planned["fire_key"])
        assert output["channel"] == "stdout"
        assert output["line"] == "recorded 2 arguments"
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    assert daemon.named("daemon.stopped")
    [started, _finished] = read_records(out)
    assert started["argv"] == ["--value", HOSTILE]
    assert started["fire_key"] == planned["fire_key"]
    assert started["env"]["TRIGGERD_SCHEDULE"] == "every-minute"
    assert started["env"]["TRIGGERD_PARAM_VALUE"] == HOSTILE
    assert not (tmp_path / "pwned").exists()
    [run] = [r for r in runs_json(state, config) if r["fire_key"] == planned["fire_key"]]
    assert (run["status"], run["trigger"], run["attempts"]) == ("succeeded", "time", 1)
    assert run["parameters"]["value"] == HOSTILE


def test_sigkill_mid_run_and_restart_inside_the_slot_gives_one_run(tmp_path: Path) -> None:
    config, out = write_config(tmp_path, sleep=1.5)
    state = tmp_path / "state"
    first = DaemonProcess(config, state)
    try:
        planned = first.wait_event("fire.planned", schedule="every-minute")
        key = planned["fire_key"]
        first.wait_for(
            lambda: any(r["phase"] == "started" for r in read_records(out)), what="start"
        )
        first.proc.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()

    second = DaemonProcess(config, state)
    try:
        second.wait_event("run.recovered")
        second.wait_event("run.succeeded", fire_key=key, timeout=30)
        replanned = [e for e in second.named("fire.planned") if e["fire_key"] == key]
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
    finally:
        second.kill()
    assert replanned == []
    runs = runs_json(state, config, "--schedule", "every-minute")
    keys = [r["fire_key"] for r in runs]
    assert len(keys) == len(set(keys))
    [run] = [r for r in runs if r["fire_key"] == key]
    assert (run["status"], run["attempts"]) == ("succeeded", 2)
    # At-least-once for commands: the interrupted attempt and the re-run share the fire key.
    assert {r["fire_key"] for r in read_records(out) if r["phase"] == "started"} >= {key}


def test_a_second_daemon_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path)
    state = tmp_path / "state"
    first = DaemonProcess(config, state)
    try:
        first.wait_event("daemon.started")
        second = DaemonProcess(config, state)
        try:
            assert second.wait(timeout=60) == 1
            refused = second.wait_event("daemon.refused")
            assert "SQLite supports one daemon at a time" in refused["reason"]
        finally:
            second.kill()
        first.signal(signal.SIGINT)
        assert first.wait() == 0
    finally:
        first.kill()


def test_run_refuses_an_invalid_config_before_doing_anything(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "schedules:\n"
        "  - name: x\n"
        "    pipeline: nope\n"
        "    recurrence: {frequency: Daily, interval: 1}\n"
    )
    result = cli("run", state_dir=tmp_path / "state", config=config)
    assert result.returncode == 2
    assert (
        "Invalid value for frequency, only one of Minute, Hour, Day, Week, or Month accepted"
        in result.stderr
    )
    assert not (tmp_path / "state").exists()


def test_sigterm_hands_a_run_still_in_flight_back_after_the_grace(tmp_path: Path) -> None:
    config, out = write_config(tmp_path, sleep=60)
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state, env={"TRIGGERD_SHUTDOWN_GRACE": "1s"})
    try:
        planned = daemon.wait_event("fire.planned", schedule="every-minute")
        daemon.wait_for(lambda: read_records(out), what="the command to start")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    finally:
        daemon.kill()
    daemon.wait_event("daemon.draining", runs_in_flight=1)
    handed_back = daemon.wait_event("run.handed_back", fire_key=planned["fire_key"])
    assert handed_back["reason"] == "interrupted: daemon shutting down"
    [run] = [r for r in runs_json(state, config) if r["fire_key"] == planned["fire_key"]]
    assert run["status"] == "pending"  # submitted again at the next start
    assert [r["phase"] for r in read_records(out)] == ["started"]  # the command was stopped


def test_manual_fires_run_whether_or_not_the_daemon_runs(tmp_path: Path) -> None:
    config, out = write_config(tmp_path)
    state = tmp_path / "state"
    before = cli("schedules", "trigger", "every-minute", "--param", "value=offline",
                 state_dir=state, config=config)  # fmt: skip
    assert before.returncode == 0, before.stderr
    daemon = DaemonProcess(config, state)
    try:
        daemon.wait_event("run.succeeded", fire_key=daemon.wait_event(
            "run.started", trigger="manual")["fire_key"])  # fmt: skip
        during = cli("schedules", "trigger", "every-minute", "--param", "value=online",
                     state_dir=state, config=config)  # fmt: skip
        assert during.returncode == 0, during.stderr
        daemon.wait_for(
            lambda: sum(e.get("trigger") == "manual" for e in daemon.named("run.started")) == 2,
            what="the second manual run",
        )
        daemon.wait_for(lambda: len(daemon.named("run.succeeded")) >= 3, what="3 runs")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    manual = [r for r in runs_json(state, config) if r["trigger"] == "manual"]
    assert sorted(r["parameters"]["value"] for r in manual) == ["offline", "online"]
    assert {r["status"] for r in manual} == {"succeeded"}
    values = [r["argv"][-1] for r in read_records(out) if r["phase"] == "finished"]
    assert {"offline", "online"} <= set(values)
