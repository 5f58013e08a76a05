"""Shared helpers of the benchmarks: fixtures, interleaved timing, statistics, markdown tables.

Every benchmark measures triggerd and its raw baseline in the same run, interleaved (the order
of the variants rotates from one repetition to the next), and reports the median and the range
(min-max) of N repetitions. Nothing here is a test: targets are reported, never asserted by
pytest.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


# -- statistics and tables ---------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    med = median(values) * scale
    lo, hi = min(values) * scale, max(values) * scale
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def interleaved(
    variants: dict[str, Callable[[], object]], reps: int, *, progress: bool = True
) -> dict[str, list[float]]:
    """Time each variant ``reps`` times, rotating the order every repetition (wall seconds).

    A full garbage collection runs (untimed) before each call, so one variant's garbage is not
    collected on another's clock; the collector stays enabled while a variant runs.
    """
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            started = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - started)
        if progress:
            done = ", ".join(f"{n}={times[n][-1]:.3f}s" for n in names)
            print(f"  rep {rep + 1}/{reps}: {done}", file=sys.stderr, flush=True)
    return times


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{os.cpu_count()} cores ({model}){mem}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def end_on_sigterm() -> None:
    """SIGTERM (``timeout``, a stopped session) ends a bench as Ctrl-C would: by an exception,
    so its ``finally`` blocks stop what it started (Azurite, PostgreSQL, daemons, servers) and
    remove its folders. Python's default for SIGTERM ends the process at once, leaving Azurite
    running at 100 % of a core under whatever runs next."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- fixtures ----------------------------------------------------------------------------------


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory under /tmp (a real disk here, not tmpfs), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_files(folder: Path, count: int) -> None:
    """``count`` empty regular files ``f000000.csv``... directly in ``folder`` (created fast)."""
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL
    for i in range(count):
        os.close(os.open(os.path.join(folder, f"f{i:06d}.csv"), flags, 0o644))


def write_config(
    directory: Path, datastore: dict[str, Any], *, path_on_datastore: str, interval: str
) -> Path:
    """A config with one datastore schedule ``watch`` on datastore ``store``; returns its path."""
    path = directory / "config.yaml"
    path.write_text(
        f"""
datastores:
  store: {json.dumps(datastore)}
pipelines:
  job: {{kind: command, argv: [echo, "{{input_file}}"]}}
schedules:
  - name: watch
    pipeline: job
    datastore: store
    path_on_datastore: {json.dumps(path_on_datastore)}
    polling_interval: {json.dumps(interval)}
    data_path_parameter_name: input_file
""",
        encoding="utf-8",
    )
    return path


def utc_now() -> datetime:
    return datetime.now(UTC)


def quiet_logging() -> None:
    """Keep triggerd's per-poll log lines (poll.completed) off the benchmark's output."""
    from triggerd.observability.logging import configure_logging

    configure_logging("json", "WARNING")


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements (and the rows they changed) on an engine."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.active = False
        self.statements: list[str] = []
        self.rows = 0
        self._event = event
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    @staticmethod
    def _is_write(statement: str) -> bool:
        return statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.active and self._is_write(statement):
            self.statements.append(" ".join(statement.split())[:90])

    def _after(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if self.active and self._is_write(statement) and cursor.rowcount > 0:
            self.rows += cursor.rowcount

    def counting(self, action: Callable[[], object]) -> Callable[[], None]:
        """``action`` with the count on while it runs: the writes of those calls only."""

        def counted() -> None:
            self.active = True
            try:
                action()
            finally:
                self.active = False

        return counted

    @property
    def stats_writes(self) -> list[str]:
        """The poll-statistics updates (``last_poll_at``, ``entries``): at most one a minute."""
        return [s for s in self.statements if s.startswith("UPDATE schedule_state SET last_poll")]

    @property
    def lease_writes(self) -> list[str]:
        """Poll-lease renewals: the daemon's heartbeat renews its leases every few seconds; with
        no heartbeat (a bench calling ``poll()`` alone) a poll renews its lease when it is close
        to expiry."""
        return [s for s in self.statements if s.startswith("INSERT INTO leases")]

    @property
    def other_writes(self) -> list[str]:
        """Every other write (snapshot rows, runs): a poll that finds no change has none."""
        expected = set(self.stats_writes) | set(self.lease_writes)
        return [s for s in self.statements if s not in expected]

    def report(self, polls: int, seconds: float) -> str:
        kinds = Counter(s.split(None, 1)[0].upper() for s in self.statements)
        lines = [
            f"Steady-state polls: {polls} over {seconds:.0f} s; "
            f"{len(self.statements)} INSERT/UPDATE/DELETE statements "
            f"({dict(kinds) or 'none'}), {self.rows} rows changed: "
            f"{len(self.other_writes)} snapshot/run writes (must be 0), "
            f"{len(self.stats_writes)} poll-statistics updates (by design at most one a minute) "
            f"and {len(self.lease_writes)} lease renewals (at most one per 25 s without the "
            "daemon's heartbeat)."
        ]
        lines += [f"  - `{s}`" for s in sorted(set(self.statements))]
        return "\n".join(lines)

    def close(self) -> None:
        self._event.remove(self.engine, "before_cursor_execute", self._before)
        self._event.remove(self.engine, "after_cursor_execute", self._after)


def ratio_rows(times: dict[str, list[float]], labels: dict[str, str]) -> list[list[str]]:
    """One row per variant: its time, and its ratio to variant a (of medians; paired per rep)."""
    base = times["a"]
    rows = []
    for key, values in times.items():
        paired = [t / b for t, b in zip(values, base, strict=True)]
        rows.append(
            [
                labels[key],
                spread(values),
                f"{median(values) / median(base):.2f}x",
                spread(paired, digits=2) + "x",
            ]
        )
    return rows
