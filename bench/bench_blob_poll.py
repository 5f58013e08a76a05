"""Azure Blob poll of 10,000 blobs (Azurite): triggerd against the SDK's own loop, same run.

    .venv/bin/python -m bench.bench_blob_poll [--blobs 10000] [--reps 7]

Azurite (npm, in memory, 127.0.0.1) is started for the run, a container gets ``--blobs`` small
blobs under ``in/`` (plus a few under ``in/sub/``, a sub-folder the listing must skip),
uploaded in parallel. Steady state (nothing changed since the previous poll), interleaved:

  a. the SDK's own loop: ``for b in container.walk_blobs(name_starts_with="in/",
     delimiter="/"): pass`` (the target's baseline)
  b. triggerd ``AzureBlobLister.list()`` (target: <= 1.1x a)
  c. triggerd ``DatastorePoller.poll()`` on SQLite: list + settle + record
  d. the first poll of a new schedule: the baseline rows inserted (a fresh database each time)

During the steady-state polls a SQLAlchemy listener counts INSERT/UPDATE/DELETE statements.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.storage.blob import ContainerClient

from bench.common import (
    WriteCounter,
    interleaved,
    log,
    machine,
    median,
    quiet_logging,
    ratio_rows,
    table,
    temp_dir,
    utc_now,
    write_config,
)
from tests.support import azurite
from triggerd.config import load_config
from triggerd.datastores.azure_blob import AzureBlobLister, container_client
from triggerd.datastores.filters import DEFAULT_EXCLUDE, FileFilter
from triggerd.engine.poller import DatastorePoller
from triggerd.store import Store, open_store, snapshots

CONTAINER = "bench"
ENV = "TRIGGERD_BENCH_AZURITE"  # the connection string, for connection_string_env
SUB_FOLDER_BLOBS = 10


def upload(container: ContainerClient, count: int) -> None:
    names = [f"in/f{i:06d}.csv" for i in range(count)]
    names += [f"in/sub/g{i:03d}.csv" for i in range(SUB_FOLDER_BLOBS)]

    def put(name: str) -> None:
        container.upload_blob(name, b"x,y\n1,2\n", overwrite=True)

    with ThreadPoolExecutor(max_workers=8) as pool:  # at most the SDK's connection pool (10)
        for _ in pool.map(put, names, timeout=600):
            pass


def raw_walk(container: ContainerClient) -> None:
    for _b in container.walk_blobs(name_starts_with="in/", delimiter="/"):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blobs", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=7, help="steady-state repetitions")
    parser.add_argument("--first-reps", type=int, default=3, help="first-poll repetitions")
    args = parser.parse_args()
    quiet_logging()
    problem = azurite.missing()
    if problem:
        raise SystemExit(problem)

    log("starting Azurite ...")
    server = azurite.start()
    try:
        with temp_dir("triggerd-bench-blob-") as tmp:
            os.environ[ENV] = server.connection_string
            raw = ContainerClient.from_connection_string(server.connection_string, CONTAINER)
            raw.create_container()
            log(f"uploading {args.blobs} blobs ...")
            started = time.monotonic()
            upload(raw, args.blobs)
            log(f"  uploaded in {time.monotonic() - started:.1f} s")
            datastore = {"kind": "azure_blob", "container": CONTAINER, "connection_string_env": ENV}
            config = load_config(
                write_config(tmp, datastore, path_on_datastore="in", interval="1m")
            )
            schedule = config.schedules["watch"]

            def poller_on(store: Store) -> DatastorePoller:
                return DatastorePoller(
                    schedule, config, store, clock=utc_now, is_enabled=lambda: True
                )

            fresh: list[tuple[Store, DatastorePoller]] = []
            for i in range(args.first_reps):
                store = open_store(f"sqlite:///{tmp / f'fresh{i}' / 'triggerd.db'}")
                fresh.append((store, poller_on(store)))
            steady_store = open_store(f"sqlite:///{tmp / 'steady' / 'triggerd.db'}")
            steady = poller_on(steady_store)
            log("baseline poll + one more poll of the steady-state poller ...")
            steady.poll()
            steady.poll()
            assert len(steady_store.read(snapshots.load, "watch")) == args.blobs
            lister = AzureBlobLister(
                container_client(config.datastores["store"]),  # type: ignore[arg-type]
                "in",
                FileFilter(include=("*",), exclude=DEFAULT_EXCLUDE),
            )
            assert len(lister.list()) == args.blobs
            raw_walk(raw)
            counter = WriteCounter(steady_store.engine)

            def steady_poll() -> None:
                counter.active = True
                try:
                    steady.poll()
                finally:
                    counter.active = False

            def first_poll() -> None:
                fresh.pop(0)[1].poll()

            variants: dict[str, Any] = {
                "a": lambda: raw_walk(raw),
                "b": lister.list,
                "c": steady_poll,
            }
            log(f"steady state: {args.reps} interleaved repetitions ...")
            started = time.monotonic()
            times = interleaved(variants, args.reps)
            steady_seconds = time.monotonic() - started
            log(f"first polls: {args.first_reps} interleaved repetitions ...")
            first_times = interleaved(
                {"a": lambda: raw_walk(raw), "d": first_poll}, args.first_reps
            )
            counter.close()
            lister.close()
            steady.close()
            raw.close()
            steady_store.close()
            for store, poller in fresh:
                poller.close()
                store.close()
    finally:
        server.stop()
        os.environ.pop(ENV, None)

    labels = {
        "a": 'a. SDK `walk_blobs(name_starts_with="in/", delimiter="/")` loop (baseline)',
        "b": "b. triggerd `AzureBlobLister.list()`",
        "c": "c. triggerd steady-state `DatastorePoller.poll()` (SQLite)",
        "d": f"d. first poll: baseline of {args.blobs:,} rows inserted",
    }
    headers = ["variant", "seconds", "vs a (medians)", "vs a, paired per rep"]
    print(f"## Azure Blob poll, {args.blobs:,} blobs in one prefix (Azurite, in memory)\n")
    print(f"Machine: {machine()}. Wall seconds, median (min-max).\n")
    print(f"Steady state (nothing changed), {args.reps} interleaved repetitions:\n")
    print(table(headers, ratio_rows(times, labels)))
    print(f"\nFirst polls, {args.first_reps} interleaved repetitions (fresh database each):\n")
    print(table(headers, ratio_rows(first_times, labels)))
    for key, what in (("b", "lister"), ("c", "steady-state poll")):
        ratio = median(times[key]) / median(times["a"])
        verdict = "met" if ratio <= 1.1 else f"MISSED by {(ratio / 1.1 - 1) * 100:.0f}%"
        print(f"\nTarget {what} <= 1.1x raw walk_blobs: {ratio:.2f}x -> {verdict}.", end="")
    print()
    print(counter.report(len(times["a"]), steady_seconds))
    if counter.other_writes:
        raise SystemExit("FAILED: a poll that found no change wrote snapshot or run rows")


if __name__ == "__main__":
    main()
