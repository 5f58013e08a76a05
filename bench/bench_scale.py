"""Scale on one daemon: 10,000 schedules loaded and started; fire lateness of 1,000 due at once.

    .venv/bin/python -m bench.bench_scale [--schedules 10000] [--datastores 100] [--reps 3]
                                          [--lateness-schedules 1000] [--skip-lateness]
                                          [--scaling 1000,10000,50000] [--bytecode]

Issue 6, scope item 4 (SQLite, one `triggerd run` process, ``--log-level WARNING``, JSON logs,
``TRIGGERD_HTTP_ADDRESS=127.0.0.1:0``, every pipeline ``kind: command`` with argv ``["true"]``):

1. **Startup.** A config directory (10 YAML files) with 10,000 schedules: 9,900 time schedules,
   a mix of Minute/5, Hour (1, 2, 3, 6), Day (hours + minutes), Week (week days + hours +
   minutes) and Month recurrences in 10 time zones (Windows IDs and IANA names), every one with a
   ``start_time`` in the past (Azure ML: nothing fires at startup), plus 100 datastore schedules,
   each watching its own local folder of 10 files, ``polling_interval: "1m"``. Every slot of the
   mix falls on a whole 5 minutes of UTC (all minutes are multiples of 5, all zone offsets
   multiples of 15 min), and the script starts a daemon only when no 5-minute mark falls within
   its run, so nothing fires while it is measured: idle means idle.
   Measured per repetition (fresh state directory each): the wall time from ``Popen`` to the
   ``READY=1`` datagram on ``NOTIFY_SOCKET`` (a unix datagram socket bound here, as systemd
   does); the CPU the daemon used until then; VmRSS and VmHWM (``/proc/<pid>/status``) 10 s after
   READY; idle CPU, utime+stime from ``/proc/<pid>/stat`` over the next 20 s, as % of one core.
   Then a second start on the last repetition's database (state already there), measured the
   same way, whose window is extended to 60 s so it also holds one round of the 100 polls.
2. **Lateness.** 1,000 schedules Minute/1 (``start_time`` in the past, UTC and 3 other zones)
   on a fresh database; the daemon is started ~12 s before a minute boundary and runs across 2
   boundaries. Per fire: when the run row was committed - ``runs.scheduled_for``: a reader
   thread (``CommitWatch``) reads ``max(id)`` of ``runs`` every ~0.5 ms around each boundary;
   a row is committed after the start of the last read that did not see it and by the start
   of the first that did (reported). Also ``runs.created_at - runs.scheduled_for`` (the clock
   the pass read; the slot itself for a pass prepared ahead of it) and, with
   ``--insert-clock``, the INSERT time of the run row (a SQLite trigger the script adds to its
   own database records ``julianday('now')``, ms resolution, inside the transaction; its own
   INSERT per row lengthens that transaction). p50 / p99 / max in ms over the 2,000 fires, and
   per boundary, and when the last run of each boundary finished.

3. **Scaling** (issue 17, ``--scaling``): for each count, the same mix, ``--reps`` fresh starts
   timed to READY only (stopped at once, no settle or idle window) and one second start on the
   last database; beside each, in the same run, the APScheduler-alone baseline: a Python process
   that imports APScheduler, adds that many ``CronTrigger`` jobs to a ``BackgroundScheduler``
   before ``start()`` and starts it, timed from ``Popen`` to its line after ``start()`` (the
   process also prints its own add and start times).

``--bytecode``: the daemon writes and reads its bytecode in a cache of the run
(``PYTHONPYCACHEPREFIX``, ``PYTHONDONTWRITEBYTECODE`` unset), warmed by one untimed start, as
an installed package runs (pip compiles it at install). Without it the daemon inherits the
environment: under ``PYTHONDONTWRITEBYTECODE=1`` and a source checkout every triggerd module
is compiled from source at every start (the machine line says which).

Targets (issue 6, item 4): start <= 5 s, RSS <= 300 MB, idle <= 2% of one core; lateness p99
(run committed) <= 15 ms (issue 17; was 50 ms, INSERT time). Reported, never asserted.
Temporary folders are removed and daemons stopped at the end; every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import end_on_sigterm, log, machine, make_files, median, spread, table, temp_dir
from tests.support.daemon import DaemonProcess
from tests.support.notify import NotifySocket

START_TARGET_S = 5.0
RSS_TARGET_MB = 300.0
IDLE_TARGET_PCT = 2.0
LATENESS_P99_TARGET_MS = 15.0  # issue 17: scheduled -> run row committed, every boundary
WATCH_BEFORE_S = 0.5  # CommitWatch reads fast from this long before each minute boundary
WATCH_AFTER_S = 1.5  # ... to this long after it
SETTLE_S = 10.0
IDLE_S = 20.0
POLL_WINDOW_S = 60.0
WAIT_LIMIT = 300.0
TICK = os.sysconf("SC_CLK_TCK")

ZONES = [
    "UTC",
    "W. Europe Standard Time",
    "Pacific Standard Time",
    "Tokyo Standard Time",
    "India Standard Time",
    "AUS Eastern Standard Time",
    "Europe/London",
    "America/New_York",
    "Asia/Kathmandu",
    "Australia/Adelaide",
]
WEEK_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PIPELINES = 'pipelines:\n  noop: {kind: command, argv: ["true"]}\n'


# -- config generation -------------------------------------------------------------------------


def _recurrence(i: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """The i-th time recurrence of the mix; every slot falls on a whole 5 minutes."""
    zone = ZONES[i % len(ZONES)]

    def five() -> int:
        return 5 * rng.randrange(12)

    start = f"2024-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}T"
    start += f"{rng.randrange(24):02d}:{five():02d}:00"
    kind = i % 20
    rec: dict[str, Any] = {"time_zone": zone, "start_time": start}
    if kind < 3:  # 15%
        return "Minute/5", {"frequency": "Minute", "interval": 5, **rec}
    if kind < 8:  # 25%
        return "Hour", {"frequency": "Hour", "interval": rng.choice([1, 2, 3, 6]), **rec}
    if kind < 13:  # 25%
        hours = sorted(rng.sample(range(24), rng.randint(1, 3)))
        return "Day", {
            "frequency": "Day",
            "interval": rng.choice([1, 1, 2]),
            "hours": hours,
            "minutes": sorted({five(), five()}),
            **rec,
        }
    if kind < 17:  # 20%
        days = [d for d in WEEK_DAYS if rng.random() < 0.4] or ["Monday"]
        return "Week", {
            "frequency": "Week",
            "interval": 1,
            "week_days": days,
            "hours": [rng.randrange(24)],
            "minutes": [five()],
            **rec,
        }
    return "Month", {"frequency": "Month", "interval": rng.choice([1, 1, 3]), **rec}  # 15%


def write_scale_config(root: Path, schedules: int, datastores: int) -> dict[str, int]:
    """A config directory under ``root/config``; returns how many schedules of each kind."""
    rng = random.Random(6)
    config = root / "config"
    config.mkdir(parents=True)
    data = root / "data"
    for d in range(datastores):
        make_files(data / f"w{d:03d}", 10)
    (config / "00-common.yaml").write_text(
        "datastores:\n  files: "
        + json.dumps({"kind": "local", "path": str(data)})
        + "\n"
        + PIPELINES,
        encoding="utf-8",
    )
    kinds: dict[str, int] = {}
    lines_by_file: list[list[str]] = [[] for _ in range(10)]
    for d in range(datastores):
        entry: dict[str, Any] = {
            "name": f"ds{d:03d}",
            "pipeline": "noop",
            "datastore": "files",
            "path_on_datastore": f"w{d:03d}",
            "polling_interval": "1m",
        }
        lines_by_file[d % 10].append("  - " + json.dumps(entry))
    kinds["datastore (10 files, 1m)"] = datastores
    for i in range(schedules - datastores):
        kind, recurrence = _recurrence(i, rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        entry = {"name": f"t{i:05d}", "pipeline": "noop", "recurrence": recurrence}
        lines_by_file[i % 10].append("  - " + json.dumps(entry))
    for n, lines in enumerate(lines_by_file):
        body = "schedules:\n" + "\n".join(lines) + "\n" if lines else "schedules: []\n"
        (config / f"schedules-{n}.yaml").write_text(body, encoding="utf-8")
    return kinds


def write_lateness_config(root: Path, count: int) -> Path:
    config = root / "lateness"
    config.mkdir(parents=True)
    zones = ["UTC", "W. Europe Standard Time", "America/New_York", "India Standard Time"]
    lines = [
        "  - "
        + json.dumps(
            {
                "name": f"m{i:04d}",
                "pipeline": "noop",
                "recurrence": {
                    "frequency": "Minute",
                    "interval": 1,
                    "start_time": "2024-01-01T00:00:00",
                    "time_zone": zones[i % len(zones)],
                },
            }
        )
        for i in range(count)
    ]
    (config / "config.yaml").write_text(
        PIPELINES + "schedules:\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    return config


# -- the daemon and /proc ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its own threads, not its children)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / 1e6
    return values


BYTECODE_ENV: dict[str, str] = {}  # set by --bytecode: a bytecode cache for the daemon


def start_daemon(config: Path, state: Path, notify: NotifySocket) -> tuple[DaemonProcess, float]:
    env = {"NOTIFY_SOCKET": str(notify.path), "TRIGGERD_HTTP_ADDRESS": "127.0.0.1:0"}
    env.update(BYTECODE_ENV)
    started = time.monotonic()
    daemon = DaemonProcess(config, state, "--log-level", "WARNING", env=env)
    return daemon, started


def stop(daemon: DaemonProcess) -> None:
    if daemon.proc.poll() is None:
        daemon.signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except Exception:
            daemon.kill()


def seconds_to_mark(period: float = 300.0) -> float:
    """Seconds until the next multiple of ``period`` seconds of UTC (5-minute marks)."""
    return period - time.time() % period


def avoid_marks(needed: float, period: float = 300.0) -> None:
    """Sleep past the next mark if a run of ``needed`` seconds would cross it."""
    left = seconds_to_mark(period)
    if left < needed:
        log(f"  waiting {left + 2:.0f} s: a {period / 60:.0f}-minute mark would fall in the run")
        time.sleep(left + 2)


@contextlib.contextmanager
def ready_daemon(
    config: Path, state: Path, tmp: Path, label: str
) -> Iterator[tuple[DaemonProcess, dict[str, float]]]:
    """A daemon started and READY, with what its start cost (``start_s``, ``start_cpu_s``,
    ``hwm_at_ready``, and ``ready_at`` on the monotonic clock); stopped on the way out."""
    notify = NotifySocket(tmp / f"notify-{label}.sock")
    daemon, started = start_daemon(config, state, notify)
    try:
        daemon.wait_for(lambda: notify.ready_at, WAIT_LIMIT, "READY=1")
        assert notify.ready_at is not None
        pid = daemon.proc.pid
        yield (
            daemon,
            {
                "ready_at": notify.ready_at,
                "start_s": notify.ready_at - started,
                "start_cpu_s": cpu_seconds(pid),
                "hwm_at_ready": memory_mb(pid)["VmHWM"],
            },
        )
    finally:
        stop(daemon)
        notify.close()


def start_span(window: float) -> float:
    """Seconds a ``measure_start`` with this window may take, stop included."""
    return 8 + SETTLE_S + window + 15


def measure_start(
    config: Path, state: Path, tmp: Path, label: str, window: float, reserve: float = 0.0
) -> dict[str, float]:
    """Start, wait for READY, settle, measure idle CPU over ``window`` s, stop.

    ``reserve`` keeps that many more seconds clear of a 5-minute mark after this start: the
    next start runs on this database, and a mark passed while the daemon was down would (rightly)
    fire its missed slots under ``catchup: latest`` at that next start.
    """
    avoid_marks(start_span(window) + reserve)
    with ready_daemon(config, state, tmp, label) as (daemon, result):
        pid = daemon.proc.pid
        time.sleep(max(0.0, result["ready_at"] + SETTLE_S - time.monotonic()))
        mem = memory_mb(pid)
        result["rss"], result["hwm"] = mem["VmRSS"], mem["VmHWM"]
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(IDLE_S)
        cpu1, t1 = cpu_seconds(pid), time.monotonic()
        result["idle_pct"] = 100 * (cpu1 - cpu0) / (t1 - t0)
        if window > IDLE_S:
            time.sleep(window - IDLE_S)
            cpu2, t2 = cpu_seconds(pid), time.monotonic()
            result["window_pct"] = 100 * (cpu2 - cpu0) / (t2 - t0)
            result["rss_end"] = memory_mb(pid)["VmRSS"]
        problems = [e for e in daemon.events if e.get("level") in ("warning", "error")]
        result["problems"] = float(len(problems))
        for p in problems[:3]:
            log(f"    {p.get('level')}: {p.get('event')} {p.get('reason') or p.get('error') or ''}")
    with sqlite3.connect(f"file:{state / 'triggerd.db'}?mode=ro", uri=True) as db:
        result["runs"] = float(db.execute("SELECT count(*) FROM runs").fetchone()[0])
        result["states"] = float(db.execute("SELECT count(*) FROM schedule_state").fetchone()[0])
    log(
        f"  {label}: READY after {result['start_s']:.2f} s (cpu {result['start_cpu_s']:.2f} s), "
        f"rss {result['rss']:.1f} MB, hwm {result['hwm']:.1f} MB, idle {result['idle_pct']:.2f}%"
        + (f", 60 s window {result['window_pct']:.2f}%" if "window_pct" in result else "")
        + f", runs {result['runs']:.0f}, states {result['states']:.0f}"
    )
    return result


def measure_ready(config: Path, state: Path, tmp: Path, label: str) -> dict[str, float]:
    """Start, wait for READY, stop at once: the start alone (``--scaling``)."""
    avoid_marks(8 + 60)
    with ready_daemon(config, state, tmp, label) as (_, result):
        pass
    log(
        f"  {label}: READY after {result['start_s']:.2f} s (cpu {result['start_cpu_s']:.2f} s), "
        f"hwm {result['hwm_at_ready']:.1f} MB"
    )
    return result


# APScheduler alone: ``count`` cron jobs added before start(), then started (the reference).
APSCHEDULER_ALONE = """
import random, sys, time
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
count, rng = int(sys.argv[1]), random.Random(17)
def job():
    pass
