"""The ``schedule_state`` table: each schedule's anchor, cursor, enable override and poll
statistics (functions over a Connection)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Dialect

from triggerd.runs import NewRun
from triggerd.store.bulk import BulkStatement
from triggerd.store.sql import insert
from triggerd.store.tables import schedule_state


@dataclass(frozen=True)
class ScheduleState:
    """A schedule's row: its anchor, cursor, enable override and poll statistics."""

    name: str
    first_seen_at: datetime
    cursor_at: datetime | None
    enabled: bool | None
    last_poll_at: datetime | None
    entries: int | None
    # Who set ``enabled``, when and why (None without an override, or one set before 0005).
    override_note: str | None = None
    override_at: datetime | None = None
    override_by: str | None = None
    last_event_at: datetime | None = None  # a blob event last reached the folder (0007)

    @classmethod
    def from_row(cls, row: Any) -> ScheduleState:
        """A row of the ``schedule_state`` table."""
        mapping = row._mapping
        return cls(**{k: mapping[k] for k in cls.__dataclass_fields__})

    @property
    def status_source(self) -> Literal["config", "override"]:
        """Where the status in force comes from: the config's ``status``, or the CLI."""
        return "config" if self.enabled is None else "override"

    def override_json(self) -> dict[str, Any] | None:
        """The override as `schedules list --json` shows it (a documented contract); None
        when the config's ``status`` is in force."""
        if self.enabled is None:
            return None
        return {
            "enabled": self.enabled,
            "note": self.override_note,
            "at": self.override_at.isoformat() if self.override_at else None,
            "by": self.override_by,
        }


def ensure(conn: Connection, name: str, now: datetime) -> ScheduleState:
    """The schedule's state, created with ``first_seen_at=now`` the first time it is seen."""
    stmt = insert(conn.dialect, schedule_state).values(name=name, first_seen_at=now, updated_at=now)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    row = conn.execute(select(schedule_state).where(schedule_state.c.name == name)).one()
    return ScheduleState.from_row(row)


def create(conn: Connection, names: Collection[str], now: datetime) -> None:
    """Create the states of ``names``, schedules that have none yet, in one statement run
    through the driver's ``executemany`` (``BulkStatement``: SQLAlchemy's own handling of 10,000
    rows at a first start was ~90 ms of the ~30 this takes)."""
    keys = ["name", "first_seen_at", "updated_at"]
    stmt = insert(conn.dialect, schedule_state).on_conflict_do_nothing(index_elements=["name"])
    rows = [{"name": n, "first_seen_at": now, "updated_at": now} for n in names]
    BulkStatement.compile(stmt, conn.dialect, keys).run(conn, rows)


def get(conn: Connection, name: str) -> ScheduleState | None:
    """The schedule's state; None before it is first seen."""
    row = conn.execute(select(schedule_state).where(schedule_state.c.name == name)).first()
    return ScheduleState.from_row(row) if row else None


# The columns of a ScheduleState, in its fields' order: a row of them is its arguments.
_STATE_COLUMNS = [schedule_state.c[field] for field in ScheduleState.__dataclass_fields__]


def _by_name(conn: Connection, stmt: Any) -> dict[str, ScheduleState]:
    """The states a select of ``_STATE_COLUMNS`` returns, by name. Built from each row's
    values in order, not by name through ``row._mapping``: the daemon reads every state at
    start, and for 10,000 schedules that lookup was 40% of the read (79 ms of it)."""
    return {row[0]: ScheduleState(*row) for row in conn.execute(stmt)}


def get_many(conn: Connection, names: Collection[str]) -> dict[str, ScheduleState]:
    """The states of these schedules (those that have one), by name."""
    return _by_name(conn, select(*_STATE_COLUMNS).where(schedule_state.c.name.in_(list(names))))


def get_all(conn: Connection) -> dict[str, ScheduleState]:
    """Every schedule's state, by name."""
    return _by_name(conn, select(*_STATE_COLUMNS))


