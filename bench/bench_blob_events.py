"""Blob events at scale: upload -> run latency and daemon CPU, events against a 10 s poll (Azurite).

    .venv/bin/python -m bench.bench_blob_events [--blobs 10000 100000] [--new 1000] [--rate 16.7]
                                                [--reps 3] [--idle 15] [--quick]

Azurite (npm, in memory, 127.0.0.1, blob and queue services) is started for the run; a container
gets ``--blobs`` blobs under ``in/`` (plus 10 under ``in/sub/``), uploaded in parallel (the
larger size by adding to the smaller). For each size and repetition, `triggerd run` runs as a
process (SQLite in a fresh state directory, JSON logs at INFO, a ``command`` pipeline running
``true``) in two configurations, one after the other, the order alternating:

  a. events: the datastore has ``events: {queue: bench-events, reconcile_interval: 1h}``;
     every new blob is followed by the Event Grid message for it (``tests.support.eventgrid``:
     built from the blob's real properties, Base64 as Event Grid sends it);
  b. polling: no events, ``polling_interval: 10s`` (the default settle of two listings).

Once the first listing (the baseline) is in the database (``schedule_state.last_poll_at``), the
daemon's CPU (utime + stime of ``/proc/PID/stat``) is sampled over ``--idle`` seconds of
nothing, then ``--new`` new blobs are uploaded at ``--rate`` per second (4 client threads, so a
slow call does not hold the schedule back) and the CPU is sampled over that upload window.
Latency = the run's ``runs.created_at`` (read afterwards with sqlite3, joined on
``data_path``) - the client's clock when the upload call returned. The new blobs stay: the
folder grows by ``--new`` per configuration run (the table says how many blobs each first
listing found). They were deleted at first, and with a few thousand deleted blobs among
100,000 the emulator then sat at 100% CPU for minutes (every request timed out), when its blob
GC was due (at start, then 10 minutes after each pass; it removes each unreferenced extent
through LokiJS's `findAndRemove` on an indexed collection of all extents).

Raw baselines in the same run, after each repetition's two configurations: the SDK's own
``walk_blobs`` of the folder (wall, this process's CPU, Azurite's CPU per listing) and a raw
``QueueClient`` receive (32 at a time) + delete loop over the same messages configuration a
sent, enqueued again (wall, CPU per message). Azurite's CPU is its processes' utime + stime.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from bench.bench_http_burst import cpu_seconds, memory_mb, query, stamp
from bench.common import REPO, end_on_sigterm, log, machine, median, spread, table, temp_dir
from tests.support import azurite, eventgrid

CONTAINER = "bench"
QUEUE = "bench-events"
RAW_QUEUE = "bench-raw"
ENV = "TRIGGERD_BENCH_AZURITE"  # the connection string, for connection_string_env
BODY = b"x,y\n1,2\n"
ROOT_MARKER = "0-root-marker"  # see fill()
WAIT_LIMIT = 600.0  # seconds: give up on any wait after 10 minutes
CONFIGS = ("events", "polling")
JSON_LOGS = ("--log-format", "json")


# -- processes ---------------------------------------------------------------------------------


def azurite_pids(server: azurite.AzuriteServer) -> list[int]:
    procs = [server.process, getattr(server, "queue_process", None)]
    return [p.pid for p in procs if p is not None]


def azurite_cpu(server: azurite.AzuriteServer) -> float:
    return sum(cpu_seconds(pid) for pid in azurite_pids(server))


def wait_until(
    predicate: Callable[[], Any], what: str, proc: subprocess.Popen[bytes], limit: float
) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value is not None:
            return value
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited ({proc.returncode}) waiting for {what}")
        time.sleep(0.2)
    raise SystemExit(f"gave up after {limit:.0f} s waiting for {what}")


def write_config(directory: Path, kind: str) -> Path:
    datastore: dict[str, Any] = {
        "kind": "azure_blob",
        "container": CONTAINER,
        "connection_string_env": ENV,
    }
    schedule: dict[str, Any] = {
        "name": "watch",
        "pipeline": "job",
        "datastore": "store",
        "path_on_datastore": "in",
    }
    if kind == "events":
        datastore["events"] = {"queue": QUEUE, "reconcile_interval": "1h"}
    else:
        schedule["polling_interval"] = "10s"
    config = {
        "datastores": {"store": datastore},
        "pipelines": {"job": {"kind": "command", "argv": ["true"]}},
        "schedules": [schedule],
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


@contextlib.contextmanager
def daemon(config: Path, state: Path, logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`triggerd run` on ``config``; stopped with SIGTERM (killed after 60 s) at the end."""
    exe = REPO / ".venv" / "bin" / "triggerd"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "triggerd"]
    env = {k: v for k, v in os.environ.items() if k != "TRIGGERD_DATABASE_URL"}
    env.update(TRIGGERD_HTTP_ADDRESS="127.0.0.1:0", PYTHONUNBUFFERED="1")
    with logfile.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "run", "--config", str(config), "--state-dir", str(state), *JSON_LOGS],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            try:
                proc.wait(timeout=60)
                log(f"  daemon stopped {time.monotonic() - stopping:.1f} s after SIGTERM")
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


