"""What a datastore schedule's polls saw: ``poll_history`` (the last polls that did something)
and ``datastore_ignored`` (the files present that the polls leave out, and why). Functions over a
Connection; ``Store.record_poll`` writes both in the poll's own transaction.

Both are bounded: the history keeps the last ``HISTORY_KEPT`` polls of each schedule, and the
ignored rows are those of the files present now. A poll that found nothing new writes neither.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from triggerd.datastores.snapshot import Ignored, IgnoredChange
from triggerd.store.sql import chunks
from triggerd.store.tables import datastore_ignored as ignored_table
from triggerd.store.tables import poll_history as history_table

HISTORY_KEPT = 20  # polls kept per schedule (the newest)


@dataclass(frozen=True)
class PollRecord:
    """One poll that did something, as ``schedules describe`` shows it."""

    started_at: datetime
    duration_ms: int
    listed: int | None  # files in the listing; None when it failed
    new: int = 0  # files not seen before
    changed: int = 0  # files seen before with another version
    fired: int = 0  # runs recorded for settled files (pending, or skipped while disabled)
    settling: int = 0  # files waiting to settle after the poll
    excluded: int = 0  # entries left out (patterns, not regular files, names not storable)
    baseline: bool = False  # the first poll: what was there is the baseline, nothing fired
    error: str | None = None  # why the listing failed

    def as_json(self) -> dict[str, Any]:
        """The objects of ``polls`` in ``schedules describe --json`` (a documented contract)."""
        return {**asdict(self), "started_at": self.started_at.isoformat()}


@dataclass(frozen=True)
class IgnoredFile:
    """A file present that the polls leave out: ``datastore_ignored``'s row."""

    path: str
    reason: str  # excluded | not_regular | unrepresentable
    detail: str | None
    seen_at: datetime


def append(
    conn: Connection, schedule: str, record: PollRecord, *, keep: int = HISTORY_KEPT
) -> None:
    """Add a poll to the schedule's history and drop all but the newest ``keep``."""
    conn.execute(history_table.insert().values(schedule=schedule, **asdict(record)))
    t = history_table
    oldest_kept = (
        select(t.c.id)
        .where(t.c.schedule == schedule)
        .order_by(t.c.id.desc())
        .offset(keep - 1)
        .limit(1)
        .scalar_subquery()
    )
    conn.execute(delete(t).where(t.c.schedule == schedule, t.c.id < oldest_kept))


def history(conn: Connection, schedule: str, *, limit: int = HISTORY_KEPT) -> list[PollRecord]:
    """The schedule's recorded polls, newest first."""
    t = history_table
    fields = [t.c[name] for name in PollRecord.__dataclass_fields__]
    rows = conn.execute(
        select(*fields).where(t.c.schedule == schedule).order_by(t.c.id.desc()).limit(limit)
    )
    return [PollRecord(**row._mapping) for row in rows]


def load_ignored(conn: Connection, schedule: str) -> dict[str, Ignored]:
    """What the schedule's polls leave out, by path (for the poller to compare with)."""
    t = ignored_table
    rows = conn.execute(select(t.c.path, t.c.reason, t.c.detail).where(t.c.schedule == schedule))
    return {path: Ignored(reason, detail) for path, reason, detail in rows}


def ignored_files(
    conn: Connection, schedule: str, *, limit: int | None = None
) -> list[IgnoredFile]:
    """The files the schedule's polls leave out, by path."""
    t = ignored_table
    query = select(t.c.path, t.c.reason, t.c.detail, t.c.seen_at).where(t.c.schedule == schedule)
    return [IgnoredFile(*row) for row in conn.execute(query.order_by(t.c.path).limit(limit))]


def count_ignored(conn: Connection, schedule: str) -> dict[str, int]:
    """How many files the schedule's polls leave out, by reason."""
    t = ignored_table
    rows = conn.execute(
        select(t.c.reason, func.count()).where(t.c.schedule == schedule).group_by(t.c.reason)
    )
    return {reason: int(count) for reason, count in rows}


def write_ignored(conn: Connection, schedule: str, change: IgnoredChange, now: datetime) -> None:
    """Apply a change of what the polls leave out: rows deleted, added or replaced."""
    for chunk in chunks([*change.removed, *change.added]):
        conn.execute(
            delete(ignored_table).where(
                ignored_table.c.schedule == schedule, ignored_table.c.path.in_(chunk)
            )
        )
    rows = [
        {"schedule": schedule, "path": p, "reason": w.reason, "detail": w.detail, "seen_at": now}
        for p, w in change.added.items()
    ]
    for part in chunks(rows):
        conn.execute(ignored_table.insert(), part)


def forget_ignored(conn: Connection, schedule: str) -> None:
    """Forget what a schedule's polls left out (its snapshot is forgotten with it)."""
    conn.execute(delete(ignored_table).where(ignored_table.c.schedule == schedule))