def enabled_overrides(conn: Connection) -> dict[str, bool]:
    """The schedules enabled or disabled from the CLI (usually few): name -> enabled."""
    rows = conn.execute(
        select(schedule_state.c.name, schedule_state.c.enabled).where(
            schedule_state.c.enabled.is_not(None)
        )
    ).all()
    return {name: bool(enabled) for name, enabled in rows}


def set_enabled(conn: Connection, name: str, enabled: bool, now: datetime) -> None:
    """Set the operator's override of a schedule whose state exists (``ensure`` it first),
    without a note (``set_override`` is what `schedules enable|disable` does)."""
    conn.execute(
        update(schedule_state)
        .where(schedule_state.c.name == name)
        .values(enabled=enabled, updated_at=now)
    )


def set_override(
    conn: Connection, name: str, enabled: bool, *, note: str | None, by: str | None, now: datetime
) -> ScheduleState:
    """The operator's override (`schedules enable|disable`): the status in force until
    ``clear_override``, with who set it, when and why. The state is created first if the
    schedule has none (``first_seen_at=now``); one transaction in the caller's."""
    ensure(conn, name, now.replace(microsecond=0))  # an anchor: to the second
    conn.execute(
        update(schedule_state)
        .where(schedule_state.c.name == name)
        .values(
            enabled=enabled, override_note=note, override_at=now, override_by=by, updated_at=now
        )
    )
    state = get(conn, name)
    assert state is not None  # ensured above, in this transaction
    return state


def clear_override(conn: Connection, name: str, now: datetime) -> ScheduleState | None:
    """Forget the operator's override (`schedules reset`): the config's ``status`` is in
    force again. Returns the state as it was before (None if the schedule has none)."""
    before = get(conn, name)
    if before is not None:
        conn.execute(
            update(schedule_state)
            .where(schedule_state.c.name == name)
            .values(
                enabled=None, override_note=None, override_at=None, override_by=None, updated_at=now
            )
        )
    return before


def advance_cursors(
    conn: Connection,
    batch: Sequence[tuple[str, Sequence[NewRun], datetime | None]],
    now: datetime,
) -> None:
    """Move each schedule's cursor forward to its new one (never back: replicas plan the same
    slots), one executemany of ``cursor_update``."""
    moving = cursor_rows(batch, now)
    if moving:
        update_ = cursor_update(conn.dialect)
        update_.execute(conn, update_.params(moving))


def cursor_rows(
    batch: Sequence[tuple[str, Sequence[NewRun], datetime | None]], now: datetime
) -> list[dict[str, Any]]:
    """``cursor_update``'s rows for the schedules of ``batch`` whose cursor moves."""
    return [
        {"b_name": name, "b_cursor": cursor, "b_now": now}
        for name, _, cursor in batch
        if cursor is not None
    ]


@cache
def cursor_update(dialect: Dialect) -> BulkStatement:
    """The UPDATE that moves a schedule's cursor forward only, one row per schedule, compiled
    once (the planner prepares its parameters before the slot: ``Store.prepare_fires``)."""
    stmt = (
        update(schedule_state)
        .where(schedule_state.c.name == bindparam("b_name"))
        .where(
            schedule_state.c.cursor_at.is_(None)
            | (schedule_state.c.cursor_at < bindparam("b_cursor"))
        )
        .values(cursor_at=bindparam("b_cursor"), updated_at=bindparam("b_now"))
    )
    return BulkStatement.compile(stmt, dialect, ["b_name", "b_cursor", "b_now"], columns=False)


def record_poll(conn: Connection, name: str, *, now: datetime, entries: int) -> None:
    """A datastore schedule's poll statistics: when it last polled, how many files it saw."""
    conn.execute(
        update(schedule_state)
        .where(schedule_state.c.name == name)
        .values(last_poll_at=now, entries=entries, updated_at=now)
    )


def forget_polls(conn: Connection, name: str) -> None:
    """Forget a datastore schedule's poll statistics (its snapshot is forgotten with them)."""
    conn.execute(
        update(schedule_state)
        .where(schedule_state.c.name == name)
        .values(last_poll_at=None, entries=None)
    )
