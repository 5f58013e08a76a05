"""The daemon and its SQLite file (issue 11, fault 5): a database deleted under the daemon, and a
disk that fills up under it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, cli, probe, read_records, runs_json

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parent / "scripts" / "record.py"
FAST = {"TRIGGERD_HEARTBEAT_INTERVAL": "1s"}


def write_config(tmp_path: Path, sleep: float = 0.0) -> tuple[Path, Path, Path]:
    inbox, out = tmp_path / "inbox", tmp_path / "record.jsonl"
    inbox.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
datastores:
  inbox: {{kind: local, path: {json.dumps(str(inbox))}}}
pipelines:
  record:
    kind: command
    argv: [{json.dumps(sys.executable)}, {json.dumps(str(SCRIPT))}, {json.dumps(str(out))},
           "{sleep}", "{{file}}"]
schedules:
  - name: files
    pipeline: record
    datastore: inbox
    polling_interval: 1s
    data_path_parameter_name: file
""",
        encoding="utf-8",
    )
    return config, inbox, out


@pytest.mark.parametrize("removed", ["files", "folder"])
def test_a_database_deleted_under_the_daemon_stops_it_and_reads_create_none(
    tmp_path: Path, removed: str
) -> None:
    config, inbox, _ = write_config(tmp_path, sleep=3.0)
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state, env=FAST)
    try:
        url = daemon.wait_event("http.listening")["url"]
        daemon.wait_event("poll.completed")
        (inbox / "a.csv").write_text("a")
        daemon.wait_event("run.started")  # a run in flight: the drain takes a moment
        if removed == "files":
            for path in state.glob("triggerd.db*"):
                path.unlink()
            what = f"the database file {state / 'triggerd.db'} was deleted"
        else:
            shutil.rmtree(state)
            what = f"its directory {state} was deleted"
        lost = daemon.wait_event("store.lost", timeout=10)
        assert lost["reason"] == what
        health = daemon.wait_for(lambda: probe(f"{url}/healthz")[0] != 200, 5, what="unhealthy")
        assert health
        assert probe(f"{url}/healthz") in ((503, f"unhealthy: database lost: {what}\n"), (0, ""))
        assert daemon.wait(30) == 1  # the service manager starts it again
    finally:
        daemon.kill()
    assert probe(f"{url}/readyz")[0] == 0  # gone
    listed = cli("runs", "list", state_dir=state, config=config)
    assert listed.returncode == 1
    assert f"no triggerd database at {state / 'triggerd.db'}" in listed.stderr
    assert not (state / "triggerd.db").exists()


@contextlib.contextmanager
def tiny_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):  # down to what is left in the last block
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_makes_the_daemon_not_ready_and_loses_no_file(tmp_path: Path) -> None:
    config, inbox, out = write_config(tmp_path)
    with tiny_disk(tmp_path / "disk") as disk:
        state = disk / "state"
        daemon = DaemonProcess(config, state, env=FAST)
        try:
            url = daemon.wait_event("http.listening")["url"]
            daemon.wait_for(lambda: probe(f"{url}/readyz")[0] == 200, what="ready")
            filler = fill(disk)
            (inbox / "during.csv").write_text("written while the disk is full")
            not_ready = daemon.wait_for(
                lambda: (lambda p: p if p[0] == 503 else None)(probe(f"{url}/readyz")),
                15, what="not ready",
            )  # fmt: skip
            assert not_ready[1].startswith("not ready: database writes failing: ")
            assert "full" in not_ready[1]
            assert probe(f"{url}/healthz")[0] == 200  # alive: a restart would not help
            time.sleep(2)
            assert not [r for r in read_records(out) if r["argv"][-1].endswith("during.csv")]
            filler.unlink()
            daemon.wait_for(lambda: probe(f"{url}/readyz")[0] == 200, 15, what="ready again")
            daemon.wait_for(
                lambda: [r for r in read_records(out) if r["phase"] == "finished"], 20,
                what="the file written while the disk was full to run",
            )  # fmt: skip
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(30) == 0
        finally:
            daemon.kill()
        runs = runs_json(state, config)
    assert [r["data_path"]["relative_path"] for r in runs] == ["during.csv"]
    assert [r["status"] for r in runs] == ["succeeded"]