# -- the client side: blobs, events ------------------------------------------------------------


def parallel(function: Callable[[str], object], names: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:  # at most the SDK's connection pool (10)
        for _ in pool.map(function, names, timeout=3600):
            pass


def fill(container: ContainerClient, start: int, stop: int) -> float:
    """Blobs ``in/f{start}..{stop - 1}.csv`` (and at first the sub-folder's); wall seconds."""
    names = [f"in/f{i:06d}.csv" for i in range(start, stop)]
    if start == 0:
        names += [f"in/sub/g{i:03d}.csv" for i in range(10)]
        # triggerd's startup container check lists the root with a delimiter, one result. Azurite
        # answers that by stepping over every blob under in/ one at a time (> 60 s at 10,000
        # blobs, the emulator blocked meanwhile); a root blob sorting first ends it at once.
        names.append(ROOT_MARKER)
    began = time.monotonic()
    parallel(lambda name: container.upload_blob(name, BODY, overwrite=True), names)
    return time.monotonic() - began


def trickle(
    container: ContainerClient, queue: QueueClient | None, names: list[str], rate: float
) -> tuple[list[tuple[float, float, float]], list[str]]:
    """Upload ``names`` at ``rate`` per second, each followed by its event when ``queue`` is
    given: per blob (client time the upload returned, upload call seconds, seconds from then to
    its message sent), and the messages."""
    uploads: list[tuple[float, float]] = [(0.0, 0.0)] * len(names)
    messages: list[str] = [""] * len(names)
    sent = [0.0] * len(names)  # seconds from the upload's return to the message sent

    def one(i: int) -> None:
        began = time.time()
        container.upload_blob(names[i], BODY, overwrite=True)
        returned = time.time()
        uploads[i] = (returned, returned - began)
        if queue is not None:
            messages[i] = eventgrid.encode(eventgrid.blob_created(container, names[i]))
            queue.send_message(messages[i])
            sent[i] = time.time() - returned

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for i in range(len(names)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, i))
        for future in futures:
            future.result(timeout=WAIT_LIMIT)
    return [(up, call, after) for (up, call), after in zip(uploads, sent, strict=True)], messages


# -- one configuration -------------------------------------------------------------------------


