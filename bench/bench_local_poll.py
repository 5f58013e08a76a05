"""Local folder poll of 100,000 files: triggerd against raw os.scandir and watchdog, same run.

    .venv/bin/python -m bench.bench_local_poll [--files 100000] [--reps 7]

Steady state (nothing changed since the previous poll), interleaved, wall time per listing:

  a. raw ``for e in os.scandir(d): e.stat()``, building nothing (the target's baseline)
  b. raw scandir + stat building a dict name -> (size, st_mtime_ns)
  c. watchdog ``DirectorySnapshot(d, recursive=False)``
  d. triggerd ``LocalLister.list_if_changed()``: the steady-state check (finds nothing)
  e. triggerd ``DatastorePoller.poll()`` on SQLite: check + record nothing (target: <= 1.2x a)
  h. triggerd ``LocalLister.list_if_changed()`` when one file was rewritten since the previous
     listing: the check finds the difference part-way and goes on listing from there, in the
     same scan (what a poll with a change costs; target: <= 1.5x a)
  i. triggerd ``LocalLister.list()``: the full listing alone
  j. triggerd ``DatastorePoller.poll()`` when one file was rewritten since the previous poll:
     h, then settle over every file and the candidate's row written (its own 100k-file folder;
     the two polls after it, which fire the file and find the steady state again, untimed)
  f. the first poll of a new schedule: 100k snapshot rows inserted in one transaction (a fresh
     database each time; target: <= 3x a)
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
    end_on_sigterm,
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
from triggerd.datastores.snapshot import Listing
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
    end_on_sigterm()
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

        steady_poll = counter.counting(steady.poll)

        def first_poll() -> None:
            fresh.pop(0)[1].poll()

        def steady_check() -> None:
            assert lister.list_if_changed() is None

        seen: list[tuple[str, Listing | None]] = []  # checked after the timed runs

        def one_rewritten() -> None:
            name = next(rewritten)
            os.utime(other / name, ns=(1, 1_600_000_000 * 10**9))
            seen.append((name, changing.list_if_changed()))

        polled_folder = root / "polled"  # j: a poller of its own on a third folder, as large
        make_files(polled_folder, args.files)
        (tmp / "j").mkdir()
        polled_config = load_config(
            write_config(
                tmp / "j",
                {"kind": "local", "path": str(root)},
                path_on_datastore="polled",
                interval="1m",
            )
        )
        polled_store = open_store(f"sqlite:///{tmp / 'polled' / 'triggerd.db'}")
        polled = DatastorePoller(
            polled_config.schedules["watch"],
            polled_config,
            polled_store,
            clock=utc_now,
            is_enabled=lambda: True,
        )
        polled.poll()
        polled.poll()
        polled_names = iter(
            sorted(os.listdir(polled_folder))[:: max(1, args.files // (args.reps + 2))]
        )
        poll_times: list[float] = []

        def poll_after_rewrite() -> None:
            os.utime(polled_folder / next(polled_names), ns=(1, 1_600_000_000 * 10**9))
            started = time.perf_counter()
            polled.poll()
            poll_times.append(time.perf_counter() - started)
            polled.poll()  # untimed: the second listing, which fires it
            polled.poll()  # untimed: the steady state again

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
            "j": poll_after_rewrite,
        }
        log(f"steady state: {args.reps} interleaved repetitions ...")
        started = time.monotonic()
        times = interleaved(steady_variants, args.reps)
        steady_seconds = time.monotonic() - started
        times["j"] = poll_times  # the rewrite and the polls after it are not j's cost
        for name, listing in seen:
            assert listing is not None and listing[f"changing/{name}"].version.startswith("16")
        polled_store.close()
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
        "j": "j. triggerd `DatastorePoller.poll()` after one file was rewritten (SQLite)",
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
    print()
    for row, runs, base, target, what in (
        ("e", times, times, 1.2, "steady-state poll"),
        ("h", times, times, 1.5, "listing after one file was rewritten"),
        ("f", first_times, first_times, 3.0, f"first poll (baseline of {args.files:,} rows)"),
    ):
        ratio = median(runs[row]) / median(base["a"])
        verdict = "met" if ratio <= target else f"MISSED by {(ratio / target - 1) * 100:.0f}%"
        print(f"Target {what} <= {target}x raw scandir+stat: {ratio:.2f}x -> {verdict}.")
    first = median(first_times["f"])
    print(f"First poll (baseline of {args.files:,} rows): median {first:.2f} s.")
    print(counter.report(len(times["a"]), steady_seconds))
    if counter.other_writes:
        raise SystemExit("FAILED: a poll that found no change wrote snapshot or run rows")


if __name__ == "__main__":
    main()
