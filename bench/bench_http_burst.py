"""HTTP burst: 10,000 files dropped at once, each submitted end to end to a local HTTP endpoint.

    .venv/bin/python -m bench.bench_http_burst [--files 10000] [--concurrency 4 16] [--reps 3]
        [--files 1000,10000,50000]  (a scaling table: one row per file count)
        [--baseline DIR]  (the daemon of another checkout, DIR, interleaved with this one's)

A minimal threaded HTTP server (``http.server.ThreadingHTTPServer`` on a free 127.0.0.1 port, in
this process) answers every ``POST /runs`` with 200 and ``{"id": "r<n>"}``, counting the requests
and the distinct ``Idempotency-Key`` headers. For each dispatcher concurrency (and repetition)
`triggerd run` starts as a process (``TRIGGERD_CONCURRENCY=<c>``, ``--log-level WARNING``, SQLite
in a fresh state directory) on a config with one local datastore, an ``http`` pipeline pointing at
the server and one datastore schedule (``polling_interval: "1s"``) on an empty folder. Once the
baseline poll is in the database (``schedule_state.last_poll_at``), the files are created at once
in the watched folder; the database is then read (read-only ``sqlite3``) every 0.5 s until
``count(*) WHERE status = 'submitted'`` reaches the file count. Measured:

- end to end: from the last file written to the last run's ``finished_at`` (the moment it was
  marked ``submitted``), and the split of that time: files written -> first run recorded
  (``created_at``: settling takes two listings) -> first run submitted -> last run submitted;
- runs per second: submissions only, (N - 1) / (last - first ``finished_at``);
- the server's request count and distinct Idempotency-Keys (both must equal N: no run doubled or
  lost), and the runs not ``submitted`` (must be 0);
- the daemon's VmRSS before the burst and its VmHWM (peak RSS) after it.

With ``--baseline DIR`` every measurement is also made with the daemon started from DIR (a copy
of the code before a change: ``python -m triggerd`` run there imports DIR's ``triggerd``), the
two interleaved in each repetition, so before and after share the machine's conditions.

Every wait is bounded (10 minutes); temporary folders and the daemon are removed/stopped at the
end. The server shares the machine's cores with the daemon (it is a Python server too).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from bench.common import REPO, end_on_sigterm, log, machine, make_files, spread, table, temp_dir

WAIT_LIMIT = 600.0  # seconds: give up on any wait after 10 minutes
T = TypeVar("T")


# -- the endpoint ------------------------------------------------------------------------------


class CountingServer:
    """200 + ``{"id": ...}`` for every request; counts requests, distinct idempotency keys and
    requests per ``X-Replica`` header (bench_replica_burst).

    It runs in its own process, so that serving does not take this process's GIL while it
    creates the burst of files (in the same process, creating 10,000 files took 2-6 s instead of
    about 0.2 s).
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._proc = context.Process(target=_serve, args=(child,), daemon=True)
        self.url = ""

    def start(self) -> CountingServer:
        self._proc.start()
        if not self._conn.poll(60):
            raise SystemExit("the HTTP server did not start within 60 s")
        self.url = self._conn.recv()
        return self

    def _ask(self, command: str) -> Any:
        self._conn.send(command)
        if not self._conn.poll(60):
            raise SystemExit(f"the HTTP server did not answer {command!r} within 60 s")
        return self._conn.recv()

    def reset(self) -> None:
        self._ask("reset")

    def counts(self) -> dict[str, Any]:
        """requests, distinct keys, requests not POST /runs, requests per X-Replica header, and
        the server's CPU seconds."""
        return self._ask("counts")  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self._proc.is_alive():
            self._conn.send("stop")
            self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=10)


def _serve(conn: Any) -> None:
    """The server process: serve from threads, answer the parent's commands on ``conn``."""
    lock = threading.Lock()
    state: dict[str, Any] = {"requests": 0, "keys": set(), "replicas": Counter(), "other": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: triggerd's client reuses connections
        # The answer goes out as one write with TCP_NODELAY: a status line and a body sent as two
        # small writes meet Nagle + delayed ACK, ~40 ms per request (measured: 85 runs/s).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            key = self.headers.get("Idempotency-Key")
            with lock:
                state["requests"] += 1
                number = state["requests"]
                if key is not None:
                    state["keys"].add(key)
                state["replicas"][self.headers.get("X-Replica") or "?"] += 1
                if self.command != "POST" or self.path != "/runs":
                    state["other"] += 1
            content = b'{"id": "r%d"}' % number
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(content), content)
            )

        do_PUT = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # The listen backlog, read when the socket listens (in the constructor: setting it on
        # the instance afterwards changes nothing). socketserver's 5 made 16 workers opening
        # their connections at once see "connection reset by peer" now and then, a retry.
        request_queue_size = 128
        daemon_threads = True

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    host, port = httpd.server_address[:2]
    conn.send(f"http://{host!s}:{port}/runs")
    while True:
        try:
            command = conn.recv()
        except EOFError:  # the parent is gone
            command = "stop"
        if command == "stop":
            httpd.shutdown()
            httpd.server_close()
            return
        with lock:
            if command == "reset":
                state.update(requests=0, keys=set(), replicas=Counter(), other=0)
                conn.send(True)
            else:
                times = os.times()
                conn.send(
                    {
                        "requests": state["requests"],
                        "keys": len(state["keys"]),
                        "other": state["other"],
                        "replicas": dict(state["replicas"]),
                        "cpu": times.user + times.system,
                    }
                )


