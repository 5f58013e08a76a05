"""Local folder poll of 100,000 files: triggerd against raw os.scandir and watchdog, same run.

    .venv/bin/python -m bench.bench_local_poll [--files 100000] [--reps 7]

Steady state (nothing changed since the previous poll), interleaved, wall time per listing:

  a. raw ``for e in os.scandir(d): e.stat()``, building nothing (the target's baseline)
  b. raw scandir + stat building a dict name -> (size, st_mtime_ns)
  c. watchdog ``DirectorySnapshot(d, recursive=False)``
  d. triggerd ``LocalLister.list_if_changed()``: the steady-state check (finds nothing)
  e. triggerd ``DatastorePoller.poll()`` on SQLite: check + record nothing (target: <= 1.2x a)
  h. triggerd ``LocalLister.list_if_changed()`` when one file was rewritten since the previous
     listing: the check fails part-way, then the full listing (what a poll with a change costs)
  i. triggerd ``LocalLister.list()``: the full listing alone
  f. the first poll of a new schedule: 100k snapshot rows inserted in one transaction (a fresh
     database each time; target: a few seconds)
  g. the first poll after a restart: the 100k snapshot rows loaded back, then compared

During the steady-state polls (e) a SQLAlchemy listener counts INSERT/UPDATE/DELETE statements
on the store's engine and the rows they changed: a poll that finds no change must write nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from watchdog.utils.dirsnapshot import DirectorySnapshot

from bench.common import (
    WriteCounter,
    interleaved,
    log,
    machine,
    make_files,
    median,
    quiet_logging,
    ratio_rows,
    table,
    temp_dir,
    utc_now,
    write_config,
)
from triggerd.config import load_config
from triggerd.datastores.filters import DEFAULT_EXCLUDE, FileFilter
from triggerd.datastores.local import LocalLister
from triggerd.engine.poller import DatastorePoller
from triggerd.store import Store, open_store, snapshots


def raw_stat(folder: str) -> None:
    for e in os.scandir(folder):
        e.stat()


def raw_dict(folder: str) -> dict[str, tuple[int, int]]:
    listing = {}
    for e in os.scandir(folder):
        st = e.stat()
        listing[e.name] = (st.st_size, st.st_mtime_ns)
    return listing


def watchdog_snapshot(folder: str) -> DirectorySnapshot:
    return DirectorySnapshot(folder, recursive=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=15, help="steady-state repetitions")
    parser.add_argument("--first-reps", type=int, default=5, help="first-poll repetitions")
    args = parser.parse_args()
    quiet_logging()

    with temp_dir("triggerd-bench-local-") as tmp:
        root = tmp / "store"
        folder = root / "incoming"
        log(f"creating {args.files} files in {folder} ...")
        make_files(folder, args.files)
        config_path = write_config(
            tmp, {"kind": "local", "path": str(root)}, path_on_datastore="incoming", interval="1m"
        )
        config = load_config(config_path)
        schedule = config.schedules["watch"]

        def poller_on(store: Store) -> DatastorePoller:
            return DatastorePoller(schedule, config, store, clock=utc_now, is_enabled=lambda: True)

        # Pre-opened fresh databases for the first-poll repetitions (migrations not timed).
        fresh: list[tuple[Store, DatastorePoller]] = []
        for i in range(args.first_reps):
            store = open_store(f"sqlite:///{tmp / f'fresh{i}' / 'triggerd.db'}")
            fresh.append((store, poller_on(store)))

        steady_store = open_store(f"sqlite:///{tmp / 'steady' / 'triggerd.db'}")
        steady = poller_on(steady_store)
        log("baseline poll + one more poll of the steady-state poller ...")
        steady.poll()
        steady.poll()
        assert len(steady_store.read(snapshots.load, "watch")) == args.files
        file_filter = FileFilter(include=("*",), exclude=DEFAULT_EXCLUDE)
        lister = LocalLister(root, "incoming", file_filter)
        assert len(lister.list()) == args.files  # warm: the next listings are steady state
        assert lister.list_if_changed() is None
        other = root / "changing"  # h rewrites files: a folder of its own, as large
        make_files(other, args.files)
        changing = LocalLister(root, "changing", file_filter)
        changing.list()
        rewritten = iter(sorted(os.listdir(other))[:: max(1, args.files // (args.reps + 2))])

        counter = WriteCounter(steady_store.engine)

        def steady_poll() -> None:
            counter.active = True
            try:
                steady.poll()
            finally:
                counter.active = False

        def first_poll() -> None:
            fresh.pop(0)[1].poll()

        def steady_check() -> None:
            assert lister.list_if_changed() is None

        def one_rewritten() -> None:
            name = next(rewritten)
            os.utime(other / name, ns=(1, 1_600_000_000 * 10**9))
            listing = changing.list_if_changed()
            assert listing is not None and listing[f"changing/{name}"].version.startswith("16")

        def restart_poll() -> None:
            poller_on(steady_store).poll()

        d = str(folder)
        steady_variants: dict[str, Any] = {
            "a": lambda: raw_stat(d),
            "b": lambda: raw_dict(d),
            "c": lambda: watchdog_snapshot(d),
            "d": steady_check,
            "e": steady_poll,
            "h": one_rewritten,
            "i": lister.list,
        }
        log(f"steady state: {args.reps} interleaved repetitions ...")
        started = time.monotonic()
        times = interleaved(steady_variants, args.reps)
        steady_seconds = time.monotonic() - started
        first_variants: dict[str, Any] = {
            "a": lambda: raw_stat(d),
            "f": first_poll,
            "g": restart_poll,
        }
        log(f"first polls: {args.first_reps} interleaved repetitions ...")
        first_times = interleaved(first_variants, args.first_reps)
        counter.close()
        assert len(steady_store.read(snapshots.load, "watch")) == args.files
        steady_store.close()
        for store, _ in fresh:
            store.close()

    labels = {
        "a": "a. raw `os.scandir` + `stat()` (baseline)",
        "b": "b. raw scandir + stat -> dict",
        "c": "c. watchdog `DirectorySnapshot(recursive=False)`",
        "d": "d. triggerd `LocalLister.list_if_changed()`, nothing changed",
        "e": "e. triggerd steady-state `DatastorePoller.poll()` (SQLite)",
        "h": "h. `list_if_changed()` after one file was rewritten",
        "i": "i. triggerd `LocalLister.list()`, the full listing",
        "f": f"f. first poll: baseline of {args.files:,} rows inserted",
        "g": f"g. first poll after a restart ({args.files:,} snapshot rows loaded)",
    }
    print(f"## Local poll, {args.files:,} files in one folder\n")
    print(f"Machine: {machine()}. Wall seconds, median (min-max).\n")
    headers = ["variant", "seconds", "vs a (medians)", "vs a, paired per rep"]
    print(f"Steady state (nothing changed), {args.reps} interleaved repetitions:\n")
    print(table(headers, ratio_rows(times, labels)))
    print(f"\nFirst polls, {args.first_reps} interleaved repetitions (fresh database each):\n")
    print(table(headers, ratio_rows(first_times, labels)))
    ratio = median(times["e"]) / median(times["a"])
    verdict = "met" if ratio <= 1.2 else f"MISSED by {(ratio / 1.2 - 1) * 100:.0f}%"
    print(f"\nTarget steady-state poll <= 1.2x raw scandir+stat: {ratio:.2f}x -> {verdict}.")
    first = median(first_times["f"])
    print(f"First poll (baseline of {args.files:,} rows): median {first:.2f} s.")
    print(counter.report(len(times["a"]), steady_seconds))
    if counter.other_writes:
        raise SystemExit("FAILED: a poll that found no change wrote snapshot or run rows")


if __name__ == "__main__":
    main()
