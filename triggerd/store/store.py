"""The store: connections to read, transactions to write, and the writes that span tables.

Everything else the store does is a function over a Connection in the module of its table
(``states``, ``outbox``, ``queries``, ``snapshots``, ``polls``, ``leases``, ``instances``,
``meta``);
a caller runs it in ``reading()`` or ``writing()``, or hands it to ``read`` or ``write``::

    with store.writing() as conn:
        run = outbox.claim_next(conn, owner, now)
    run = store.write(outbox.claim_next, owner, now)  # the same, one transaction
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from triggerd.datastores.settle import SettleResult
from triggerd.datastores.snapshot import IgnoredChange
from triggerd.runs import NewRun
from triggerd.store import outbox, polls, snapshots, states
from triggerd.store.bulk import BulkStatement, alike
from triggerd.store.leases import check_fence
from triggerd.store.sql import read_only

P = ParamSpec("P")
T = TypeVar("T")
Batch = Sequence[tuple[str, Sequence[NewRun], datetime | None]]  # (schedule, runs, new cursor)


class _NotNow(Exception):
    """Rolls back a ``commit_fires`` transaction whose plan no longer holds."""


# Run INSERTs with their driver parameters, one per status and set of columns (True: pending).
RunInserts = list[tuple[bool, BulkStatement, list[Any]]]


@dataclass(frozen=True)
class PreparedFires:
    """Fires ready to commit (``Store.prepare_fires``): each INSERT with its driver parameters
    (``True``: pending runs, counted), and the batch whose cursors the commit advances."""

    inserts: RunInserts
    cursors: tuple[BulkStatement, list[Any]] | None  # one UPDATE per schedule whose cursor moves
    batch: Batch
    now: datetime


class Store:
    """The database. Thread-safe: each call uses its own connection."""

    def __init__(self, engine: Engine, on_close: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self._on_close = on_close
        self._bulk: dict[tuple[str, tuple[str, ...]], BulkStatement] = {}  # compiled once each

    def reading(self) -> Connection:
        """A connection for reads only: it never holds SQLite's write lock."""
        return read_only(self.engine)

    def writing(self) -> AbstractContextManager[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        return self.engine.begin()

    def read(self, query: Callable[Concatenate[Connection, P], T], *a: P.args, **k: P.kwargs) -> T:
        """``query(conn, *a, **k)`` on a connection of its own that only reads."""
        with self.reading() as conn:
            return query(conn, *a, **k)

    def write(
        self, change: Callable[Concatenate[Connection, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        """``change(conn, *a, **k)`` in a transaction of its own."""
        with self.writing() as conn:
            return change(conn, *a, **k)

    def close(self) -> None:
        """Close the connections and release the SQLite single-daemon lock, if held."""
        self.engine.dispose()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- recording fires: runs and cursors -----------------------------------------------------

    def record_fires(
        self,
        schedule: str,
        new_runs: Sequence[NewRun],
        *,
        cursor_at: datetime | None,
        now: datetime,
    ) -> list[int]:
        """Record fires and advance the schedule's cursor in ONE transaction.

        A fire whose key is already recorded is left alone (restart, two replicas): the ids
        returned are those of the pending runs this call created.
        """
        with self.writing() as conn:
            created = outbox.insert_runs(conn, new_runs, now)
            states.advance_cursors(conn, [(schedule, new_runs, cursor_at)], now)
        return created

    def record_fires_many(self, batch: Batch, *, now: datetime) -> int:
        """``record_fires`` for many schedules in ONE transaction, the planner's path: slots that
        come due together (a thousand schedules on the same minute) are committed together, the
        runs with one executemany per status and the cursors with one executemany of
        ``states.cursor_update``. Returns how many pending runs it recorded (new, or a peer's
        ``missed:`` record made pending); no ids, so that the rows need no RETURNING."""
        recorded = self.commit_fires(self.prepare_fires(batch, now=now))
        assert recorded is not None  # no check: always committed
        return recorded

    def prepare_fires(self, batch: Batch, *, now: datetime) -> PreparedFires:
        """Everything ``record_fires_many`` does before it needs the database: the rows, their
        statements and their driver parameters. A pass prepared before its slot builds this
        ahead and only commits it at the slot (``commit_fires``)."""
        inserts = self._run_inserts([new for _, runs_, _ in batch for new in runs_], now)
        moving = states.cursor_rows(batch, now)
        update_ = states.cursor_update(self.engine.dialect)
        cursors = (update_, update_.params(moving)) if moving else None
        return PreparedFires(inserts, cursors, batch, now)

    def commit_fires(
        self,
        prepared: PreparedFires,
        *,
        still: Callable[[Connection], bool] | None = None,
        hold: Callable[[], bool] | None = None,
    ) -> int | None:
        """Commit prepared fires in ONE transaction; the pending runs recorded, or None if it
        was rolled back. ``still(conn)``, asked first inside the transaction (under SQLite's
        write lock), says whether what the fires were planned from still holds; ``hold()``,
        called after the writes, just before the COMMIT, waits for the moment to commit (a slot
        not come yet) and says whether to. Either saying no rolls the transaction back."""
        if not prepared.batch:
            return 0  # nothing decided: no transaction (a quiet pass writes nothing)
        try:
            with self.writing() as conn:
                if still is not None and not still(conn):
                    raise _NotNow
                recorded = _execute_inserts(conn, prepared.inserts)
                if prepared.cursors is not None:
                    prepared.cursors[0].execute(conn, prepared.cursors[1])
                if hold is not None and not hold():
                    raise _NotNow
        except _NotNow:
            return None  # rolled back: nothing written
        return recorded

    def _run_inserts(self, new_runs: Sequence[NewRun], now: datetime) -> RunInserts:
        """The INSERTs of ``new_runs`` with their driver parameters (True: pending runs), one
        per status and set of columns: through the driver's ``executemany``, no RETURNING."""
        pending, others = outbox.run_rows(new_runs, now)
        return [
            (kind == "pending", bulk, bulk.params(rows))
            for kind, group in (("pending", pending), ("other", others))
            for rows in alike(group)
            for bulk in [self._bulk_insert(kind, rows)]
        ]

    def _bulk_insert(self, kind: str, rows: list[dict[str, Any]]) -> BulkStatement:
        """The compiled INSERT for alike ``rows`` of ``kind`` (pending or other)."""
        key = (kind, tuple(rows[0]))
        bulk = self._bulk.get(key)
        if bulk is None:
            make = outbox.insert_pending if kind == "pending" else outbox.insert_other
            dialect = self.engine.dialect
            bulk = self._bulk[key] = BulkStatement.compile(make(dialect), dialect, list(rows[0]))
        return bulk

    # -- datastore polls: runs, snapshot and statistics ----------------------------------------

    def record_poll(
        self,
        schedule: str,
        result: SettleResult,
        new_runs: Sequence[NewRun],
        *,
        now: datetime,
        entries: int,
        stats_only: bool = False,
        lease: tuple[str, str, int] | None = None,
        baseline: bool = False,
        history: polls.PollRecord | None = None,
        ignored: IgnoredChange | None = None,
    ) -> int:
        """Commit a poll in ONE transaction: its runs, the snapshot rows that changed (``baseline``:
        the first poll's), what it left out that changed, its ``history`` row, the stats.

        With ``lease`` (name, owner, token), only while that lease is still held (else
        LeaseLost). A run whose fire key is already recorded is left alone; returns how many
        pending runs it recorded (new, or a peer's ``missed:`` record made pending). The runs
        go in as a planning pass's do (``_run_inserts``): a burst's thousands of rows, no ids
        read back.
        """
        created = 0
        with self.writing() as conn:
            if lease is not None:
                check_fence(conn, *lease)
            if not stats_only:
                created = _execute_inserts(conn, self._run_inserts(new_runs, now))
                snapshots.write(
                    conn,
                    schedule,
                    inserts=result.inserts,
                    updates=result.updates,
                    removals=result.removals,
                    fired={path for path, _ in result.fire} if result.fire else (),
                    baseline=baseline,
                )
            if ignored:
                polls.write_ignored(conn, schedule, ignored, now)
            if history is not None:
                polls.append(conn, schedule, history)
            states.record_poll(conn, schedule, now=now, entries=entries)
        return created

    def reset_snapshot(self, schedule: str) -> None:
        """Forget what a datastore schedule has seen: its next poll is a new baseline."""
        with self.writing() as conn:
            snapshots.forget(conn, schedule)
            polls.forget_ignored(conn, schedule)
            states.forget_polls(conn, schedule)


def _execute_inserts(conn: Connection, inserts: RunInserts) -> int:
    """Run prepared run INSERTs; the pending runs they recorded."""
    recorded = 0
    for is_pending, bulk, params in inserts:
        changed = bulk.execute(conn, params)
        recorded += changed if is_pending else 0
    return recorded
