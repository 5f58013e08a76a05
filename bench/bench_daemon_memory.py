"""Daemon memory: `triggerd run` as a process watching 100,000 files, against an empty folder.

    .venv/bin/python -m bench.bench_daemon_memory [--files 100000] [--reps 3]

Each repetition starts the daemon (SQLite in a fresh state directory) on a config with one
datastore schedule (polling_interval "2s") watching the 100k-file folder or an empty one, or
restarts it on the database a 100k run left (the snapshot rows are loaded back). It waits for
the 3rd ``poll.completed`` event (the first poll is the baseline), reads VmRSS and VmHWM from
/proc/<pid>/status, waits for the 6th poll and reads them again (memory must not grow from poll
to poll), then stops the daemon with SIGTERM. The order of the configurations alternates.
Target: RSS <= 150 MB with 100,000 files watched (``--target-mb``: 900 MB with 1,000,000).
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from bench.common import (
    end_on_sigterm,
    log,
    machine,
    make_files,
    median,
    spread,
    table,
    temp_dir,
    write_config,
)
from tests.support.daemon import DaemonProcess

TARGET_MB = 150.0
STARTUP_TIMEOUT = 600.0  # seconds, for each awaited poll (a first poll of 1,000,000 files)


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB (10^6 bytes)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / 1e6
    return values


def measure(tmp: Path, root: Path, label: str, state: Path) -> dict[str, float]:
    config = write_config(
        tmp / label,
        {"kind": "local", "path": str(root)},
        path_on_datastore="incoming",
        interval="2s",
    )
    daemon = DaemonProcess(config, state)
    try:
        daemon.wait_for(
            lambda: len(daemon.named("poll.completed")) >= 3, STARTUP_TIMEOUT, "3 polls"
        )
        at3 = memory_mb(daemon.proc.pid)
        daemon.wait_for(
            lambda: len(daemon.named("poll.completed")) >= 6, STARTUP_TIMEOUT, "6 polls"
        )
        at6 = memory_mb(daemon.proc.pid)
        polls = daemon.named("poll.completed")
        entries = polls[-1].get("entries")
        durations = [float(p.get("duration_ms", 0)) for p in polls[1:]]
        daemon.signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    finally:
        if daemon.proc.poll() is None:
            daemon.kill()
    log(
        f"  {label}: entries={entries} rss@3={at3['VmRSS']:.1f} rss@6={at6['VmRSS']:.1f} "
        f"hwm={at6['VmHWM']:.1f} MB"
    )
    return {
        "rss3": at3["VmRSS"],
        "rss6": at6["VmRSS"],
        "hwm": at6["VmHWM"],
        "entries": float(entries or 0),
        "poll_s": median(durations) / 1000 if durations else 0.0,
    }


def main() -> None:
    end_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--target-mb", type=float, default=TARGET_MB, help="900 at 1,000,000")
    args = parser.parse_args()

    with temp_dir("triggerd-bench-memory-") as tmp:
        full = tmp / "full"
        empty = tmp / "empty"
        log(f"creating {args.files} files ...")
        make_files(full / "incoming", args.files)
        (empty / "incoming").mkdir(parents=True)
        results: dict[str, list[dict[str, float]]] = {"empty": [], "full": [], "restart": []}
        for rep in range(args.reps):
            # "restart" runs on the database "full" left: the 100k snapshot rows are loaded back.
            order = ["empty", "full", "restart"] if rep % 2 == 0 else ["full", "restart", "empty"]
            for label in order:
                root = empty if label == "empty" else full
                state = tmp / f"state-{'full' if label == 'restart' else label}{rep}"
                (tmp / f"{label}{rep}").mkdir()
                results[label].append(measure(tmp, root, f"{label}{rep}", state))

    def col(label: str, key: str) -> list[float]:
        return [r[key] for r in results[label]]

    rows = []
    names = {
        "empty": "daemon, empty folder (baseline)",
        "full": f"daemon, {args.files:,} files (first poll = baseline inserted)",
        "restart": f"daemon restarted on that database ({args.files:,} rows loaded)",
    }
    for label in ("empty", "full", "restart"):
        rows.append(
            [
                names[label],
                f"{median(col(label, 'entries')):,.0f}",
                spread(col(label, "rss3"), digits=1),
                spread(col(label, "rss6"), digits=1),
                spread(col(label, "hwm"), digits=1),
                spread(col(label, "poll_s"), digits=3),
            ]
        )
    print(f"## Daemon memory, `triggerd run` watching {args.files:,} files\n")
    print(f"Machine: {machine()}. {args.reps} repetitions each, alternating; MB = 10^6 bytes.\n")
    print(
        table(
            [
                "configuration",
                "entries",
                "VmRSS after poll 3, MB",
                "VmRSS after poll 6, MB",
                "VmHWM (peak), MB",
                "steady poll (from log), s",
            ],
            rows,
        )
    )
    rss = max(median(col("full", "rss6")), median(col("restart", "rss6")))
    hwm = max(median(col("full", "hwm")), median(col("restart", "hwm")))
    extra = rss - median(col("empty", "rss6"))
    per_file = extra * 1e6 / args.files if args.files else 0.0
    print(
        f"\nWatching {args.files:,} files costs {extra:.1f} MB over the empty-folder daemon "
        f"(~{per_file:.0f} bytes per file)."
    )
    for name, value in (("RSS", rss), ("peak RSS (VmHWM)", hwm)):
        target = args.target_mb
        verdict = "met" if value <= target else f"MISSED by {value - target:.1f} MB"
        print(f"Target {name} <= {target:.0f} MB: {value:.1f} MB -> {verdict}.")


if __name__ == "__main__":
    main()
