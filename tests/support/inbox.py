"""A watched local folder for process tests: config, file writes without sleeping, results."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from tests.support.daemon import DaemonProcess

SCRIPT = Path(__file__).resolve().parents[1] / "e2e" / "scripts" / "record.py"
HOSTILE_NAME = "x; touch PWNED; $(touch P2).csv"


class Inbox:
    def __init__(self, tmp_path: Path, *, sleep: float = 0, options: str = "") -> None:
        self.root = tmp_path / "store"
        self.folder = self.root / "incoming"
        self.folder.mkdir(parents=True)
        self.out = tmp_path / "record.jsonl"
        self.config = tmp_path / "config.yaml"
        self.state = tmp_path / "state"
        self.work = tmp_path / "work"
        self.work.mkdir()
        self._mtime = 1_700_000_000 * 10**9
        self.config.write_text(
            f"""
datastores:
  inbox: {{kind: local, path: {json.dumps(str(self.root))}}}
pipelines:
  record:
    kind: command
    argv: [{json.dumps(sys.executable)}, {json.dumps(str(SCRIPT))}, {json.dumps(str(self.out))},
           "{sleep}", "{{input_file}}"]
    cwd: {json.dumps(str(self.work))}
schedules:
  - name: new-files
    pipeline: record
    datastore: inbox
    path_on_datastore: incoming
    polling_interval: 1s
    data_path_parameter_name: input_file
{options}""",
            encoding="utf-8",
        )

    def write(self, name: str, text: str, *, append: bool = False) -> None:
        """Write a file and give it a new mtime (no sleeping for the clock to move)."""
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8") as handle:
            handle.write(text)
        self._mtime += 10**9
        os.utime(path, ns=(self._mtime, self._mtime))

    def fired(self) -> list[str]:
        """Relative paths of the runs that started, in order."""
        if not self.out.exists():
            return []
        lines = [json.loads(line) for line in self.out.read_text().splitlines()]
        return [line["env"]["TRIGGERD_DATA_PATH"] for line in lines if line["phase"] == "finished"]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def start(self) -> DaemonProcess:
        return DaemonProcess(self.config, self.state)


def polls(daemon: DaemonProcess) -> int:
    return len(daemon.named("poll.completed"))


def wait_polls(daemon: DaemonProcess, count: int) -> None:
    """Wait until ``count`` more polls have completed."""
    target = polls(daemon) + count
    daemon.wait_for(lambda: polls(daemon) >= target, timeout=30, what=f"{count} polls")


def stop(daemon: DaemonProcess) -> None:
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
