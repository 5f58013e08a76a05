"""The README's config snippet, pasted into a new folder as the README says, runs end to end.

The newcomer's steps (README.md, "A config file"): save the YAML as ``myconfig/triggerd.yaml``
beside a copy of ``config/jobs``, `validate` it, start the daemon, drop a file into
``data/inbox`` and trigger ``workday-morning`` by hand. Each pipeline of the snippet must then
have run to success. The daemon is started from the repository, not from the new folder: a
pipeline without ``cwd: "."`` would look for ``jobs/...`` there and fail.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, cli, runs_json
from tests.support.newcomer import try_it

pytestmark = pytest.mark.e2e


def finished(daemon: DaemonProcess, schedule: str) -> dict[str, Any]:
    """The first run of ``schedule`` that ended, succeeded or not (no waiting out a failure)."""

    def ended() -> dict[str, Any] | None:
        runs = [*daemon.named("run.succeeded"), *daemon.named("run.failed")]
        return next((e for e in runs if e.get("schedule") == schedule), None)

    event: dict[str, Any] = daemon.wait_for(ended, timeout=60, what=f"a run of {schedule}")
    assert event["event"] == "run.succeeded", daemon.log_text()
    return event


def test_the_readme_snippet_validates_runs_and_fires_for_a_new_file(tmp_path: Path) -> None:
    config = try_it(tmp_path)
    state = tmp_path / ".triggerd" / "myconfig"
    inbox = tmp_path / "data" / "inbox"

    validated = cli("validate", state_dir=state, config=config)
    assert validated.returncode == 0, validated.stderr

    daemon = DaemonProcess(config, state)
    try:
        daemon.wait_event("poll.completed", timeout=60, schedule="inbox-files", baseline=True)
        (inbox / "hello.txt").write_text("hi\n", encoding="utf-8")  # echo hi > data/inbox/...
        fired = finished(daemon, "inbox-files")

        trigger = cli("schedules", "trigger", "workday-morning", state_dir=state, config=config)
        assert trigger.returncode == 0, trigger.stderr
        hello = finished(daemon, "workday-morning")

        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.log_text()
    finally:
        daemon.kill()

    output = {
        (e["run_id"], e["line"]) for e in daemon.named("run.output") if e["channel"] == "stdout"
    }
    assert (fired["run_id"], "new file hello.txt (3 bytes) from inbox") in output
    assert (fired["run_id"], "  hi") in output
    assert (hello["run_id"], "hello.py called with ['--greeting', 'good morning']") in output

    runs = {r["id"]: r for r in runs_json(state, config)}
    assert runs[fired["run_id"]]["data_path"] == {
        "datastore": "inbox",
        "relative_path": "hello.txt",
    }
    assert runs[hello["run_id"]]["trigger"] == "manual"
    assert {r["status"] for r in runs.values()} == {"succeeded"}, runs
