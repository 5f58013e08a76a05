"""Time-fire lateness while a large poll runs in the same process.

    .venv/bin/python -m bench.bench_lateness [--files 100000] [--jobs 50] [--seconds 10] [--reps 3]

An APScheduler ``BackgroundScheduler`` configured as triggerd's ``TimeScheduler`` (UTC, default
thread pool, ``misfire_grace_time=None``, ``coalesce=True``, ``max_instances=1``) runs ``--jobs``
interval jobs every 1 s, their start times spread evenly over the second. Each job returns the
time it started; lateness = start - scheduled run time (from ``EVENT_JOB_EXECUTED``). Measured
for ``--seconds`` in three conditions, interleaved, ``--reps`` times:

  idle   nothing else runs in the process
  raw    a thread loops ``for e in os.scandir(d): e.stat()`` over the 100k-file folder
  poll   a thread loops ``DatastorePoller.poll()`` (steady state, SQLite) over that folder
  first  a thread loops first polls of new schedules: 100k snapshot rows inserted each time
         (into fresh SQLite databases opened before the window)

No target: it documents how much one busy pure-Python thread delays time fires (the GIL).
Fires coalesced or missed are counted against the fires the window should have had.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bench.common import (
    log,
    machine,
    make_files,
    median,
    quiet_logging,
    spread,
    table,
    temp_dir,
    utc_now,
    write_config,
)
from triggerd.config import load_config
from triggerd.engine.poller import DatastorePoller
from triggerd.store import Store, open_store

FIRST_POLL_POOL = 8  # fresh databases per window of the "first" condition (~2 s per poll)


def job() -> datetime:
    return datetime.now(UTC)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def run_window(jobs: int, seconds: float, load: Callable[[], object] | None) -> dict[str, float]:
    """One measurement: lateness of the fires scheduled in a ``seconds`` window, in ms."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
    )
    lateness: list[float] = []
    missed = [0]
    lock = threading.Lock()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    end = start + timedelta(seconds=seconds)

    def listener(event: Any) -> None:
        if event.scheduled_run_time < start or event.scheduled_run_time >= end:
            return
        with lock:
            if isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_EXECUTED:
                late = (event.retval - event.scheduled_run_time).total_seconds()
                lateness.append(late * 1000)
            else:
                missed[0] += 1

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    for i in range(jobs):
        scheduler.add_job(
            job,
            IntervalTrigger(
                seconds=1, start_date=start + timedelta(seconds=i / jobs), timezone=UTC
            ),
            id=f"j{i}",
        )
    stop = threading.Event()
    rounds = [0]

    def busy() -> None:
        assert load is not None
        while not stop.is_set():
            load()
            rounds[0] += 1

    worker = threading.Thread(target=busy, daemon=True) if load else None
    scheduler.start()
    if worker:
        worker.start()
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 1.5)  # late fires land
    stop.set()
    if worker:
        worker.join(timeout=60)
    scheduler.shutdown(wait=True)
    expected = jobs * seconds
    values = sorted(lateness)
    return {
        "p50": percentile(values, 0.50),
        "p99": percentile(values, 0.99),
        "max": values[-1] if values else float("nan"),
        "executed": float(len(values)),
        "expected": float(expected),
        "missed": float(missed[0]),
        "rounds": float(rounds[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    quiet_logging()

    with temp_dir("triggerd-bench-lateness-") as tmp:
        root = tmp / "store"
        folder = root / "incoming"
        log(f"creating {args.files} files ...")
        make_files(folder, args.files)
        config = load_config(
            write_config(
                tmp,
                {"kind": "local", "path": str(root)},
                path_on_datastore="incoming",
                interval="1m",
            )
        )
        store = open_store(f"sqlite:///{tmp / 'state' / 'triggerd.db'}")

        def new_poller(on: Store) -> DatastorePoller:
            return DatastorePoller(
                config.schedules["watch"], config, on, clock=utc_now, is_enabled=lambda: True
            )

        poller = new_poller(store)
        poller.poll()  # the baseline
        poller.poll()
        d = str(folder)

        def raw() -> None:
            for e in os.scandir(d):
                e.stat()

        fresh_count = [0]

        def first_polls() -> tuple[Callable[[], object], Callable[[], None]]:
            """A load of first polls on fresh databases, and its clean-up."""
            pool = []
            for _ in range(FIRST_POLL_POOL):
                fresh_count[0] += 1
                fresh = open_store(f"sqlite:///{tmp / f'fresh{fresh_count[0]}' / 'triggerd.db'}")
                pool.append((fresh, new_poller(fresh)))
            used = list(pool)

            def load() -> None:
                if not pool:
                    time.sleep(0.05)  # all used: idle until the window ends
                    return
                pool.pop(0)[1].poll()

            def clean() -> None:
                for fresh, fresh_poller in used:
                    fresh_poller.close()
                    fresh.close()

            return load, clean

        loads: dict[str, Callable[[], tuple[Callable[[], object], Callable[[], None]]] | None] = {
            "idle": None,
            "raw": lambda: (raw, lambda: None),
            "poll": lambda: (poller.poll, lambda: None),
            "first": first_polls,
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in loads}
        names = list(loads)
        for rep in range(args.reps):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                factory = loads[name]
                load, clean = factory() if factory else (None, lambda: None)
                try:
                    result = run_window(args.jobs, args.seconds, load)
                finally:
                    clean()
                results[name].append(result)
                log(
                    f"  rep {rep + 1}/{args.reps} {name}: p50={result['p50']:.1f} "
                    f"p99={result['p99']:.1f} max={result['max']:.1f} ms, "
                    f"fired {result['executed']:.0f}/{result['expected']:.0f}, "
                    f"load rounds {result['rounds']:.0f}"
                )
        poller.close()
        store.close()

    labels = {
        "idle": "idle (baseline)",
        "raw": "a thread looping raw `os.scandir` + `stat()` over 100k files",
        "poll": "a thread looping steady-state `DatastorePoller.poll()` over 100k files",
        "first": "a thread looping first polls (100k snapshot rows inserted each)",
    }
    rows = []
    for name, runs in results.items():

        def col(key: str, runs: list[dict[str, float]] = runs) -> list[float]:
            return [r[key] for r in runs]

        executed = sum(col("executed"))
        expected = sum(col("expected"))
        rows.append(
            [
                labels[name],
                spread(col("p50"), digits=1),
                spread(col("p99"), digits=1),
                spread(col("max"), digits=1),
                f"{executed:.0f}/{expected:.0f} ({sum(col('missed')):.0f} missed)",
                f"{median(col('rounds')) / args.seconds:.2f}" if name != "idle" else "-",
            ]
        )
    print(f"## Time-fire lateness while a {args.files:,}-file poll runs\n")
    print(
        f"Machine: {machine()}. {args.jobs} interval jobs every 1 s for {args.seconds} s, "
        f"{args.reps} interleaved repetitions; lateness in ms, median (min-max) over the "
        "repetitions of each window's percentile.\n"
    )
    print(
        table(
            [
                "condition",
                "p50 ms",
                "p99 ms",
                "max ms",
                "fires executed/expected",
                "load rounds per s",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
