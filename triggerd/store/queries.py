"""Reading the runs: what the CLI shows and the daemon's gauges and overlap limits count
(functions over a Connection)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.engine import Connection, Dialect

from triggerd.errors import RunNotFound
from triggerd.runs import RunRecord
from triggerd.store.sql import chunks
from triggerd.store.tables import runs, schedule_state


def run_record(row: Any) -> RunRecord:
    """A row of the ``runs`` table."""
    return RunRecord.from_row(row._mapping)


def get_run(conn: Connection, run_id: int) -> RunRecord:
    """The run ``run_id``; RunNotFound if there is none."""
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        raise RunNotFound(run_id)
    return run_record(row)


def list_runs(
    conn: Connection,
    *,
    schedule: str | None = None,
    statuses: Iterable[str] | None = None,
    triggers: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    file: str | None = None,
    limit: int | None = 50,
) -> list[RunRecord]:
    """The newest runs first, filtered if asked: of one schedule, with these statuses or
    triggers, created at or after ``since`` and before ``until``, for a datastore file whose
    relative path contains ``file`` (case-sensitive, on every backend)."""
    query = select(runs).order_by(runs.c.id.desc())
    if schedule is not None:
        query = query.where(runs.c.schedule == schedule)
    if statuses:
        query = query.where(runs.c.status.in_(list(statuses)))
    if triggers:
        query = query.where(runs.c.trigger.in_(list(triggers)))
    if since is not None:
        query = query.where(runs.c.created_at >= since)
    if until is not None:
        query = query.where(runs.c.created_at < until)
    if file is not None:
        query = query.where(_path_contains(conn.dialect, file))
    if limit is not None:
        query = query.limit(limit)
    return [run_record(row) for row in conn.execute(query)]


def _path_contains(dialect: Dialect, text: str) -> ColumnElement[bool]:
    """The run's ``data_path.relative_path`` contains ``text``. Not LIKE: SQLite's ignores
    the case of ASCII letters and PostgreSQL's does not, and ``%``/``_`` would need escaping."""
    path = runs.c.data_path["relative_path"].as_string()
    position = func.instr(path, text) if dialect.name == "sqlite" else func.strpos(path, text)
    return position > 0


def schedule_names(conn: Connection) -> set[str]:
    """Every schedule name the database knows: those with a state, and those with runs."""
    named = select(schedule_state.c.name).union(select(runs.c.schedule).distinct())
    return set(conn.execute(named).scalars())


def last_runs(conn: Connection, names: Sequence[str] | None = None) -> dict[str, RunRecord]:
    """The newest run (not skipped) of each schedule (of those ``names``)."""
    if names is not None:
        found: dict[str, RunRecord] = {}
        for chunk in chunks(names):
            found.update(_last_runs(conn, runs.c.schedule.in_(chunk)))
        return found
    return _last_runs(conn, true())


def _last_runs(conn: Connection, which: ColumnElement[bool]) -> dict[str, RunRecord]:
    newest = (
        select(func.max(runs.c.id))
        .where(runs.c.status != "skipped", which)
        .group_by(runs.c.schedule)
        .scalar_subquery()
    )
    rows = conn.execute(select(runs).where(runs.c.id.in_(newest))).all()
    return {r.schedule: run_record(r) for r in rows}


def count_runs(conn: Connection, *, status: str | None = None) -> int:
    """How many runs there are (with this status)."""
    query = select(func.count()).select_from(runs)
    if status is not None:
        query = query.where(runs.c.status == status)
    return int(conn.execute(query).scalar_one())


def statuses(conn: Connection, fire_keys: Sequence[str]) -> dict[str, str]:
    """The status of each fire key that has a run."""
    found: dict[str, str] = {}
    for chunk in chunks(fire_keys):
        rows = conn.execute(
            select(runs.c.fire_key, runs.c.status).where(runs.c.fire_key.in_(chunk))
        )
        found.update({key: status for key, status in rows})
    return found


def running_counts(conn: Connection) -> dict[str, int]:
    """Runs in flight per schedule (for the overlap limits): those running, and the submitted
    ones whose remote run the daemon still follows (it has not ended). Two small reads, each
    answered by its index (one OR would walk every run of the history)."""
    counts: dict[str, int] = {}
    for where in (
        runs.c.status == "running",
        runs.c.follow_next_at.is_not(None),  # set on `submitted` runs only (follows.py)
    ):
        rows = conn.execute(select(runs.c.schedule).where(where)).scalars()
        for schedule in rows:
            counts[schedule] = counts.get(schedule, 0) + 1
    return counts


def last_finished(conn: Connection) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Each schedule's last success (``succeeded`` or ``submitted``) and last failure: the
    latest ``finished_at`` of each, in one query (the daemon's gauges, seeded at start)."""
    rows = conn.execute(
        select(runs.c.schedule, runs.c.status, func.max(runs.c.finished_at))
        .where(runs.c.status.in_(["succeeded", "submitted", "failed"]))
        .group_by(runs.c.schedule, runs.c.status)
    ).all()
    last: dict[str, tuple[datetime | None, datetime | None]] = {}
    for schedule, status, finished in rows:
        if finished is None:
            continue
        success, failure = last.get(schedule, (None, None))
        if status == "failed":
            failure = finished
        elif success is None or finished > success:
            success = finished
        last[schedule] = (success, failure)
    return last


def schedules_and_keys(conn: Connection, run_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """The schedule and fire key of each of these runs (for the events that name them)."""
    found: dict[int, tuple[str, str]] = {}
    for chunk in chunks(run_ids):
        rows = conn.execute(
            select(runs.c.id, runs.c.schedule, runs.c.fire_key).where(runs.c.id.in_(chunk))
        )
        found.update({int(i): (schedule, key) for i, schedule, key in rows})
    return found


@dataclass(frozen=True, slots=True)
class Mark:
    """A run on a timeline: when it was for (its slot, else when it was recorded)."""

    id: int
    at: datetime
    status: str
    why: str | None  # the reason it was skipped, or the error it failed with


def timeline(
    conn: Connection, schedules: Sequence[str], since: datetime, until: datetime
) -> dict[str, list[Mark]]:
    """Each schedule's runs for a moment in ``[since, until)``, oldest first: a time run at its
    slot, any other at when it was recorded."""
    at_slot = (
        runs.c.scheduled_for.is_not(None)
        & (runs.c.scheduled_for >= since)
        & (runs.c.scheduled_for < until)
    )
    at_record = (
        runs.c.scheduled_for.is_(None) & (runs.c.created_at >= since) & (runs.c.created_at < until)
    )
    found: dict[str, list[Mark]] = {name: [] for name in schedules}
    columns = (runs.c.id, runs.c.schedule, runs.c.scheduled_for, runs.c.created_at)
    for chunk in chunks(list(schedules)):
        rows = conn.execute(
            select(*columns, runs.c.status, runs.c.reason, runs.c.error)
            .where(runs.c.schedule.in_(chunk), at_slot | at_record)
            .order_by(runs.c.id)
        )
        for run_id, schedule, slot, created, status, reason, error in rows:
            found[schedule].append(Mark(run_id, slot or created, status, error or reason))
    for marks in found.values():
        marks.sort(key=lambda mark: mark.at)
    return found
