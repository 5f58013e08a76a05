"""Claiming runs: pending runs become ``running`` under the daemon that will attempt them, a
batch per transaction (the dispatcher's claim; ``outbox.claim_next`` is a batch of one).

A batch costs a SELECT and one UPDATE ... RETURNING for the runs never attempted, where claiming
one run at a time cost a SELECT, an UPDATE and a re-read of the row each: on a burst of 10,000
runs the claim was the largest part of the daemon's CPU per run (bench/README.md, section 5).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, bindparam, null, select, update
from sqlalchemy.engine import Connection, Dialect

from triggerd.runs import RunRecord
from triggerd.store.attempts import ATTEMPT, move_attempt
from triggerd.store.bulk import BulkStatement, alike
from triggerd.store.sql import chunks
from triggerd.store.tables import runs

CLAIM_TTL = timedelta(seconds=30)  # a claim not renewed for this long is taken over
_WHEN = runs.c.started_at.type  # (UTC datetimes, as the columns store them)


def _candidates(*, blocked: bool) -> Select[Any]:
    """The oldest due pending runs, locked (``limit``, ``now``; ``blocked``: schedules left out).

    The statements here are built once (their SQL compiled once too, by SQLAlchemy's cache):
    building and keying a statement per call cost about as much as running it."""
    retry_at = runs.c.next_attempt_at
    due = retry_at.is_(None) | (retry_at <= bindparam("now", type_=_WHEN))
    query = (
        select(runs.c.id, runs.c.schedule, *ATTEMPT)
        .where(runs.c.status == "pending", due)
        .order_by(runs.c.id)
        .limit(bindparam("limit", type_=Integer()))
        # PostgreSQL: replicas claiming at once skip each other's rows, never wait.
        .with_for_update(skip_locked=True)
    )
    if blocked:
        query = query.where(runs.c.schedule.not_in(bindparam("blocked", expanding=True)))
    return query


_CANDIDATES = {False: _candidates(blocked=False), True: _candidates(blocked=True)}
_CLAIMING = {  # (``owner``, ``now``, ``expires``)
    "status": "running",
    "claimed_by": bindparam("owner", type_=runs.c.claimed_by.type),
    "started_at": bindparam("now", type_=_WHEN),
    "claim_expires_at": bindparam("expires", type_=_WHEN),
    "attempts": runs.c.attempts + 1,
    "next_attempt_at": None,
}
# Runs never attempted (``ids``, all with ``tried`` attempts so far), claimed by one UPDATE.
_CLAIM_FRESH = (
    update(runs)
    .where(runs.c.id.in_(bindparam("ids", expanding=True)), runs.c.status == "pending")
    .where(runs.c.attempts == bindparam("tried", type_=Integer()))
    .values(_CLAIMING)
    .returning(*runs.c)
)
# Of ``ids``, the runs ``owner`` holds, locked until the commit.
_HELD = (
    select(runs.c.id)
    .where(runs.c.id.in_(bindparam("ids", expanding=True)), runs.c.status == "running")
    .where(runs.c.claimed_by == bindparam("owner", type_=runs.c.claimed_by.type))
    .with_for_update()
)
# One run's end (``row_id``, and its columns as parameters); the attempt's process group was
# stopped by its submitter (SQL NULL, not JSON null).
_END = (
    update(runs)
    .where(runs.c.id == bindparam("row_id"), runs.c.status == "running")
    .values(process=null())
)


def claim_batch(
    conn: Connection,
    owner: str,
    now: datetime,
    *,
    limit: int,
    blocked: Collection[str] = (),
    caps: Mapping[str, int] | None = None,
    ttl: timedelta = CLAIM_TTL,
) -> list[RunRecord]:
    """Take up to ``limit`` of the oldest due pending runs, oldest first: they become
    ``running`` under ``owner`` and their attempts go up, in the caller's one transaction.

    Runs of the ``blocked`` schedules (at their overlap limit) wait; of a schedule in ``caps``
    at most that many are taken (the room left under its limit). The candidates are locked
    (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so replicas claiming at once skip each other's
    rows and never wait; SQLite: the write transaction), and each UPDATE still requires the
    run to be ``pending`` with the attempts read, so a run is claimed by one daemon only.
    Runs never attempted are claimed by one UPDATE per batch, returning their rows; a run
    with an earlier attempt moves it into ``history`` in an UPDATE of its own.
    """
    if limit < 1:
        return []
    asked: dict[str, Any] = {"now": now, "limit": limit}
    if blocked:
        asked["blocked"] = list(blocked)
    room = dict(caps or {})
    fresh: dict[int, list[int]] = {}  # attempts -> ids of runs with nothing to move
    earlier: list[Any] = []
    for candidate in conn.execute(_CANDIDATES[bool(blocked)], asked):
        if candidate.schedule in room:
            if room[candidate.schedule] < 1:
                continue  # its limit is reached by the runs taken so far (the lock ends)
            room[candidate.schedule] -= 1
        if move_attempt(candidate._mapping, attempt=candidate.attempts):
            earlier.append(candidate)
        else:
            fresh.setdefault(int(candidate.attempts), []).append(int(candidate.id))
    claiming = {"owner": owner, "now": now, "expires": now + ttl}
    claimed: list[RunRecord] = []
    for attempts, ids in fresh.items():
        rows = conn.execute(_CLAIM_FRESH, {**claiming, "ids": ids, "tried": attempts})
        claimed += [RunRecord.from_row(row._mapping) for row in rows]
    for candidate in earlier:
        moved = move_attempt(candidate._mapping, attempt=candidate.attempts)
        row = conn.execute(
            update(runs)
            .where(runs.c.id == candidate.id, runs.c.status == "pending")
            .where(runs.c.attempts == candidate.attempts)
            .values({**moved, **_CLAIMING})
            .returning(*runs.c),
            claiming,
        ).first()
        if row is not None:
            claimed.append(RunRecord.from_row(row._mapping))
    return sorted(claimed, key=lambda run: run.id)


def finish_batch(
    conn: Connection, finished: Sequence[tuple[int, Mapping[str, Any]]], *, owner: str
) -> list[bool]:
    """Record how several runs ended, in the caller's one transaction: ``finished`` holds
    (run id, the columns its end sets: ``outbox.finish``'s), and the answer says, per run,
    whether ``owner`` still held its claim (False: another replica took it over meanwhile, and
    the row is left alone).

    The held claims are read and locked first (PostgreSQL: ``FOR UPDATE``, so none changes
    hands before the commit; SQLite: the write transaction), then the rows are written by
    one executemany per set of columns: the dispatcher's group commit of the ``submitted``
    marks, a transaction for many runs where each had one."""
    ids = [run_id for run_id, _ in finished]
    held: set[int] = set()
    for part in chunks(ids):
        found = conn.execute(_HELD, {"ids": part, "owner": owner}).scalars()
        held.update(int(run_id) for run_id in found)
    rows = [
        {**values, "claimed_by": None, "claim_expires_at": None, "row_id": run_id}
        for run_id, values in finished
        if run_id in held
    ]
    for alike_rows in alike(rows):
        _end_statement(conn.dialect, tuple(alike_rows[0])).run(conn, alike_rows)
    return [run_id in held for run_id in ids]


@functools.lru_cache(maxsize=32)
def _end_statement(dialect: Dialect, keys: tuple[str, ...]) -> BulkStatement:
    """``_END`` for rows with ``keys``, compiled once, run through the driver's executemany
    (a burst's ends: SQLAlchemy's own executemany built a parameter dict per row)."""
    return BulkStatement.compile(_END, dialect, list(keys))