def measure(
    kind: str, tmp: Path, server: azurite.AzuriteServer, names: list[str], args: Any
) -> tuple[dict[str, float], list[str]]:
    """One configuration: the daemon started, its first listing awaited, CPU sampled idle and
    over the uploads, the runs awaited."""
    container = ContainerClient.from_connection_string(server.connection_string, CONTAINER)
    queue = QueueClient.from_connection_string(server.connection_string, QUEUE)
    db, logfile = tmp / f"state-{kind}" / "triggerd.db", tmp / f"{kind}.log"
    config = write_config(tmp / f"config-{kind}", kind)
    sample: dict[str, Any] = {"began": time.monotonic()}

    def mark(name: str) -> None:
        sample[name] = (cpu_seconds(proc.pid), azurite_cpu(server), time.monotonic())

    def recorded() -> list[tuple[Any, ...]] | None:
        got = query(
            db,
            "SELECT json_extract(data_path, '$.relative_path'), created_at FROM runs "
            "WHERE json_extract(data_path, '$.relative_path') LIKE 'in/new-%'",
        )
        return got if got is not None and len(got) >= len(names) else None

    finished = (
        "SELECT count(*) FROM runs WHERE json_extract(data_path, '$.relative_path') "
        "LIKE 'in/new-%' AND finished_at IS NOT NULL"
    )

    def all_finished() -> bool | None:
        got = query(db, finished)
        return True if got and got[0][0] >= len(names) else None

    listed = "SELECT 1 FROM schedule_state WHERE name = 'watch' AND last_poll_at IS NOT NULL"
    with daemon(config, db.parent, logfile) as proc:
        try:
            wait_until(lambda: query(db, listed) or None, "the first listing", proc, args.wait)
            sample["baseline_s"] = time.monotonic() - sample["began"]
            entries = query(db, "SELECT entries FROM schedule_state WHERE name = 'watch'")
            sample["entries"] = entries[0][0] if entries and entries[0][0] is not None else -1
            time.sleep(2)  # the baseline's commit and the daemon's collection after it
            mark("idle")
            time.sleep(args.idle)
            mark("trickle")
            events_to = queue if kind == "events" else None
            sample["uploads"], messages = trickle(container, events_to, names, args.rate)
            mark("end")
            sample["rows"] = wait_until(recorded, f"{len(names)} runs", proc, args.wait)
            wait_until(all_finished, "the runs' end", proc, args.wait)
            mark("done")
            sample["all_runs"] = (query(db, "SELECT count(*) FROM runs") or [(0,)])[0][0]
            sample["rss"] = memory_mb(proc.pid)["VmRSS"]
        except BaseException:
            log(
                f"  {kind} daemon log (tail):\n" + "\n".join(logfile.read_text().splitlines()[-30:])
            )
            raise
    lines = logfile.read_text(errors="replace").splitlines()
    warned = [line for line in lines if '"level": "warning"' in line or '"level": "error"' in line]
    sample["warnings"] = len(warned)
    for line in warned[:3]:
        log(f"    {kind} daemon: {line[:400]}")
    result = summarise(sample, names)
    log(
        f"  {kind}: baseline {result['baseline_s']:.1f} s, latency p50 {result['p50']:.2f} "
        f"p99 {result['p99']:.2f} max {result['max']:.2f} s, CPU {result['cpu']:.2f} s/min "
        f"(idle {result['idle_cpu']:.2f}), Azurite {result['azurite_cpu']:.1f} s/min, uploads "
        f"{result['upload_window_s']:.1f} s, runs {result['runs']:.0f}/{len(names)}, other "
        f"runs {result['other_runs']:.0f}, warnings {sample['warnings']}, CPU per blob "
        f"{result['cpu_ms_per_blob']:.1f} ms, upload calls p50 {result['call_p50_ms']:.0f} "
        f"max {result['call_max_ms']:.0f} ms, event sent p50 {result['sent_p50_ms']:.0f} ms"
    )
    queue.clear_messages()
    container.close()
    queue.close()
    return result, messages


