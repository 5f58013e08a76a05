"""Reading the runs: what the CLI shows and the daemon's gauges and overlap limits count
(functions over a Connection)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from triggerd.errors import RunNotFound
from triggerd.runs import RunRecord
from triggerd.store.sql import chunks
from triggerd.store.tables import runs


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
    limit: int | None = 50,
) -> list[RunRecord]:
    """The newest runs first, of one schedule or with these statuses if asked."""
    query = select(runs).order_by(runs.c.id.desc())
    if schedule is not None:
        query = query.where(runs.c.schedule == schedule)
    if statuses:
        query = query.where(runs.c.status.in_(list(statuses)))
    if limit is not None:
        query = query.limit(limit)
    return [run_record(row) for row in conn.execute(query)]


def last_runs(conn: Connection) -> dict[str, RunRecord]:
    """The newest run (not skipped) of each schedule."""
    newest = (
        select(func.max(runs.c.id))
        .where(runs.c.status != "skipped")
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
    """Runs in flight per schedule (for the overlap limits)."""
    rows = conn.execute(
        select(runs.c.schedule, func.count())
        .where(runs.c.status == "running")
        .group_by(runs.c.schedule)
    ).all()
    return {schedule: int(count) for schedule, count in rows}
