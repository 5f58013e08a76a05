"""`triggerd status` against a running daemon, and the CLI while a config file is broken: a real
daemon process, a real folder, the commands as separate processes."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, cli, runs_json
from triggerd import __version__

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parent / "scripts" / "record.py"
BROKEN = "schedules:\n  - name: hourly\n    pipeline: [\n"


def make_site(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A config directory of two files (a datastore whose path is relative to its file), the
    watched folder; returns (config, folder, state)."""
    config = tmp_path / "site" / "config"
    config.mkdir(parents=True)
    folder = tmp_path / "site" / "data" / "incoming"
    folder.mkdir(parents=True)
    out = tmp_path / "record.jsonl"
    argv = [sys.executable, str(SCRIPT), str(out), "0", "{input_file}"]
    (config / "inbox.yaml").write_text(
        f"""
datastores:
  inbox: {{kind: local, path: ../data}}
pipelines:
  record: {{kind: command, argv: {json.dumps(argv)}, cwd: "."}}
schedules:
  - name: new-files
    pipeline: record
    datastore: inbox
    path_on_datastore: incoming
    polling_interval: 1s
    data_path_parameter_name: input_file
""",
        encoding="utf-8",
    )
    (config / "other.yaml").write_text(
        """
schedules:
  - name: hourly
    pipeline: record
    recurrence: {frequency: Hour, interval: 1, time_zone: Pacific Standard Time,
                 start_time: "2024-01-01T00:00:00"}
    pipeline_parameters: {input_file: none}
""",
        encoding="utf-8",
    )
    return config, folder, tmp_path / "state"


def status(config: Path, state: Path) -> tuple[int, dict[str, Any]]:
    result = cli("status", "--json", state_dir=state, config=config)
    return result.returncode, json.loads(result.stdout)


def only_daemon(config: Path, state: Path) -> dict[str, Any]:
    code, shown = status(config, state)
    assert code == 0, shown
    [daemon] = shown["daemons"]
    return daemon  # type: ignore[no-any-return]


def test_status_shows_the_daemon_its_lease_and_its_config_against_the_disk(
    tmp_path: Path,
) -> None:
    config, _, state = make_site(tmp_path)
    daemon = DaemonProcess(config, state)
    try:
        started = daemon.wait_event("daemon.started")
        daemon.wait_event("poll.completed", baseline=True)
        code, shown = status(config, state)
        assert code == 0, shown
        [me] = shown["daemons"]
        assert (me["id"], me["pid"], me["version"]) == (
            started["instance"],
            daemon.proc.pid,
            __version__,
        )
        assert (me["healthy"], me["stopped"]) == (True, False)
        assert [lease["name"] for lease in me["leases"]] == ["poll:new-files"]
        assert me["config"]["digest"] == shown["disk"]["digest"]
        assert me["config"]["disk"] == "same"
        assert [f["path"] for f in me["config"]["files"]] == [
            str(config / "inbox.yaml"),
            str(config / "other.yaml"),
        ]
        assert me["reload"] is None

        (config / "other.yaml").write_text(BROKEN, encoding="utf-8")
        me = only_daemon(config, state)  # read and hashed, not validated
        assert (me["config"]["disk"], me["config"]["changed"]) == (
            "differs",
            [str(config / "other.yaml")],
        )
        daemon.wait_event("config.reload_failed", file=str(config / "other.yaml"))  # the watch
        refusals = len(daemon.named("config.reload_failed"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(
            lambda: len(daemon.named("config.reload_failed")) > refusals, what="the SIGHUP reload"
        )
        me = daemon.wait_for(
            lambda: (d := only_daemon(config, state))["reload"] and d, what="the reload recorded"
        )
        assert me["reload"]["result"] == "refused"
        [problem] = me["reload"]["problems"]
        assert problem.startswith(f"{config / 'other.yaml'}:4: ")
        assert me["config"]["disk"] == "differs"  # it still runs on what it loaded at start

        (config / "other.yaml").write_text("schedules: []\n", encoding="utf-8")
        daemon.wait_event("config.reloaded", removed=["hourly"])
        me = daemon.wait_for(
            lambda: (d := only_daemon(config, state))["config"]["disk"] == "same" and d,
            what="the accepted reload recorded",
        )
        # (a second watch event of the same save may have found it unchanged since)
        assert me["reload"]["result"] in ("ok", "unchanged")
        unchanged = len(daemon.named("config.unchanged"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(
            lambda: len(daemon.named("config.unchanged")) > unchanged, what="config.unchanged"
        )
        me = only_daemon(config, state)
        assert (me["reload"]["result"], me["reload"]["problems"]) == ("unchanged", [])
        assert not daemon.named("config.record_failed")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    code, shown = status(config, state)
    assert code == 1
    [me] = shown["daemons"]
    assert (me["healthy"], me["stopped"]) == (False, True)


def test_with_a_broken_file_the_cli_works_from_the_recorded_config(tmp_path: Path) -> None:
    config, folder, state = make_site(tmp_path)
    daemon = DaemonProcess(config, state)
    try:
        daemon.wait_event("poll.completed", baseline=True)
        daemon.wait_event("watch.started", watching="config")  # else the edit goes unseen
        (config / "other.yaml").write_text(BROKEN, encoding="utf-8")
        daemon.wait_event("config.reload_failed", file=str(config / "other.yaml"))

        listed = cli("schedules", "list", "--json", state_dir=state, config=config)
        assert listed.returncode == 0, listed.stderr
        assert sorted(item["name"] for item in json.loads(listed.stdout)) == [
            "hourly",
            "new-files",
        ]
        warned(listed.stderr, config)

        disabled = cli(
            "schedules", "disable", "new-files", "--note", "INC-42", state_dir=state, config=config
        )
        assert disabled.returncode == 0, disabled.stderr
        warned(disabled.stderr, config)

        (folder / "late.csv").write_text("a,b\n", encoding="utf-8")
        os.utime(folder / "late.csv", (1_700_000_000, 1_700_000_000))
        [run] = daemon.wait_for(
            lambda: [r for r in runs_json(state, config) if r["schedule"] == "new-files"],
            what="the new file's run",
        )
        assert (run["status"], run["reason"]) == ("skipped", "schedule disabled")
        assert run["data_path"]["relative_path"] == "incoming/late.csv"

        validated = cli("validate", state_dir=state, config=config)
        assert validated.returncode == 1
        assert f"{config / 'other.yaml'}:4: " in validated.stderr
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()


def warned(stderr: str, config: Path) -> None:
    lines = stderr.splitlines()
    assert lines and all(line.startswith("warning: ") for line in lines), stderr
    assert lines[0].startswith(f"warning: {config / 'other.yaml'}:4: ")
    assert "using the last valid config the daemon recorded at " in lines[-1]