def summarise(sample: dict[str, Any], names: list[str]) -> dict[str, float]:
    (cpu0, az0, t0), (cpu1, az1, t1), (cpu2, az2, t2), (cpu3, _, t3) = (
        sample[k] for k in ("idle", "trickle", "end", "done")
    )
    created = {path: stamp(at) for path, at in sample["rows"]}
    uploads = sample["uploads"]
    latencies = sorted(created[name] - up for name, (up, _, _) in zip(names, uploads, strict=True))
    calls = sorted(call for _, call, _ in uploads)
    sends = sorted(after for _, _, after in uploads)
    idle, window = t1 - t0, t2 - t1

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(len(values) * q))]

    return {
        "baseline_s": sample["baseline_s"],
        "entries": float(sample["entries"]),
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "max": latencies[-1],
        "sent_p50_ms": pct(sends, 0.5) * 1000,
        "runs": float(len(sample["rows"])),
        "distinct": float(len(created)),
        "other_runs": float(sample["all_runs"] - len(sample["rows"])),
        "idle_cpu": (cpu1 - cpu0) / idle * 60,
        "cpu": (cpu2 - cpu1) / window * 60,
        # From the first upload until the last run finished, less the idle rate (the listings).
        "cpu_ms_per_blob": ((cpu3 - cpu1) - (cpu1 - cpu0) / idle * (t3 - t1)) * 1000 / len(names),
        "azurite_cpu": (az2 - az1) / window * 60,
        "azurite_idle": (az1 - az0) / idle * 60,
        "upload_window_s": window,
        "call_p50_ms": pct(calls, 0.5) * 1000,
        "call_max_ms": calls[-1] * 1000,
        "rss": sample["rss"],
        "warnings": float(sample["warnings"]),
    }


# -- raw baselines -----------------------------------------------------------------------------


def raw_walk(server: azurite.AzuriteServer) -> dict[str, float]:
    """One ``walk_blobs`` of the folder: wall, this process's CPU, Azurite's CPU (seconds)."""
    container = ContainerClient.from_connection_string(server.connection_string, CONTAINER)
    az0, cpu0, t0 = azurite_cpu(server), time.process_time(), time.monotonic()
    count = sum(1 for _ in container.walk_blobs(name_starts_with="in/", delimiter="/"))
    wall, cpu, az = time.monotonic() - t0, time.process_time() - cpu0, azurite_cpu(server) - az0
    container.close()
    log(f"  raw walk_blobs: {count} items, {wall:.2f} s wall, {cpu:.2f} s CPU, Azurite {az:.2f} s")
    return {"wall": wall, "cpu": cpu, "azurite": az}


def raw_queue(server: azurite.AzuriteServer, messages: list[str]) -> dict[str, float]:
    """Enqueue ``messages`` (untimed), then receive 32 at a time and delete each (timed)."""
    queue = QueueClient.from_connection_string(server.connection_string, RAW_QUEUE)
    parallel(queue.send_message, messages)
    az0, cpu0, t0 = azurite_cpu(server), time.process_time(), time.monotonic()
    done, deadline = 0, time.monotonic() + WAIT_LIMIT
    while done < len(messages) and time.monotonic() < deadline:
        for message in queue.receive_messages(max_messages=32, visibility_timeout=60):
            queue.delete_message(message)
            done += 1
    wall, cpu, az = time.monotonic() - t0, time.process_time() - cpu0, azurite_cpu(server) - az0
    queue.close()
    log(f"  raw queue: {done} messages in {wall:.2f} s wall, {cpu:.2f} s CPU, Azurite {az:.2f} s")
    return {"wall": wall, "cpu": cpu, "azurite": az, "messages": float(done)}


# -- main --------------------------------------------------------------------------------------


def parse_args() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blobs", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--new", type=int, default=1000, help="blobs uploaded while measured")
    parser.add_argument("--rate", type=float, default=1000 / 60, help="new blobs per second")
    parser.add_argument(
        "--reps", type=int, nargs="+", default=[3], help="repetitions (one value, or per size)"
    )
    parser.add_argument("--idle", type=float, default=15.0, help="idle CPU sample, seconds")
    parser.add_argument("--wait", type=float, default=WAIT_LIMIT, help="give up a wait after")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1,000 blobs, 100 new at 20/s, 1 rep"
    )
    args = parser.parse_args()
    if args.quick:
        args.blobs, args.new, args.rate, args.reps, args.idle = [1000], 100, 20.0, [1], 3.0
        args.wait = min(args.wait, 120.0)
    if len(args.reps) == 1:
        args.reps = args.reps * len(args.blobs)
    if len(args.reps) != len(args.blobs) or args.blobs != sorted(args.blobs):
        parser.error("--blobs must be ascending, with one --reps value or one per size")
    return args


