"""Replica burst: 10,000 files submitted end to end by 3 `triggerd run` replicas on PostgreSQL.

    .venv/bin/python -m bench.bench_replica_burst [--files 10000] [--replicas 3]

A throwaway PostgreSQL 15 server (``tests.support.postgres``, fsync off) holds one database that
every replica uses (``--database <url>``). A minimal HTTP server in its own process (the one of
``bench_http_burst``, plus a count per ``X-Replica`` header) answers every ``POST /runs`` with
200. Each replica is ``triggerd run`` as a process with the same config (one local datastore, an
``http`` pipeline to the server whose ``X-Replica`` header is read from an environment variable
set to ``r1``, ``r2``... per replica, one datastore schedule with ``polling_interval: "1s"``),
its own ``TRIGGERD_STATE_DIR``, ``TRIGGERD_HTTP_ADDRESS=127.0.0.1:0``,
``TRIGGERD_HEARTBEAT_INTERVAL=1s`` and ``--log-level WARNING``. Once the schedule's first poll is
in the database (``schedule_state.last_poll_at``), the files are created at once in the watched
folder, and the database is read every 0.5 s until ``count(*) WHERE status = 'submitted'``
reaches the file count. Measured: end-to-end time and runs/s (from the runs' own timestamps), the
server's requests and distinct Idempotency-Keys (both must equal N), the requests per replica
(the ``X-Replica`` header) and each replica's peak RSS (VmHWM). One repetition.

Every wait is bounded (10 minutes); the daemons, the HTTP server and PostgreSQL are stopped and
the temporary folders removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from bench.bench_http_burst import CountingServer, memory_mb, tail
from bench.common import REPO, end_on_sigterm, log, machine, make_files, table, temp_dir
from tests.support import postgres

WAIT_LIMIT = 600.0  # seconds: give up on any wait after 10 minutes
REPLICA_ENV = "TRIGGERD_BENCH_REPLICA"
T = TypeVar("T")


# -- helpers -----------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], T | None],
    what: str,
    procs: list[subprocess.Popen[bytes]],
    logs: list[Path],
    interval: float = 0.5,
) -> T:
    deadline = time.monotonic() + WAIT_LIMIT
    while True:
        value = predicate()
        if value is not None:
            return value
        for proc, logfile in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise SystemExit(
                    f"a daemon exited ({proc.returncode}) while waiting for {what}; its log:\n"
                    + tail(logfile)
                )
        if time.monotonic() > deadline:
            raise SystemExit(
                f"gave up after {WAIT_LIMIT / 60:.0f} minutes waiting for {what}; a log:\n"
                + tail(logs[0])
            )
        time.sleep(interval)


def stamp(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def write_config(directory: Path, root: Path, url: str) -> Path:
    path = directory / "config.yaml"
    config = {
        "datastores": {"store": {"kind": "local", "path": str(root)}},
        "pipelines": {
            "endpoint": {
                "kind": "http",
                "url": url,
                "headers": {"X-Replica": {"env": REPLICA_ENV}},
            }
        },
        "schedules": [
            {
                "name": "watch",
                "pipeline": "endpoint",
                "datastore": "store",
                "path_on_datastore": "incoming",
                "polling_interval": "1s",
            }
        ],
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def stop_daemons(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"  daemon {proc.pid} did not stop within 60 s of SIGTERM: killed")
            proc.kill()
            proc.wait(timeout=30)


# -- the measurement ---------------------------------------------------------------------------


def measure(tmp: Path, url: str, server: CountingServer, files: int, replicas: int) -> dict:
    root = tmp / "store"
    (root / "incoming").mkdir(parents=True)
    config = write_config(tmp, root, server.url)
    engine = sa.create_engine(url, pool_pre_ping=True)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    names = [f"r{i + 1}" for i in range(replicas)]
    try:
        for name in names:
            env = dict(os.environ)
            env.pop("TRIGGERD_DATABASE_URL", None)
            env.update(
                {
                    REPLICA_ENV: name,
                    "TRIGGERD_STATE_DIR": str(tmp / f"state-{name}"),
                    "TRIGGERD_HTTP_ADDRESS": "127.0.0.1:0",
                    "TRIGGERD_HEARTBEAT_INTERVAL": "1s",
                }
            )
            logfile = tmp / f"daemon-{name}.log"
            logs.append(logfile)
            with logfile.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "triggerd",
                            "run",
                            "--config",
                            str(config),
                            "--database",
                            url,
                            "--log-format",
                            "json",
                            "--log-level",
                            "WARNING",
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=REPO,
                        env=env,
                    )
                )

        def scalar(sql: str) -> Any:
            try:
                with engine.connect() as conn:
                    return conn.execute(sa.text(sql)).scalar()
            except sa.exc.SQLAlchemyError:
                return None  # tables not created yet

        def first_poll() -> bool | None:
            value = scalar("SELECT last_poll_at FROM schedule_state WHERE name = 'watch'")
            return True if value is not None else None

        wait_until(first_poll, "the first poll", procs, logs, interval=0.1)
        time.sleep(2)  # every replica up (heartbeats every 1 s)
        written_from = time.time()
        make_files(root / "incoming", files)
        written = time.time()

        def all_submitted() -> int | None:
            done = scalar("SELECT count(*) FROM runs WHERE status = 'submitted'") or 0
            return done if done >= files else None

        wait_until(all_submitted, f"{files} submitted runs", procs, logs, interval=0.5)
        hwm = [memory_mb(proc.pid)["VmHWM"] for proc in procs]
        counted = server.counts()
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT min(created_at), max(created_at), min(finished_at), "
                    "max(finished_at), count(*), sum(attempts) FROM runs "
                    "WHERE status = 'submitted'"
                )
            ).one()
            statuses = dict(
                conn.execute(sa.text("SELECT status, count(*) FROM runs GROUP BY status")).all()
            )
    finally:
        stop_daemons(procs)
        engine.dispose()
    created_first, created_last, first, last, count, attempts = row
    return {
        "write_s": written - written_from,
        "end_to_end_s": stamp(last) - written_from,
        "to_first_run_s": stamp(created_first) - written_from,
        "recording_s": stamp(created_last) - stamp(created_first),
        "to_first_submit_s": stamp(first) - written_from,
        "submit_s": stamp(last) - stamp(first),
        "rate": (count - 1) / (stamp(last) - stamp(first)),
        "requests": counted["requests"],
        "keys": counted["keys"],
        "other": counted["other"],
        "per_replica": {name: counted["replicas"].get(name, 0) for name in names},
        "unknown_replica": sum(v for k, v in counted["replicas"].items() if k not in names),
        "submitted": count,
        "attempts": int(attempts),
        "not_submitted": sum(n for status, n in statuses.items() if status != "submitted"),
        "hwm": dict(zip(names, hwm, strict=True)),
    }


def main() -> None:
    end_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    reason = postgres.available()
    if reason:
        raise SystemExit(f"cannot start PostgreSQL: {reason}")

    started = time.monotonic()
    log("starting PostgreSQL and the HTTP server ...")
    pg = postgres.start()
    server: CountingServer | None = None
    try:
        url = pg.create_database("bench_replicas")
        server = CountingServer().start()
        log(f"{args.replicas} replicas, {args.files:,} files ...")
        with temp_dir("triggerd-bench-replicas-") as tmp:
            r = measure(tmp, url, server, args.files, args.replicas)
    finally:
        if server is not None:
            server.stop()
        pg.stop()
    log(f"total {time.monotonic() - started:.0f} s")

    n = args.files
    per = r["per_replica"]
    print(f"## Replica burst: {n:,} files across {args.replicas} replicas (PostgreSQL)\n")
    print(f"Machine: {machine()}. 1 repetition; MB = 10^6 bytes; seconds from the first file.\n")
    print(
        table(
            [
                "replicas",
                "runs/s (first -> last submitted)",
                "end to end: last run submitted, s",
                "files created, s",
                "first run recorded, s",
                "first run submitted, s",
                "first -> last run recorded, s",
                "server requests / distinct keys",
                "requests per replica",
                "runs not submitted",
                "peak RSS (VmHWM) per replica, MB",
            ],
            [
                [
                    str(args.replicas),
                    f"{r['rate']:.0f}",
                    f"{r['end_to_end_s']:.1f}",
                    f"{r['write_s']:.2f}",
                    f"{r['to_first_run_s']:.2f}",
                    f"{r['to_first_submit_s']:.2f}",
                    f"{r['recording_s']:.2f}",
                    f"{r['requests']:,} / {r['keys']:,}",
                    " / ".join(f"{k} {v:,}" for k, v in per.items()),
                    str(r["not_submitted"]),
                    " / ".join(f"{v:.1f}" for v in r["hwm"].values()),
                ]
            ],
        )
    )
    print()
    ok = (
        r["requests"] == n
        and r["keys"] == n
        and r["submitted"] == n
        and r["attempts"] == n
        and r["not_submitted"] == 0
        and r["other"] == 0
        and r["unknown_replica"] == 0
    )
    verdict = "none doubled or lost" if ok else "MISMATCH: see the counts above"
    print(
        f"{verdict} (server requests, distinct keys, submitted runs and attempts must all be "
        f"{n:,}; attempts {r['attempts']:,})."
    )


if __name__ == "__main__":
    main()
