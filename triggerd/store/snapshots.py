"""The ``datastore_entries`` table: a watched folder's snapshot rows (bulk reads and writes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection

from triggerd.datastores.settle import Tracked
from triggerd.datastores.snapshot import Entry
from triggerd.store.sql import chunks
from triggerd.store.tables import datastore_entries as t

_ROWS_PER_STATEMENT = 5_000  # rows per executemany INSERT


def load(conn: Connection, schedule: str) -> dict[str, Tracked]:
    """What a datastore schedule tracks, by path: the version that fired, a candidate."""
    rows = conn.execute(
        select(
            t.c.path,
            t.c.fired_size,
            t.c.fired_version,
            t.c.candidate_size,
            t.c.candidate_version,
            t.c.candidate_seen_at,
            t.c.candidate_polls,
        ).where(t.c.schedule == schedule)
    )
    tracked: dict[str, Tracked] = {}
    for path, f_size, f_version, c_size, c_version, seen_at, polls in rows:
        fired = Entry(f_size, f_version) if f_version is not None else None
        candidate = Entry(c_size, c_version) if c_version is not None else None
        tracked[path] = Tracked(fired, candidate, seen_at, polls)
    return tracked


def _row(schedule: str, path: str, state: Tracked) -> dict[str, Any]:
    fired, candidate = state.fired, state.candidate
    return {
        "schedule": schedule,
        "path": path,
        "fired_size": fired.size if fired else None,
        "fired_version": fired.version if fired else None,
        "candidate_size": candidate.size if candidate else None,
        "candidate_version": candidate.version if candidate else None,
        "candidate_seen_at": state.seen_at,
        "candidate_polls": state.polls,
    }


def write(
    conn: Connection,
    schedule: str,
    *,
    inserts: Mapping[str, Tracked],
    updates: Mapping[str, Tracked],
    removals: Sequence[str],
) -> None:
    """Write only what changed: inserts and updates as executemany, deletes in chunks."""
    # In slices, so that a first poll of 100,000 files never holds every row's parameters at
    # once (the peak memory of the daemon); it is still one transaction.
    for part in chunks(list(inserts.items()), _ROWS_PER_STATEMENT):
        conn.execute(t.insert(), [_row(schedule, p, s) for p, s in part])
    if updates:
        rows = [
            {**_row(schedule, p, s), "k_schedule": schedule, "k_path": p}
            for p, s in updates.items()
        ]
        stmt = (
            update(t)
            .where(and_(t.c.schedule == bindparam("k_schedule"), t.c.path == bindparam("k_path")))
            .values(
                fired_size=bindparam("fired_size"),
                fired_version=bindparam("fired_version"),
                candidate_size=bindparam("candidate_size"),
                candidate_version=bindparam("candidate_version"),
                candidate_seen_at=bindparam("candidate_seen_at"),
                candidate_polls=bindparam("candidate_polls"),
            )
        )
        conn.execute(
            stmt, [{k: v for k, v in r.items() if k not in ("schedule", "path")} for r in rows]
        )
    for chunk in chunks(removals):  # paths per DELETE ... IN (...)
        conn.execute(delete(t).where(t.c.schedule == schedule, t.c.path.in_(chunk)))


def forget(conn: Connection, schedule: str) -> None:
    """Delete a datastore schedule's snapshot."""
    conn.execute(delete(t).where(t.c.schedule == schedule))