def main() -> None:
    end_on_sigterm()
    args = parse_args()
    problem = azurite.missing()
    if problem:
        raise SystemExit(problem)
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    walks: dict[int, list[dict[str, float]]] = {}
    drains: dict[int, list[dict[str, float]]] = {}
    fills: list[list[str]] = []
    began = time.monotonic()
    log("starting Azurite (blob + queue) ...")
    server = azurite.start(queues=True)
    try:
        with temp_dir("triggerd-bench-events-") as tmp:
            os.environ[ENV] = server.connection_string
            container = ContainerClient.from_connection_string(server.connection_string, CONTAINER)
            container.create_container()
            for name in (QUEUE, RAW_QUEUE):
                QueueClient.from_connection_string(server.connection_string, name).create_queue()
            have = 0
            for size, reps in zip(args.blobs, args.reps, strict=True):
                log(f"uploading blobs {have:,}..{size:,} ...")
                seconds = fill(container, have, size)
                rss = sum(memory_mb(pid)["VmRSS"] for pid in azurite_pids(server))
                fills.append(
                    [
                        f"{size:,}",
                        f"{size - have:,}",
                        f"{seconds:.0f}",
                        f"{(size - have) / seconds:.0f}",
                        f"{rss:.0f}",
                    ]
                )
                log(f"  {size - have:,} uploaded in {seconds:.1f} s; Azurite RSS {rss:.0f} MB")
                have = size
                raw_walk(server)  # untimed: warm
                for rep in range(reps):
                    order = args.configs if rep % 2 == 0 else args.configs[::-1]
                    messages: list[str] = []
                    for kind in order:
                        log(
                            f"{size:,} blobs, rep {rep + 1}/{reps}, {kind} "
                            f"({time.monotonic() - began:.0f} s in) ..."
                        )
                        names = [
                            f"in/new-{size}-{kind[0]}{rep}-{i:05d}.csv" for i in range(args.new)
                        ]
                        result, sent = measure(kind, tmp / f"{size}-{rep}", server, names, args)
                        results.setdefault((size, kind), []).append(result)
                        messages = messages or [m for m in sent if m]
                    walks.setdefault(size, []).append(raw_walk(server))
                    if messages:
                        drains.setdefault(size, []).append(raw_queue(server, messages))
                if size != args.blobs[-1]:  # so far, in case a later size does not finish
                    with contextlib.redirect_stdout(sys.stderr):
                        report(args, results, walks, drains, fills)
            container.close()
    finally:
        server.stop()
        os.environ.pop(ENV, None)
    log(f"total {time.monotonic() - began:.0f} s")
    report(args, results, walks, drains, fills)


# (header, result keys shown side by side, digits) of the main table, after blobs/configuration.
COLUMNS = [
    ("blobs listed by the first listing", "entries", 0),
    ("upload -> run recorded p50, s", "p50", 2),
    ("p99, s", "p99", 2),
    ("max, s", "max", 2),
    ("upload returned -> event sent p50, ms", "sent_p50_ms", 0),
    ("daemon CPU s/min, uploading", "cpu", 2),
    ("daemon CPU s/min, idle", "idle_cpu", 2),
    (
        "daemon CPU above idle per new blob, first upload -> last run finished, ms",
        "cpu_ms_per_blob",
        1,
    ),
    ("Azurite CPU s/min, uploading", "azurite_cpu", 1),
    ("Azurite CPU s/min, idle", "azurite_idle", 1),
    ("start -> first listing done, s", "baseline_s", 1),
    ("upload window, s", "upload_window_s", 1),
    ("upload call p50 / max, ms", "call_p50_ms call_max_ms", 0),
    ("daemon RSS after, MB", "rss", 0),
    ("warning + error log lines", "warnings", 0),
]
RAW_COLUMNS = [
    ("raw `walk_blobs` of the folder: wall, s", "wall", 2),
    ("client CPU, s", "cpu", 2),
    ("Azurite CPU, s", "azurite", 2),
    ("raw receive(32) + delete of the same messages: wall, s", "q_wall", 2),
    ("client CPU per message, ms", "q_cpu", 2),
    ("Azurite CPU per message, ms", "q_azurite", 2),
]
LABELS = {"events": "a. events (reconcile 1h)", "polling": "b. polling_interval 10s"}