# -- helpers -----------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], T | None],
    what: str,
    proc: subprocess.Popen[bytes],
    logfile: Path,
    interval: float = 0.5,
) -> T:
    """Poll ``predicate`` until it returns a value that is not None (at most WAIT_LIMIT)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while True:
        value = predicate()
        if value is not None:
            return value
        if proc.poll() is not None:
            raise SystemExit(
                f"the daemon exited ({proc.returncode}) while waiting for {what}; its log:\n"
                + tail(logfile)
            )
        if time.monotonic() > deadline:
            raise SystemExit(
                f"gave up after {WAIT_LIMIT / 60:.0f} minutes waiting for {what}; daemon log:\n"
                + tail(logfile)
            )
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB (10^6 bytes)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / 1e6
    return values


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]] | None:
    """Rows of ``sql`` on the daemon's database opened read-only; None if not readable yet."""
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def stamp(text: str) -> float:
    """A naive-UTC SQLite datetime string as a Unix time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def write_config(directory: Path, root: Path, url: str) -> Path:
    path = directory / "config.yaml"
    config = {
        "datastores": {"store": {"kind": "local", "path": str(root)}},
        "pipelines": {"endpoint": {"kind": "http", "url": url}},
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


# -- one measurement ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    tmp: Path, server: CountingServer, files: int, concurrency: int, tree: Path = REPO
) -> dict[str, float]:
    """One burst of ``files`` files, the daemon started from the code in ``tree``."""
    root = tmp / "store"
    (root / "incoming").mkdir(parents=True)
    state = tmp / "state"
    config = write_config(tmp, root, server.url)
    db = state / "triggerd.db"
    logfile = tmp / "daemon.log"
    server.reset()
    env = dict(os.environ)
    env.pop("TRIGGERD_DATABASE_URL", None)
    env["TRIGGERD_CONCURRENCY"] = str(concurrency)
    with logfile.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "triggerd",
                "run",
                "--config",
                str(config),
                "--state-dir",
                str(state),
                "--log-format",
                "json",
                "--log-level",
                "WARNING",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tree,
            env=env,
        )
    try:

        def baseline_done() -> bool | None:
            rows = query(db, "SELECT last_poll_at FROM schedule_state WHERE name = 'watch'")
            return True if rows and rows[0][0] is not None else None

        wait_until(baseline_done, "the baseline poll", proc, logfile, interval=0.1)
        before = memory_mb(proc.pid)
        cpu_before = cpu_seconds(proc.pid)
        server_before = server.counts()["cpu"]

        written_from = time.time()
        make_files(root / "incoming", files)
        written = time.time()

        def all_submitted() -> int | None:
            rows = query(db, "SELECT count(*) FROM runs WHERE status = 'submitted'")
            done = rows[0][0] if rows else 0
            return done if done >= files else None

        wait_until(all_submitted, f"{files} submitted runs", proc, logfile, interval=0.5)
        after = memory_mb(proc.pid)
        cpu = cpu_seconds(proc.pid) - cpu_before
        counted = server.counts()
        rows = query(
            db,
            "SELECT min(created_at), max(created_at), min(finished_at), max(finished_at), "
            "count(*), sum(attempts) FROM runs WHERE status = 'submitted'",
        )
        statuses = query(db, "SELECT status, count(*) FROM runs GROUP BY status") or []
        retried = query(
            db, "SELECT fire_key, attempts, history FROM runs WHERE attempts > 1 LIMIT 5"
        )
        for fire_key, tries, history in retried or []:  # why a run needed another attempt
            log(f"  retried: {fire_key} attempts={tries} history={history}")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log("  daemon did not stop within 60 s of SIGTERM: killed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert rows is not None
    created_first, created_last, first, last, count, attempts = rows[0]
    not_submitted = sum(n for status, n in statuses if status != "submitted")
    result = {
        "write_s": written - written_from,
        "end_to_end_s": stamp(last) - written_from,
        "after_last_file_s": stamp(last) - written,
        "to_first_run_s": stamp(created_first) - written_from,
        "recording_s": stamp(created_last) - stamp(created_first),
        "to_first_submit_s": stamp(first) - written_from,
        "submit_s": stamp(last) - stamp(first),
        "rate": (count - 1) / (stamp(last) - stamp(first)),
        "requests": counted["requests"],
        "keys": counted["keys"],
        "other": counted["other"],
        "submitted": float(count),
        "attempts": float(attempts),
        "not_submitted": float(not_submitted),
        "rss_before": before["VmRSS"],
        "rss_after": after["VmRSS"],
        "hwm": after["VmHWM"],
        "cpu_ms_per_run": cpu * 1000 / count,
        "server_cpu_ms_per_run": (counted["cpu"] - server_before) * 1000 / count,
    }
    log(
        f"  c={concurrency}: files in {result['write_s']:.2f} s, {count} submitted "
        f"{result['end_to_end_s']:.1f} s after the first file ({result['rate']:.0f} runs/s), "
        f"requests={counted['requests']:.0f} keys={counted['keys']:.0f} "
        f"not-submitted={not_submitted} hwm={after['VmHWM']:.1f} MB "
        f"daemon CPU {result['cpu_ms_per_run']:.2f} ms/run, "
        f"server CPU {result['server_cpu_ms_per_run']:.2f} ms/run"
    )
    return result


# -- main --------------------------------------------------------------------------------------


def file_counts(text: str) -> list[int]:
    """``10000`` or ``1000,10000,50000``."""
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main() -> None:
    end_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=file_counts, default=[10_000], help="e.g. 1000,10000")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--baseline", type=Path, help="a checkout whose daemon is measured too, interleaved"
    )
    args = parser.parse_args()

    trees = [("this tree", REPO)]
    if args.baseline is not None:
        trees.append(("baseline", args.baseline.resolve()))
    Key = tuple[int, str, int]  # files, code, concurrency
    cases: list[Key] = [(n, t, c) for n in args.files for t, _ in trees for c in args.concurrency]
    results: dict[Key, list[dict[str, float]]] = {case: [] for case in cases}
    server = CountingServer().start()
    started = time.monotonic()
    try:
        for rep in range(args.reps):
            order = cases if rep % 2 == 0 else cases[::-1]
            for n, label, c in order:
                log(f"rep {rep + 1}/{args.reps}, {n:,} files, {label}, concurrency {c} ...")
                with temp_dir("triggerd-bench-http-") as tmp:
                    result = measure(tmp, server, n, c, dict(trees)[label])
                results[(n, label, c)].append(result)
    finally:
        server.stop()
    log(f"total {time.monotonic() - started:.0f} s")

    def col(case: Key, key: str) -> list[float]:
        return [r[key] for r in results[case]]

    def counts(case: Key, key: str) -> str:
        values = sorted({int(v) for v in col(case, key)})
        return "/".join(f"{v:,}" for v in values)

    def name(case: Key) -> list[str]:
        n, label, c = case
        return [f"{n:,}", *([label] if len(trees) > 1 else []), str(c)]

    heads = ["files", *(["code"] if len(trees) > 1 else []), "dispatcher concurrency"]
    print(f"## HTTP burst: {'/'.join(f'{n:,}' for n in args.files)} files submitted end to end\n")
    print(
        f"Machine: {machine()}. {args.reps} repetition(s) per case, interleaved; "
        "median (min-max); MB = 10^6 bytes; times in seconds from the first file created.\n"
    )
    rows = [
        [
            *name(case),
            spread(col(case, "rate"), digits=0),
            spread(col(case, "cpu_ms_per_run"), digits=2),
            spread(col(case, "end_to_end_s"), digits=1),
            spread(col(case, "write_s"), digits=2),
            spread(col(case, "to_first_run_s"), digits=2),
            spread(col(case, "to_first_submit_s"), digits=2),
            spread(col(case, "submit_s"), digits=1),
            f"{counts(case, 'requests')} / {counts(case, 'keys')}",
            counts(case, "not_submitted"),
            spread(col(case, "hwm"), digits=1),
        ]
        for case in cases
    ]
    print(
        table(
            [
                *heads,
                "runs/s (first -> last submitted)",
                "daemon CPU per run, ms",
                "end to end: last run submitted, s",
                "files created, s",
                "first run recorded, s",
                "first run submitted, s",
                "first -> last submitted, s",
                "server requests / distinct keys",
                "runs not submitted",
                "daemon peak RSS (VmHWM), MB",
            ],
            rows,
        )
    )
    print()
    rows = [
        [
            *name(case),
            spread(col(case, "rss_before"), digits=1),
            spread(col(case, "rss_after"), digits=1),
            spread(col(case, "server_cpu_ms_per_run"), digits=2),
            spread(col(case, "recording_s"), digits=2),
        ]
        for case in cases
    ]
    print(
        table(
            [
                *heads,
                "daemon RSS before the burst, MB",
                "daemon RSS after it, MB",
                "server CPU per run, ms",
                "first -> last run recorded, s",
            ],
            rows,
        )
    )
    print()
    for case in cases:
        n = case[0]
        ok = all(
            r["requests"] == n
            and r["keys"] == n
            and r["submitted"] == n
            and r["not_submitted"] == 0
            and r["other"] == 0
            and r["attempts"] == n
            for r in results[case]
        )
        verdict = "none doubled or lost" if ok else "MISMATCH: see the counts above"
        print(
            f"{' / '.join(name(case))}: {verdict} (server requests, distinct keys, submitted "
            f"runs and attempts must all be {n:,})."
        )


if __name__ == "__main__":
    main()
