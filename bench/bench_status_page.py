"""Status pages with 10,000 schedules and 100,000 runs: the overview, its variants and baselines.

    .venv/bin/python -m bench.bench_status_page [--schedules 10000] [--runs 100000] [--reps 5]
                                                [--calls 3]

Issue 16. The fixture (built once, untimed): the config directory of ``bench_scale`` (9,900 time
schedules in 10 zones, Europe/London and America/New_York among them, plus 100 datastore
schedules each on its own local folder of 10 files), a SQLite database migrated by
``open_store``, a ``schedule_state`` row per schedule (1% disabled by an override with a note),
a first poll of every datastore schedule (snapshot, poll history, poll statistics), and
``--runs`` runs spread over the last 7 days, inserted in ``created_at`` order with bulk
INSERTs into the real ``runs`` table: 90% on the time schedules (at a slot, ``scheduled_for``
set), 10% on the datastore schedules (a file each); 80% succeeded, 10% failed with an error,
7% skipped with a reason, 3% pending (the last hour).

Timed in the same run, interleaved, ``--reps`` times, each variant ``--calls`` calls in a row
(ms per call, median and range): ``Site(...).route`` in-process for the overview (page 1, 24 h
timeline) and its variants (the same after ``gc.freeze()``, 7 d timeline, a name filter, the
last page), a schedule page of each kind and ``/api/schedules``; ``GET /`` through a real
``HealthServer`` on 127.0.0.1 (http.client, a new connection each: the server speaks
HTTP/1.0); and the raw baselines: the store reads the overview makes (every schedule's state;
the overrides for the filter, then the state, the last run and the timeline marks of the 100
schedules shown), every schedule's state (what the overview read before), the last runs of
every schedule (what
``/api/schedules`` reads), those statements on the engine's bare DBAPI connection
(``sqlite3``), and Jinja rendering a trivial table of the same 100 rows. The generation-2
collections of the timed part are counted and timed (``gc.callbacks``). Then, untimed: the
Python heap peak of one overview (tracemalloc), and a cProfile of one overview (top 15,
cumulative).

``--postgresql``: the same on a throwaway PostgreSQL 15 (``tests.support.postgres``, fsync off)
instead of SQLite (the bare connection is then psycopg's).

Target (issue 16): the overview <= 500 ms. Reported, never asserted. When it is missed, the
profile is also written to ``/tmp/h16/profile.txt``.

``--fetch URL`` (used by ``bench_lateness``'s ``page`` condition) is a client instead: it GETs
``URL`` in a loop and prints the unix time each page arrived, one a line, until killed (at most
``--fetch-seconds``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import http.client
import io
import math
import pstats
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment

from bench.bench_scale import write_scale_config
from bench.common import (
    REPO,
    end_on_sigterm,
    interleaved,
    log,
    machine,
    median,
    quiet_logging,
    spread,
    table,
    temp_dir,
)
from tests.support import postgres
from triggerd.config import Config, load_config
from triggerd.config.triggers import DatastoreTrigger
from triggerd.engine.poller import DatastorePoller
from triggerd.observability.httpserver import HealthServer, Response
from triggerd.observability.metrics import Metrics
from triggerd.settings import Settings
from triggerd.store import Store, open_store, queries, states
from triggerd.store.tables import runs as runs_table
from triggerd.views.site import Site

OVERVIEW_TARGET_MS = 500.0
PER_PAGE = 100  # the overview's page size (triggerd/views/pages.py)
DAYS = 7
NAME_FILTER = "t01"  # t01000-t01999: 1,000 schedules match, 10 pages
PROFILE_OUT = Path("/tmp/h16/profile.txt")
INSERT_SLICE = 5_000
STATUS_MIX = (("succeeded", 0.80), ("failed", 0.90), ("skipped", 0.97), ("pending", 1.01))
SKIP_REASONS = [
    "missed: the daemon was not running at this slot",
    "overlap: run #{} still in flight (overlap: skip)",
    "disabled: the schedule was disabled at this slot",
]


@dataclass
class Fixture:
    """The config, the store and what they hold."""

    root: Path
    config: Config
    store: Store
    kinds: dict[str, int]
    statuses: dict[str, int]
    built_s: float

    @property
    def names(self) -> list[str]:
        return list(self.config.schedules)

    def site(self) -> Site:
        settings = Settings(config=self.root / "config", heartbeat_interval=timedelta(seconds=5))
        return Site(self.store, lambda: self.config, settings=settings)


def _run_rows(
    config: Config, count: int, now: datetime, rng: random.Random
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """``count`` run rows over the last ``DAYS`` days, oldest first, and how many per status."""
    timed = [n for n, s in config.schedules.items() if not isinstance(s.trigger, DatastoreTrigger)]
    watched = [n for n, s in config.schedules.items() if isinstance(s.trigger, DatastoreTrigger)]
    span = DAYS * 86400
    rows: list[dict[str, Any]] = []
    for i in range(count):
        ago = rng.uniform(60, span)
        roll = rng.random()
        status = next(s for s, below in STATUS_MIX if roll < below)
        if status == "pending":
            ago = rng.uniform(5, 3600)
        row: dict[str, Any] = {"parameters": {}, "attempts": 1, "status": status}
        if watched and i % 10 == 0:
            name = rng.choice(watched)
            folder = config.schedules[name].trigger
            assert isinstance(folder, DatastoreTrigger)
            relative = f"{folder.path_on_datastore}/new{i:06d}.csv"
            created = now - timedelta(seconds=ago)
            row |= {
                "trigger": "datastore",
                "scheduled_for": None,
                "fire_key": f"{name}:{relative}:{i}",
                "data_path": {"datastore": folder.datastore, "relative_path": relative},
                "parameters": {"input_file": relative},
            }
        else:
            name = rng.choice(timed)
            slot = (now - timedelta(seconds=ago)).replace(second=0, microsecond=0)
            slot -= timedelta(minutes=slot.minute % 5)
            created = slot + timedelta(milliseconds=rng.uniform(20, 60))
            row |= {
                "trigger": "time",
                "scheduled_for": slot,
                "fire_key": f"{name}:{slot.isoformat()}:{i}",
                "data_path": None,
            }
        row |= {"schedule": name, "created_at": created, "reason": None, "error": None}
        row |= {"started_at": None, "finished_at": None, "exit_code": None}
        if status in ("succeeded", "failed"):
            started = created + timedelta(milliseconds=rng.uniform(5, 50))
            row["started_at"] = started
            row["finished_at"] = started + timedelta(seconds=rng.expovariate(1 / 30))
            row["exit_code"] = 0 if status == "succeeded" else 1
            if status == "failed":
                row["error"] = f"exit code 1: job {i} failed (stderr: Traceback ...)"
        elif status == "skipped":
            row["attempts"] = 0
            row["finished_at"] = created
            row["reason"] = rng.choice(SKIP_REASONS).format(max(1, i - 1))
        else:
            row["attempts"] = 0
        rows.append(row)
    rows.sort(key=lambda r: r["created_at"])  # ids grow with time, as in a real history
    return rows, dict(Counter(r["status"] for r in rows))


def build_fixture(
    root: Path,
    *,
    schedules: int = 10_000,
    datastores: int = 100,
    runs: int = 100_000,
    url: str | None = None,
) -> Fixture:
    """The config directory under ``root`` and the database at ``url`` (default: a SQLite file
    under ``root``), see the module docstring."""
    began = time.perf_counter()
    kinds = write_scale_config(root, schedules, datastores)
    config = load_config(root / "config")
    store = open_store(url or f"sqlite:///{root / 'state' / 'triggerd.db'}")
    now = datetime.now(UTC)
    rng = random.Random(16)
    names = list(config.schedules)
    store.write(states.create, names, (now - timedelta(days=30)).replace(microsecond=0))
    with store.writing() as conn:
        for name in names[7::100]:  # 1% disabled from the CLI, with a note
            note = f"paused for maintenance of {name}'s target"
            states.set_override(conn, name, False, note=note, by="ops@example.com", now=now)
    for schedule in config.schedules.values():
        if isinstance(schedule.trigger, DatastoreTrigger):
            poller = DatastorePoller(
                schedule, config, store, clock=lambda: datetime.now(UTC), is_enabled=lambda: True
            )
            poller.poll()  # the baseline: snapshot, poll history, last_poll_at
            poller.close()
    rows, statuses = _run_rows(config, runs, now, rng)
    with store.writing() as conn:
        for start in range(0, len(rows), INSERT_SLICE):
            conn.execute(runs_table.insert(), rows[start : start + INSERT_SLICE])
    return Fixture(root, config, store, kinds, statuses, time.perf_counter() - began)


@contextmanager
def serving(site: Site) -> Iterator[HealthServer]:
    """A ``HealthServer`` on 127.0.0.1 (a free port) with the site's routes, as the daemon's."""
    server = HealthServer(
        "127.0.0.1:0",
        health=lambda: (True, "ok"),
        ready=lambda: (True, "ok"),
        metrics=Metrics(process=False),
        routes=site.route,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fetch(url: str) -> bytes:
    """One GET on a new connection (the server answers HTTP/1.0); raises unless 200."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request("GET", parts.path or "/")
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"GET {url}: {reply.status}")
        return body
    finally:
        conn.close()