def report(
    args: Any,
    results: dict[tuple[int, str], list[dict[str, float]]],
    walks: dict[int, list[dict[str, float]]],
    drains: dict[int, list[dict[str, float]]],
    fills: list[list[str]],
) -> None:
    def col(rows: list[dict[str, float]], keys: str, digits: int = 2) -> str:
        """median (min-max) of each key, " / " between keys; "-" when not measured."""
        names = keys.split()
        if not rows or any(k not in rows[0] for k in names):
            return "-"
        return " / ".join(spread([r[k] for r in rows], digits=digits) for k in names)

    print("## Blob events at scale: events vs a 10 s poll (Azurite, in memory)\n")
    print(
        f"Machine: {machine()}. {args.new:,} new blobs at {args.rate:.1f}/s per configuration; "
        f"repetitions per size: {', '.join(map(str, args.reps))}; median (min-max).\n"
    )
    fill_headers = ["blobs in the folder", "uploaded now", "seconds", "blobs/s", "Azurite RSS, MB"]
    print(table(fill_headers, fills) + "\n")
    rows = []
    for (size, kind), rs in results.items():
        runs = "/".join(sorted({str(int(r["distinct"])) for r in rs}))
        rows.append([f"{size:,}", LABELS[kind], f"{runs} of {args.new:,}"])
        rows[-1] += [col(rs, keys, digits) for _, keys, digits in COLUMNS]
    headers = ["blobs", "configuration", "runs recorded", *(h for h, _, _ in COLUMNS)]
    print(table(headers, rows) + "\n")
    rows = []
    for size, ws in walks.items():
        raw = [dict(w) for w in ws]
        for r, d in zip(raw, drains.get(size, []), strict=False):
            r.update(q_wall=d["wall"], q_cpu=d["cpu"] / d["messages"] * 1000)
            r["q_azurite"] = d["azurite"] / d["messages"] * 1000
        rows.append([f"{size:,}", *(col(raw, keys, digits) for _, keys, digits in RAW_COLUMNS)])
    print(table(["blobs", *(h for h, _, _ in RAW_COLUMNS)], rows) + "\n")
    events = {size: rs for (size, kind), rs in results.items() if kind == "events"}
    for size, rs in events.items():
        p99 = median([r["p99"] for r in rs])
        verdict = "met" if p99 <= 2.0 else "MISSED"
        print(f"Target events p99 <= 2 s at {size:,} blobs: {p99:.2f} s -> {verdict}.")
    if len(events) >= 2:
        small, large = min(events), max(events)
        lo, hi = (median([r["cpu"] for r in events[n]]) for n in (small, large))
        print(
            f"Events CPU while uploading, {small:,} -> {large:,} blobs: {lo:.2f} -> {hi:.2f} "
            f"s/min ({hi / lo:.2f}x)."
        )
    for (size, kind), rs in results.items():
        for r in rs:
            if r["distinct"] != args.new or r["runs"] != args.new or r["other_runs"] != 0:
                print(
                    f"MISMATCH {size:,} {kind}: {r['runs']:.0f} runs, {r['distinct']:.0f} "
                    f"distinct, {r['other_runs']:.0f} other runs (want {args.new}, {args.new}, 0)"
                )


if __name__ == "__main__":
    main()
