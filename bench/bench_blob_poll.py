"""Azure Blob poll at 10,000 and 100,000 blobs (Azurite): triggerd against the SDK's own loop.

    .venv/bin/python -m bench.bench_blob_poll [--blobs 10000 100000] [--reps 5] [--first-reps 3]

Azurite (npm, in memory, 127.0.0.1) is started for the run. For each ``--blobs`` size a
container gets that many small blobs under ``in/`` (plus a few under ``in/sub/``, a sub-folder
the listing must skip), uploaded once, in parallel; it is deleted before the next size. Steady
state (nothing changed since the previous poll), interleaved (the order rotates every
repetition):

  a. the SDK's own loop: ``for b in container.walk_blobs(name_starts_with="in/",
     delimiter="/"): pass`` (the baseline of the target)
  p. ``blob_pages.FolderPages`` alone: the same requests, pages read from the XML
  b. triggerd ``AzureBlobLister.list()`` (target: client CPU per blob <= 0.5x a)
  c. triggerd ``DatastorePoller.poll()`` on SQLite: list + settle + record
  d. the first poll of a new schedule: the baseline rows inserted (a fresh database each time)

Each call's wall time, this process's CPU (``time.process_time``: the client) and Azurite's
CPU (``/proc/PID/stat``) are recorded. During the steady-state polls a SQLAlchemy listener
counts INSERT/UPDATE/DELETE statements (a poll that found no change writes no snapshot rows).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.storage.blob import ContainerClient

from bench.common import (
    REPO,
    WriteCounter,
    end_on_sigterm,
    log,
    machine,
    median,
    quiet_logging,
    spread,
    table,
    temp_dir,
    utc_now,
    write_config,
)
from tests.support import azurite
from triggerd.config import load_config
from triggerd.datastores import azure_blob
from triggerd.datastores.azure_blob import AzureBlobLister, container_client
from triggerd.datastores.blob_pages import FolderPages
from triggerd.datastores.filters import DEFAULT_EXCLUDE, FileFilter
from triggerd.engine.poller import DatastorePoller
from triggerd.store import Store, open_store, snapshots

ENV = "TRIGGERD_BENCH_AZURITE"  # the connection string, for connection_string_env
SUB_FOLDER_BLOBS = 10
TARGET = 0.5  # client CPU per blob, vs the SDK's walk_blobs loop
# Azurite (one Node thread, sharing 2 cores) can take over a minute for one page of a prefix of
# 100,000 blobs on a loaded machine: every client of the bench waits up to 10 minutes a read.
READ_TIMEOUT = 600
Samples = dict[str, dict[str, list[float]]]  # variant -> wall / cpu / azurite -> per rep


def upload(container: ContainerClient, count: int) -> None:
    names = [f"in/f{i:06d}.csv" for i in range(count)]
    names += [f"in/sub/g{i:03d}.csv" for i in range(SUB_FOLDER_BLOBS)]

    def put(name: str) -> None:
        container.upload_blob(name, b"x,y\n1,2\n", overwrite=True)

    with ThreadPoolExecutor(max_workers=8) as pool:  # at most the SDK's connection pool (10)
        for _ in pool.map(put, names, timeout=3600):
            pass


def raw_walk(container: ContainerClient) -> int:
    count = 0
    for _b in container.walk_blobs(name_starts_with="in/", delimiter="/"):
        count += 1
    return count


def pages_alone(pages: FolderPages) -> int:
    return sum(len(page.blobs) + len(page.prefixes) for page in pages("in/"))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interleaved_cpu(
    variants: dict[str, Callable[[], object]], reps: int, server_pid: int
) -> Samples:
    """Like ``bench.common.interleaved`` (order rotated each rep, a full collection untimed
    before each call), recording wall, this process's CPU and Azurite's CPU of each call."""
    names = list(variants)
    samples: Samples = {n: {"wall": [], "cpu": [], "azurite": []} for n in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            az, cpu, wall = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
            variants[name]()
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            az = cpu_seconds(server_pid) - az
            for key, value in (("wall", wall), ("cpu", cpu), ("azurite", az)):
                samples[name][key].append(value)
        done = ", ".join(
            f"{n}={samples[n]['wall'][-1]:.2f}s/{samples[n]['cpu'][-1]:.2f}cpu" for n in names
        )
        log(f"  rep {rep + 1}/{reps}: {done}")
    return samples


def rows(samples: Samples, labels: dict[str, str], blobs: int) -> list[list[str]]:
    base = samples["a"]
    found = []
    for key, values in samples.items():
        paired = [c / b for c, b in zip(values["cpu"], base["cpu"], strict=True)]
        found.append(
            [
                labels[key],
                spread(values["wall"]),
                f"{median(values['wall']) / median(base['wall']):.2f}x",
                spread(values["cpu"]),
                spread(values["cpu"], scale=1e6 / blobs, digits=1),
                f"{median(values['cpu']) / median(base['cpu']):.2f}x",
                spread(paired, digits=2) + "x",
                spread(values["azurite"], digits=2),
            ]
        )
    return found


HEADERS = [
    "variant",
    "wall s",
    "wall vs a",
    "client CPU s",
    "client CPU µs per blob",
    "CPU vs a (medians)",
    "CPU vs a, paired per rep",
    "Azurite CPU s",
]


def measure_size(
    server: azurite.AzuriteServer,
    tmp: Path,
    blobs: int,
    reps: int,
    first_reps: int,
    skip: str = "",
) -> None:
    container_name = f"bench-{blobs}"
    raw = ContainerClient.from_connection_string(
        server.connection_string, container_name, read_timeout=READ_TIMEOUT
    )
    raw.create_container()
    log(f"uploading {blobs:,} blobs ...")
    started = time.monotonic()
    upload(raw, blobs)
    log(f"  uploaded in {time.monotonic() - started:.1f} s")
    where = tmp / container_name
    where.mkdir()
    datastore = {"kind": "azure_blob", "container": container_name, "connection_string_env": ENV}
    config = load_config(write_config(where, datastore, path_on_datastore="in", interval="1m"))
    schedule = config.schedules["watch"]

    def poller_on(store: Store) -> DatastorePoller:
        return DatastorePoller(schedule, config, store, clock=utc_now, is_enabled=lambda: True)

    fresh: list[tuple[Store, DatastorePoller]] = []
    for i in range(first_reps):
        store = open_store(f"sqlite:///{where / f'fresh{i}' / 'triggerd.db'}")
        fresh.append((store, poller_on(store)))
    steady_store = open_store(f"sqlite:///{where / 'steady' / 'triggerd.db'}")
    steady = poller_on(steady_store)
    log("baseline poll + one more poll of the steady-state poller ...")
    steady.poll()
    steady.poll()
    assert len(steady_store.read(snapshots.load, "watch")) == blobs
    client = container_client(config.datastores["store"])  # type: ignore[arg-type]
    lister = AzureBlobLister(client, "in", FileFilter(include=("*",), exclude=DEFAULT_EXCLUDE))
    pages = FolderPages(client)
    assert pages.reads_xml
    assert len(lister.list()) == blobs
    assert raw_walk(raw) == pages_alone(pages) == blobs + 1  # + the sub-folder
    counter = WriteCounter(steady_store.engine)

    steady_poll = counter.counting(steady.poll)

    def first_poll() -> None:
        fresh.pop(0)[1].poll()

    pid = server.process.pid
    log(f"{blobs:,} blobs, steady state: {reps} interleaved repetitions ...")
    started = time.monotonic()
    steady_variants: dict[str, Callable[[], object]] = {
        "a": lambda: raw_walk(raw),
        "p": lambda: pages_alone(pages),
        "b": lister.list,
        "c": steady_poll,
    }
    for key in skip:
        steady_variants.pop(key, None)
    samples = interleaved_cpu(steady_variants, reps, pid)
    steady_seconds = time.monotonic() - started
    first: Samples = {}
    if first_reps:
        log(f"{blobs:,} blobs, first polls: {first_reps} interleaved repetitions ...")
        first = interleaved_cpu({"a": lambda: raw_walk(raw), "d": first_poll}, first_reps, pid)
    counter.close()
    lister.close()
    steady.close()
    steady_store.close()
    for store, poller in fresh:
        poller.close()
        store.close()
    raw.delete_container()
    raw.close()

    labels = {
        "a": 'a. SDK `walk_blobs(name_starts_with="in/", delimiter="/")` loop (baseline)',
        "p": "p. `blob_pages.FolderPages` pages alone (same requests, XML read)",
        "b": "b. triggerd `AzureBlobLister.list()`",
        "c": "c. triggerd steady-state `DatastorePoller.poll()` (SQLite)",
        "d": f"d. first poll: baseline of {blobs:,} rows inserted",
    }
    print(f"\n### {blobs:,} blobs in one prefix\n")
    print(f"Steady state (nothing changed), {reps} interleaved repetitions:\n")
    print(table(HEADERS, rows(samples, labels, blobs)))
    if first:
        print(f"\nFirst polls, {first_reps} interleaved repetitions (fresh database each):\n")
        print(table(HEADERS, rows(first, labels, blobs)))
    print()
    for key, what in (("b", "lister"), ("c", "steady-state poll")):
        ratio = median(samples[key]["cpu"]) / median(samples["a"]["cpu"])
        verdict = "met" if ratio <= TARGET else f"MISSED by {(ratio / TARGET - 1) * 100:.0f}%"
        print(
            f"Target {what}, client CPU per blob <= {TARGET}x the SDK's walk_blobs loop: "
            f"{ratio:.2f}x -> {verdict}."
        )
    print(counter.report(reps, steady_seconds))
    if counter.other_writes:
        raise SystemExit("FAILED: a poll that found no change wrote snapshot or run rows")


def commit() -> str:
    try:
        found = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip()


def main() -> None:
    end_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blobs", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reps", type=int, default=5, help="steady-state repetitions")
    parser.add_argument("--first-reps", type=int, default=3, help="first-poll repetitions")
    parser.add_argument("--skip", default="", help="steady-state variants to leave out: p")
    args = parser.parse_args()
    quiet_logging()
    azure_blob.CLIENT_OPTIONS["read_timeout"] = READ_TIMEOUT  # the pollers' clients too
    problem = azurite.missing()
    if problem:
        raise SystemExit(problem)

    print("## Azure Blob poll (Azurite, in memory)\n")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Machine: {machine()}. Commit {commit()}; load average at start {load}.")
    print("Seconds and µs: median (min-max). Client CPU = this process's `time.process_time`.")
    log("starting Azurite ...")
    server = azurite.start()
    os.environ[ENV] = server.connection_string
    try:
        with temp_dir("triggerd-bench-blob-") as tmp:
            for blobs in args.blobs:
                measure_size(server, tmp, blobs, args.reps, args.first_reps, args.skip)
    finally:
        server.stop()
        os.environ.pop(ENV, None)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nLoad average at the end: {load}.")


if __name__ == "__main__":
    main()