scheduler = BackgroundScheduler(timezone="UTC")
began = time.perf_counter()
for i in range(count):
    minute, hour = 5 * rng.randrange(12), rng.randrange(24)
    scheduler.add_job(job, CronTrigger(minute=minute, hour=hour, timezone="UTC"), id=f"j{i}")
added = time.perf_counter()
scheduler.start()
print(f"started {added - began:.4f} {time.perf_counter() - added:.4f}", flush=True)
scheduler.shutdown(wait=False)
"""


def measure_apscheduler(count: int) -> dict[str, float]:
    """Wall time from Popen to APScheduler-alone's line after start(); its add and start."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", APSCHEDULER_ALONE, str(count)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **BYTECODE_ENV},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    wall = time.monotonic() - started
    proc.wait(timeout=60)
    _, add_s, start_s = line.split()
    log(f"  APScheduler alone, {count} jobs: {wall:.2f} s (add {add_s} s, start {start_s} s)")
    return {"wall_s": wall, "add_s": float(add_s), "start_s": float(start_s)}


def measure_scaling(tmp: Path, counts: list[int], datastores: int, reps: int) -> list[Any]:
    """Per count: fresh starts, one second start, APScheduler alone, interleaved per rep."""
    rows = []
    for count in counts:
        root = tmp / f"scale-{count}"
        write_scale_config(root, count, min(datastores, count // 10))
        fresh, alone = [], []
        for rep in range(reps):
            state = root / f"state{rep}"
            fresh.append(measure_ready(root / "config", state, tmp, f"{count}-{rep}"))
            alone.append(measure_apscheduler(count))
        again = measure_ready(root / "config", root / f"state{reps - 1}", tmp, f"{count}-again")
        rows.append((count, fresh, again, alone))
    return rows


def print_scaling(rows: list[Any]) -> None:
    print("### Startup by number of schedules (READY only)\n")
    lines = []
    for count, fresh, again, alone in rows:
        ready = [r["start_s"] for r in fresh]
        lines.append(
            [
                f"{count:,}",
                spread(ready, digits=2),
                f"{again['start_s']:.2f}",
                spread([r["start_cpu_s"] for r in fresh], digits=2),
                spread([r["hwm_at_ready"] for r in fresh], digits=0),
                spread([a["wall_s"] for a in alone], digits=2),
                f"{median([a['add_s'] for a in alone]) / count * 1e6:.0f}",
                f"{median(ready) / count * 1e6:.0f}",
            ]
        )
    print(
        table(
            [
                "schedules",
                "fresh: Popen -> READY, s",
                "second start, s",
                "daemon CPU until READY, s",
                "VmHWM at READY, MB",
                "APScheduler alone (cron jobs added, started), s",
                "APScheduler add, µs a job",
                "daemon, µs a schedule (whole start)",
            ],
            lines,
        )
    )
    print()


# -- lateness ----------------------------------------------------------------------------------

# The run row's INSERT time, in unix seconds (SQLite's 'now' has millisecond resolution).
INSERT_TABLE = "CREATE TABLE bench_inserted (run_id INTEGER PRIMARY KEY, at REAL NOT NULL);"
# Only with --insert-clock: the trigger's own INSERT per row lengthens the transaction it times.
INSERT_CLOCK = """
CREATE TRIGGER bench_inserted_at AFTER INSERT ON runs BEGIN
  INSERT INTO bench_inserted VALUES (new.id, (julianday('now') - 2440587.5) * 86400.0);
END;
"""


def prepare_database(state: Path, insert_clock: bool) -> None:
    from triggerd.store.db import open_store

    store = open_store(f"sqlite:///{state / 'triggerd.db'}")
    store.close()
    with sqlite3.connect(state / "triggerd.db") as db:
        db.executescript(INSERT_TABLE + (INSERT_CLOCK if insert_clock else ""))


class CommitWatch:
    """When the runs became visible to a reader: a thread that reads ``max(id)`` of ``runs``
    every ~0.5 ms from ``WATCH_BEFORE_S`` before each minute boundary to ``WATCH_AFTER_S`` after
    it (and once a second otherwise). A row is committed by the start of the first read that
    saw its id (its snapshot began then), and after the start of the read before it (which
    did not see it)."""

    def __init__(self, db_path: Path) -> None:
        self._path = db_path
        # (read started, unix s; max id it saw; when the read before it started)
        self.samples: list[tuple[float, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CommitWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
        try:
            seen, previous = -1, 0.0
            while not self._stop.is_set():
                left = seconds_to_mark(60)
                near = left < WATCH_BEFORE_S or 60 - left < WATCH_AFTER_S
                if not near:
                    self._stop.wait(min(0.2, left - WATCH_BEFORE_S))
                    continue
                began = time.time()
                top = db.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
                if top != seen:
                    self.samples.append((began, top, previous))
                    seen = top
                previous = began
                time.sleep(0.0005)
        finally:
            db.close()

    def committed_by(self, run_id: int) -> tuple[float, float] | None:
        """When ``run_id`` was committed (unix s): after the start of the last read that did
        not see it, by the start of the first read that did."""
        for began, top, previous in self.samples:
            if top >= run_id:
                return previous, began
        return None


def parse_utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_lateness(tmp: Path, count: int, insert_clock: bool = False) -> dict[str, Any]:
    config = write_lateness_config(tmp, count)
    state = tmp / "state-lateness"
    prepare_database(state, insert_clock)
    left = seconds_to_mark(60)
    if left < 14:
        log(f"  waiting {left:.0f} s for the next minute")
        time.sleep(left)
        left = seconds_to_mark(60)
    if left > 14:
        time.sleep(left - 14)
    notify = NotifySocket(tmp / "notify-lateness.sock")
    daemon, started = start_daemon(config, state, notify)
    db_path = state / "triggerd.db"
    try:
        daemon.wait_for(lambda: notify.ready_at, WAIT_LIMIT, "READY=1")
        assert notify.ready_at is not None
        log(
            f"  READY after {notify.ready_at - started:.2f} s, "
            f"{seconds_to_mark(60):.1f} s before the first boundary"
        )
        deadline = time.monotonic() + seconds_to_mark(60) + 60 + 60

        def done() -> bool:
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                n = db.execute(
                    "SELECT count(*) FROM runs WHERE status IN ('succeeded', 'failed')"
                ).fetchone()[0]
            return bool(n >= 2 * count)

        with CommitWatch(db_path) as watch:
            while time.monotonic() < deadline and not done():
                time.sleep(1)
        hwm = memory_mb(daemon.proc.pid)["VmHWM"]
    finally:
        stop(daemon)
        notify.close()
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT r.id, r.scheduled_for, r.created_at, r.finished_at, r.status, b.at "
            "FROM runs r LEFT JOIN bench_inserted b ON b.run_id = r.id WHERE r.trigger = 'time'"
        ).fetchall()
    by_slot: dict[str, list[tuple[float, float, float | None, float, float]]] = {}
    statuses: dict[str, int] = {}
    for run_id, scheduled, created, finished, status, inserted in rows:
        slot = parse_utc(scheduled)
        seen = watch.committed_by(run_id)
        by_slot.setdefault(scheduled, []).append(
            (
                (parse_utc(created) - slot) * 1000,
                (inserted - slot) * 1000 if inserted is not None else float("nan"),
                (parse_utc(finished) - slot) if finished else None,
                (seen[1] - slot) * 1000 if seen is not None else float("nan"),
                (seen[0] - slot) * 1000 if seen is not None else float("nan"),
            )
        )
        statuses[status] = statuses.get(status, 0) + 1
    slots = sorted(by_slot)[:2]
    fires = [f for s in slots for f in by_slot[s]]
    return {
        "slots": {s: by_slot[s] for s in slots},
        "created": [f[0] for f in fires],
        "inserted": [f[1] for f in fires if f[1] == f[1]],  # (NaN: no --insert-clock)
        "committed": [f[3] for f in fires],
        "statuses": statuses,
        "hwm": hwm,
        "all_slots": {s: len(v) for s, v in sorted(by_slot.items())},
    }


# -- main --------------------------------------------------------------------------------------


def stat(values: list[float], of: Callable[[list[float]], float]) -> str:
    """``of(values)`` in ms, NaNs left out (no INSERT time without --insert-clock): "-" if none."""
    kept = [v for v in values if v == v]
    return f"{of(kept):.1f}" if kept else "-"


def verdict(value: float, target: float, unit: str) -> str:
    if value <= target:
        return "met"
    return f"**MISSED** ({value:.2f} {unit} > {target:g} {unit})"


def main() -> None:
    end_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--datastores", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--lateness-schedules", type=int, default=1000)
    parser.add_argument("--skip-lateness", action="store_true")
    parser.add_argument(
        "--insert-clock",
        action="store_true",
        help="also time each run row's INSERT (a SQLite trigger; it slows the transaction)",
    )
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument(
        "--scaling", default="", help="comma-separated schedule counts, e.g. 1000,10000,50000"
    )
    parser.add_argument("--bytecode", action="store_true", help="a bytecode cache (see above)")
    args = parser.parse_args()
    began = time.monotonic()
    counts = [int(c) for c in args.scaling.split(",") if c.strip()]

    with temp_dir("triggerd-bench-scale-") as tmp:
        if args.bytecode:
            BYTECODE_ENV["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
            BYTECODE_ENV["PYTHONDONTWRITEBYTECODE"] = ""
            root = tmp / "warm-up"
            write_scale_config(root, 100, 10)
            measure_ready(root / "config", root / "state", tmp, "warm-up (bytecode written)")
            measure_apscheduler(10)
        fresh: list[dict[str, float]] = []
        restart: dict[str, float] = {}
        kinds: dict[str, int] = {}
        if not args.skip_startup:
            kinds = write_scale_config(tmp, args.schedules, args.datastores)
            log(f"config: {args.schedules} schedules {kinds}")
            for rep in range(args.reps):
                state = tmp / f"state{rep}"
                last = rep == args.reps - 1
                reserve = start_span(POLL_WINDOW_S) if last else 0.0
                fresh.append(
                    measure_start(tmp / "config", state, tmp, f"fresh{rep}", IDLE_S, reserve)
                )
            restart = measure_start(
                tmp / "config", tmp / f"state{args.reps - 1}", tmp, "restart", POLL_WINDOW_S
            )
        scaling = measure_scaling(tmp, counts, args.datastores, args.reps) if counts else []
        late: dict[str, Any] | None = None
        if not args.skip_lateness:
            log(f"lateness: {args.lateness_schedules} Minute/1 schedules ...")
            late = measure_lateness(tmp, args.lateness_schedules, args.insert_clock)

    bytecode = (
        "bytecode cache (--bytecode)"
        if args.bytecode
        else f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}"
    )
    print(f"## Scale, one daemon (SQLite), issue 6 item 4\n\nMachine: {machine()}; {bytecode}.\n")
    if scaling:
        print_scaling(scaling)
    if fresh:
        mix = ", ".join(f"{k} {v:,}" for k, v in kinds.items())
        print(f"### Startup with {args.schedules:,} schedules ({mix})\n")
        print(
            f"{args.reps} repetitions on a fresh state directory each, then one start on the "
            "last repetition's database. MB = 10^6 bytes. Idle CPU over "
            f"{IDLE_S:.0f} s from {SETTLE_S:.0f} s after READY (no slot due, no poll in it).\n"
        )

        def col(key: str) -> list[float]:
            return [r[key] for r in fresh]

        def one(key: str, digits: int) -> str:
            return f"{restart[key]:.{digits}f}"

        rows = [
            [
                "fresh database (median, range)",
                spread(col("start_s"), digits=2),
                spread(col("start_cpu_s"), digits=2),
                spread(col("rss"), digits=1),
                spread(col("hwm"), digits=1),
                spread(col("idle_pct"), digits=2),
                f"{median(col('runs')):.0f}",
            ],
            [
                "second start on that database",
                one("start_s", 2),
                one("start_cpu_s", 2),
                one("rss", 1),
                one("hwm", 1),
                one("idle_pct", 2),
                f"{restart['runs']:.0f}",
            ],
        ]
        print(
            table(
                [
                    "start",
                    "Popen -> READY=1, s",
                    "daemon CPU until READY, s",
                    "VmRSS 10 s after READY, MB",
                    "VmHWM, MB",
                    "idle CPU, % of one core",
                    "runs recorded",
                ],
                rows,
            )
        )
        print(
            f"\nSecond start, CPU over {POLL_WINDOW_S:.0f} s from {SETTLE_S:.0f} s after READY "
            f"(one round of the {args.datastores} polls in it): {restart['window_pct']:.2f}% of "
            f"one core; VmRSS at its end {restart['rss_end']:.1f} MB.\n"
        )
        start_worst = max(median(col("start_s")), restart["start_s"])
        rss_worst = max(median(col("hwm")), restart["hwm"])
        idle_worst = max(median(col("idle_pct")), restart["idle_pct"])
        print(
            f"Target start <= {START_TARGET_S:g} s: {start_worst:.2f} s -> "
            f"{verdict(start_worst, START_TARGET_S, 's')}."
        )
        print(
            f"Target RSS (peak, VmHWM) <= {RSS_TARGET_MB:g} MB: {rss_worst:.1f} MB -> "
            f"{verdict(rss_worst, RSS_TARGET_MB, 'MB')}."
        )
        print(
            f"Target idle <= {IDLE_TARGET_PCT:g}% of one core: {idle_worst:.2f}% -> "
            f"{verdict(idle_worst, IDLE_TARGET_PCT, '%')}.\n"
        )
    if late is not None:
        n = args.lateness_schedules
        print(f"### Fire lateness, {n:,} schedules Minute/1 due on the same boundaries\n")
        rows = []
        for label, key in (
            ("`created_at` - `scheduled_for` (tick starts planning)", "created"),
            ("run row INSERTed - `scheduled_for` (inside the transaction)", "inserted"),
            ("run row committed (seen by a reader) - `scheduled_for`", "committed"),
        ):
            values = late[key]
            if not values:
                continue  # no --insert-clock
            rows.append(
                [
                    label,
                    str(len(values)),
                    f"{percentile(values, 0.5):.1f}",
                    f"{percentile(values, 0.99):.1f}",
                    f"{max(values):.1f}",
                ]
            )
        print(table(["lateness", "fires", "p50 ms", "p99 ms", "max ms"], rows))
        rows = []
        for slot, fires in late["slots"].items():
            inserted = [f[1] for f in fires]
            committed = [f[3] for f in fires]
            unseen = [f[4] for f in fires]
            finished = [f[2] for f in fires if f[2] is not None]
            rows.append(
                [
                    slot,
                    str(len(fires)),
                    stat(inserted, min),
                    stat(inserted, statistics.median),
                    stat(inserted, max),
                    f"{min(unseen):.1f}",
                    f"{min(committed):.1f}",
                    f"{max(committed):.1f}",
                    f"{max(finished):.1f}" if finished else "-",
                ]
            )
        print()
        print(
            table(
                [
                    "boundary (UTC)",
                    "fires",
                    "first inserted, ms",
                    "median inserted, ms",
                    "last inserted, ms",
                    "first row not yet seen at, ms",
                    "first committed, ms",
                    "last committed, ms",
                    "last run finished, s",
                ],
                rows,
            )
        )
        print(
            f"\nRun statuses: {late['statuses']}; fires per slot: {late['all_slots']}; "
            f"daemon VmHWM {late['hwm']:.1f} MB."
        )
        p99 = percentile(late["committed"], 0.99)
        print(
            "\nCommitted = the start of the first read (every ~0.5 ms) that saw the row: an "
            "upper bound, within one read's period of the commit; 'not yet seen at' is the start "
            "of the read before it (the commit came after it: >= 0 means after the slot)."
        )
        print(
            f"Target lateness p99 <= {LATENESS_P99_TARGET_MS:g} ms (run committed): "
            f"{p99:.1f} ms -> {verdict(p99, LATENESS_P99_TARGET_MS, 'ms')}."
        )
    log(f"wall time {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
