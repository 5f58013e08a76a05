"""Several `triggerd run` replicas on one PostgreSQL database, for the multi-replica tests.

One config (a watched local folder and a minute schedule, both running ``record.py``), one state
directory per replica, the database given with ``--database`` (the harness drops
``TRIGGERD_DATABASE_URL`` from the environment). The store is also opened from the test process
to look at runs, claims and leases without spawning a CLI each time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tests.support import postgres
from tests.support.daemon import DaemonProcess, cli, runs_json
from tests.support.inbox import SCRIPT
from triggerd.runs import RunRecord
from triggerd.store import Store, open_store, queries

FILES = "new-files"  # the datastore schedule
MINUTE = "every-minute"  # the time schedule (Minute/1, no start_time)


class Replicas:
    def __init__(self, tmp_path: Path, database: str, *, sleep: float) -> None:
        self.tmp = tmp_path
        self.database = database
        self.root = tmp_path / "store"
        self.folder = self.root / "incoming"
        self.folder.mkdir(parents=True)
        self.out = tmp_path / "record.jsonl"
        self.config = tmp_path / "config.yaml"
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.daemons: list[DaemonProcess] = []
        self._mtime = 1_700_000_000 * 10**9
        record = [sys.executable, str(SCRIPT), str(self.out), str(sleep)]
        self.config.write_text(
            f"""
datastores:
  inbox: {{kind: local, path: {json.dumps(str(self.root))}}}
pipelines:
  record-file:
    kind: command
    argv: {json.dumps([*record, "{input_file}"])}
    cwd: {json.dumps(str(self.work))}
  record-tick:
    kind: command
    argv: {json.dumps([*record, "tick"])}
    cwd: {json.dumps(str(self.work))}
schedules:
  - name: {FILES}
    pipeline: record-file
    datastore: inbox
    path_on_datastore: incoming
    polling_interval: 1s
    data_path_parameter_name: input_file
  - name: {MINUTE}
    pipeline: record-tick
    recurrence: {{frequency: Minute, interval: 1}}
""",
            encoding="utf-8",
        )
        # Migrate once, up front: replicas started at the same moment on an EMPTY database race
        # in the migrations (reported; not what these tests are about).
        self.store: Store = open_store(database)

    # -- the replicas ----------------------------------------------------------------------------

    def start(self, count: int) -> list[DaemonProcess]:
        for _ in range(count):
            state = self.tmp / f"state-{len(self.daemons)}"
            self.daemons.append(
                DaemonProcess(
                    self.config,
                    state,
                    "--database",
                    self.database,
                    env={"TRIGGERD_HEARTBEAT_INTERVAL": "1s"},
                )
            )
        return self.daemons[-count:]

    def by_instance(self, instance: str) -> DaemonProcess:
        pid = int(instance.split(":")[1])
        [daemon] = [d for d in self.daemons if d.proc.pid == pid]
        return daemon

    def instance_of(self, daemon: DaemonProcess) -> str:
        started = daemon.wait_event("daemon.started")
        return str(started["instance"])

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.kill()
        self.store.close()

    def stop_all(self, daemons: list[DaemonProcess]) -> None:
        for daemon in daemons:
            daemon.signal(signal.SIGTERM)
        for daemon in daemons:
            assert daemon.wait(timeout=60) == 0, daemon.log_text()

    # -- files and results -----------------------------------------------------------------------

    def write(self, name: str, text: str) -> None:
        """Write a file with a new mtime (no sleeping for the clock to move)."""
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        self._mtime += 10**9
        os.utime(path, ns=(self._mtime, self._mtime))

    def runs(self) -> list[RunRecord]:
        return self.store.read(queries.list_runs, limit=None)

    def runs_json(self) -> list[dict[str, Any]]:
        """What `triggerd runs list --json` says (the documented contract)."""
        return runs_json(self.tmp / "state-cli", self.config, "--database", self.database)

    def cli(self, *args: str) -> str:
        result = cli(
            *args, "--database", self.database, state_dir=self.tmp / "state-cli", config=self.config
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = self.out.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def finished_paths(self) -> list[str]:
        """Data paths of the file runs whose command ran to the end (repeats included)."""
        return [
            r["env"]["TRIGGERD_DATA_PATH"]
            for r in self.records()
            if r["phase"] == "finished" and "TRIGGERD_DATA_PATH" in r["env"]
        ]


def wait_until(predicate: Any, *, timeout: float, what: str, step: float = 0.2) -> Any:
    """Poll ``predicate`` (bounded) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


# -- stopping and starting a test PostgreSQL server in place (same port, same data) --------------


def _pg_ctl(server: postgres.PostgresServer, *args: str) -> None:
    server._run([str(postgres.PG_BIN / "pg_ctl"), "-D", str(server.root / "data"), *args])


def pg_stop(server: postgres.PostgresServer) -> None:
    """Stop the server (fast: clients are disconnected at once), keeping its data directory."""
    _pg_ctl(server, "-m", "fast", "-w", "-t", "30", "stop")


def pg_start(server: postgres.PostgresServer) -> None:
    """Start a stopped server again on the same port and data directory."""
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={server.port} "
        f"-c unix_socket_directories={server.root} -c fsync=off -c full_page_writes=off"
    )
    _pg_ctl(server, "-o", options, "-l", str(server.root / "server.log"), "-w", "-t", "60", "start")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", server.port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not listen again within 30 s")