def fetch_loop(url: str, seconds: float) -> None:
    """The client of ``--fetch``: GET ``url`` as fast as it can, a line per page arrived."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fetch(url)
        try:
            print(f"{time.time():.6f}", flush=True)
        except BrokenPipeError:
            return


# -- the raw baselines -------------------------------------------------------------------------

RAW_OVERRIDES = "SELECT name, enabled FROM schedule_state WHERE enabled IS NOT NULL"
RAW_STATES = "SELECT * FROM schedule_state WHERE name IN ({})"
RAW_LAST_RUNS = (
    "SELECT * FROM runs WHERE id IN "
    "(SELECT max(id) FROM runs WHERE status != 'skipped' {}GROUP BY schedule)"
)
RAW_TIMELINE = (
    "SELECT id, schedule, scheduled_for, created_at, status, reason, error FROM runs "
    "WHERE schedule IN ({}) AND ((scheduled_for IS NOT NULL AND scheduled_for >= {p} "
    "AND scheduled_for < {p}) OR (scheduled_for IS NULL AND created_at >= {p} "
    "AND created_at < {p})) ORDER BY id"
)
TRIVIAL = Environment(autoescape=True).from_string(
    '<table>{% for r in rows %}<tr><td><a href="/schedules/{{ r.name | urlencode }}">'
    "{{ r.name }}</a></td><td>{{ r.status }}</td><td>{{ r.next }}</td><td>{{ r.last }}</td>"
    "</tr>{% endfor %}</table>"
)


class RawReads:
    """The overview's statements on the engine's bare DBAPI connection (sqlite3 or psycopg),
    rows fetched as the driver gives them: no SQLAlchemy, no conversion."""

    def __init__(self, store: Store, names: list[str]) -> None:
        self.sqlite = store.engine.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        self.conn = store.engine.raw_connection()
        self.names = names

    def _at(self, at: datetime) -> object:
        """A UTC time as the store holds it: naive text in SQLite, timestamptz in PostgreSQL."""
        return at.replace(tzinfo=None).isoformat(sep=" ") if self.sqlite else at

    def _rows(self, statement: str, params: list[object]) -> int:
        cursor = self.conn.cursor()
        try:
            cursor.execute(statement, params)
            return len(cursor.fetchall())
        finally:
            cursor.close()

    def overview(self) -> int:
        """The overrides; the states, last runs and 24 h timeline of ``names``: rows fetched."""
        until = datetime.now(UTC)
        a, b = self._at(until - timedelta(hours=24)), self._at(until)
        marks = ",".join([self.mark] * len(self.names))
        found = self._rows(RAW_OVERRIDES, [])
        found += self._rows(RAW_STATES.format(marks), [*self.names])
        found += self._rows(RAW_LAST_RUNS.format(f"AND schedule IN ({marks}) "), [*self.names])
        timeline = RAW_TIMELINE.format(marks, p=self.mark)
        return found + self._rows(timeline, [*self.names, a, b, a, b])

    def last_runs_all(self) -> int:
        return self._rows(RAW_LAST_RUNS.format(""), [])

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()


# -- main --------------------------------------------------------------------------------------


def profile_overview(site: Site) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    site.route("/", {})
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
    text = out.getvalue().replace(str(REPO) + "/", "").replace(sys.prefix + "/", "")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "function calls" in line), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


@contextmanager
def gen2_pauses() -> Iterator[list[float]]:
    """The wall time (s) of each generation-2 collection while the block runs, explicit
    ``gc.collect()`` calls included (``interleaved`` makes one, untimed, before each call)."""
    pauses: list[float] = []
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])

    gc.callbacks.append(callback)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(callback)


def write_profile(ms: float, profile: str, what: str) -> None:
    """The overview is over its target: its profile to ``PROFILE_OUT``, for the lead."""
    PROFILE_OUT.parent.mkdir(parents=True, exist_ok=True)
    stamp = f"{datetime.now(UTC):%H:%M:%S} UTC"
    PROFILE_OUT.write_text(f"overview {ms:.1f} ms ({what}, {stamp})\n{profile}\n", "utf-8")
    log(f"overview over target ({ms:.0f} ms): profile written to {PROFILE_OUT}")


def main() -> None:
    end_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--datastores", type=int, default=100)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument(
        "--postgresql", action="store_true", help="on a throwaway PostgreSQL 15, not SQLite"
    )
    parser.add_argument("--fetch", metavar="URL", help="be the GET loop client instead")
    parser.add_argument("--fetch-seconds", type=float, default=600.0)
    args = parser.parse_args()
    if args.fetch:
        fetch_loop(args.fetch, args.fetch_seconds)
        return
    quiet_logging()
    began = time.monotonic()

    with temp_dir("triggerd-bench-status-page-") as tmp, contextlib.ExitStack() as stack:
        url = None
        if args.postgresql:
            reason = postgres.available()
            if reason:
                raise SystemExit(f"no PostgreSQL: {reason}")
            pg = postgres.start()
            stack.callback(pg.stop)
            url = pg.create_database("bench_status_page")
        log(f"building {args.schedules} schedules and {args.runs} runs ...")
        fx = build_fixture(
            tmp, schedules=args.schedules, datastores=args.datastores, runs=args.runs, url=url
        )
        stack.callback(fx.store.close)
        log(f"  built in {fx.built_s:.1f} s: {fx.statuses}")
        site = fx.site()
        names = fx.names
        pages = math.ceil(len(names) / PER_PAGE)
        matching = sum(NAME_FILTER in n for n in names)
        timed_name = next(n for n in names if n.startswith("t"))
        watched_name = next(n for n in names if n.startswith("ds"))
        rows_shown = names[:PER_PAGE]
        raw = RawReads(fx.store, rows_shown)
        stack.callback(raw.close)  # before the store (last in, first out)
        trivial_rows = [
            {"name": n, "status": "Active", "next": "2026-12-01T18:00:00+00:00", "last": "ok #1"}
            for n in rows_shown
        ]

        def overview(query: dict[str, str]) -> Callable[[], int]:
            return lambda: len(_ok(site.route("/", query)))

        def frozen(call: Callable[[], int]) -> Callable[[], int]:
            """``call`` with every object alive now out of the cyclic collector's reach, as
            the daemon runs it (``Daemon.run`` calls ``gc.freeze()`` once startup is done)."""

            def run() -> int:
                gc.freeze()
                try:
                    return call()
                finally:
                    gc.unfreeze()

            return run

        def page(path: str) -> Callable[[], int]:
            return lambda: len(_ok(site.route(path, {})))

        def timeline_read() -> object:
            until = datetime.now(UTC)
            return fx.store.read(queries.timeline, rows_shown, until - timedelta(hours=24), until)

        with serving(site) as server:
            url = server.url + "/"
            single: dict[str, Callable[[], object]] = {
                "overview": overview({}),
                "frozen": frozen(overview({})),
                "window7d": overview({"window": "7d"}),
                "name": overview({"name": NAME_FILTER}),
                "last": overview({"page": str(pages)}),
                "time_page": page(f"/schedules/{timed_name}"),
                "ds_page": page(f"/schedules/{watched_name}"),
                "api": page("/api/schedules"),
                "http": lambda: len(fetch(url)),
                "overrides": lambda: fx.store.read(states.enabled_overrides),
                "get_many": lambda: fx.store.read(states.get_many, rows_shown),
                "last_runs": lambda: fx.store.read(queries.last_runs, rows_shown),
                "timeline": timeline_read,
                "get_all": lambda: fx.store.read(states.get_all),
                "last_runs_all": lambda: fx.store.read(queries.last_runs),
                "raw_sql": raw.overview,
                "raw_last_all": raw.last_runs_all,
                "jinja": lambda: TRIVIAL.render(rows=trivial_rows),
            }
            sizes = {k: _size(v()) for k, v in single.items()}  # warm-up; every answer is 200
            home = _ok(site.route("/", {})).decode()
            sanity = {
                "rows": home.count("<tr>") - 1,  # the header row
                "marks 24h": home.count('class="mark '),
                "marks 7d": _ok(site.route("/", {"window": "7d"})).decode().count('class="mark '),
                "bytes": len(home),
            }
            log(f"  overview: {sanity}")
            started = time.perf_counter()
            site.route("/", {})
            first_ms = (time.perf_counter() - started) * 1000
            if first_ms > OVERVIEW_TARGET_MS:  # tell the lead at once, before the long part
                write_profile(first_ms, profile_overview(site), "one call before the timed part")

            def repeated(call: Callable[[], object]) -> Callable[[], None]:
                def run() -> None:
                    for _ in range(args.calls):
                        call()

                return run

            load_before = _load()
            with gen2_pauses() as pauses:
                times = interleaved({k: repeated(v) for k, v in single.items()}, args.reps)
            load_after = _load()
            per_call = {k: [t / args.calls for t in v] for k, v in times.items()}

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            tracemalloc.start()
            site.route("/", {})
            heap_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            site.route("/", {"window": "7d"})
            heap_peak_7d = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            profile = profile_overview(site)

    driver = "sqlite3" if raw.sqlite else "psycopg"
    backend = "SQLite" if raw.sqlite else "PostgreSQL 15"
    labels = {
        "overview": "a. overview `/` (page 1 of {pages}, 24 h timeline)",
        "frozen": "a'. the same after `gc.freeze()`, as the daemon's heap after startup",
        "window7d": "b. overview `/?window=7d`",
        "name": f"c. overview `/?name={NAME_FILTER}` ({matching:,} match, page 1)",
        "last": "d. overview `/?page={pages}` (the last page)",
        "time_page": f"e. schedule page `/schedules/{timed_name}` (time)",
        "ds_page": f"f. schedule page `/schedules/{watched_name}` (datastore)",
        "api": "g. `/api/schedules` (every schedule, JSON)",
        "http": "h. `GET /` through `HealthServer` (http.client, wall)",
        "overrides": "raw: `store.read(states.enabled_overrides)` (for the filter)",
        "get_many": "raw: `store.read(states.get_many, 100 names)` (the page's states)",
        "last_runs": "raw: `store.read(queries.last_runs, 100 names)`",
        "last_runs_all": "raw: `store.read(queries.last_runs)` (every schedule, as `/api/`)",
        "timeline": "raw: `store.read(queries.timeline, 100 names, 24 h)`",
        "get_all": "raw: `store.read(states.get_all)` (every state: what `/api/` reads)",
        "raw_sql": f"raw: the overview's four SELECTs on a bare `{driver}` connection, fetchall",
        "raw_last_all": f"raw: the last-runs SELECT of every schedule, bare `{driver}`",
        "jinja": "raw: Jinja, a trivial 4-column table of the same 100 rows",
    }
    base = median(per_call["overview"])
    rows = [
        [
            labels[k].format(pages=pages),
            spread(v, scale=1000, digits=1),
            f"{median(v) / base:.2f}x",
            f"{sizes[k]:,}",
        ]
        for k, v in per_call.items()
    ]
    total_runs = sum(fx.statuses.values())
    mix = ", ".join(f"{k} {v:,}" for k, v in fx.kinds.items())
    print(f"## Status page, {len(names):,} schedules and {total_runs:,} runs ({backend})\n")
    print(
        f"Machine: {machine()}. Load average {load_before} before the timed part, "
        f"{load_after} after.\n"
    )
    print(
        f"Fixture (built in {fx.built_s:.1f} s, untimed): {mix}; runs over the last {DAYS} days "
        f"{fx.statuses}. {args.reps} interleaved repetitions of {args.calls} calls each; ms per "
        "call, median (min-max) over the repetitions. Answer size: bytes (the raw reads: rows, "
        "or schedules for a dict by schedule).\n"
    )
    print(table(["variant", "ms per call", "vs a", "answer size"], rows))
    print(
        f"\nOverview page 1: {sanity['rows']} schedule rows, {sanity['marks 24h']} timeline marks "
        f"(24 h; {sanity['marks 7d']} over 7 d), {sanity['bytes']:,} bytes."
    )
    print(
        f"Python heap peak of one overview (tracemalloc): {heap_peak / 1e6:.1f} MB (24 h), "
        f"{heap_peak_7d / 1e6:.1f} MB (7 d); process peak RSS (ru_maxrss) {rss_before / 1024:.0f}"
        f" MB before those two calls, {rss_after / 1024:.0f} MB after."
    )
    calls = sum(len(v) for v in times.values())
    print(
        f"Generation-2 collections in the timed calls: {len(pauses) - calls} (besides the "
        f"{calls} untimed `gc.collect()` between calls); each full collection took "
        f"{spread(pauses, scale=1000, digits=1)} ms (tracked objects at the end: "
        f"{len(gc.get_objects()):,})."
    )
    worst = median(per_call["overview"]) * 1000
    verdict = "met" if worst <= OVERVIEW_TARGET_MS else f"**MISSED** ({worst:.0f} ms)"
    print(f"Target overview <= {OVERVIEW_TARGET_MS:g} ms: {worst:.1f} ms -> {verdict}.\n")
    print("cProfile of one overview (`/`, 24 h), top 15 by cumulative time:\n")
    print("```\n" + profile + "\n```")
    if worst > OVERVIEW_TARGET_MS:
        write_profile(worst, profile, f"median of {args.reps} reps")
    log(f"wall time {time.monotonic() - began:.0f} s")


def _ok(response: Response | None) -> bytes:
    if response is None or response.status != 200:
        raise RuntimeError(f"route answered {response.status if response else None}")
    return response.body


def _size(answer: object) -> int:
    """Bytes of a page, rows of a read (an int already, a dict or list)."""
    if isinstance(answer, int):
        return answer
    if isinstance(answer, dict | list | str):
        return len(answer)
    return 0


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
