"""Store operations. Every write that must be atomic is one transaction here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Insert, func, null, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from triggerd.datastores.settle import SettleResult, Tracked
from triggerd.errors import RunNotFound
from triggerd.runs import NewRun, RunRecord
from triggerd.store import snapshots
from triggerd.store.instances import InstancesMixin
from triggerd.store.leases import LeasesMixin, check_fence
from triggerd.store.tables import runs, schedule_state, store_meta


@dataclass(frozen=True)
class ScheduleState:
    name: str
    first_seen_at: datetime
    cursor_at: datetime | None
    enabled: bool | None
    last_poll_at: datetime | None
    entries: int | None


def utcnow() -> datetime:
    return datetime.now(UTC)


CLAIM_TTL = timedelta(seconds=30)  # a claim not renewed for this long is taken over
_NAMES_PER_STATEMENT = 500  # names per UPDATE ... WHERE name IN (...)


class Store(InstancesMixin, LeasesMixin):
    """Schedule state and the run outbox. Thread-safe: each call uses its own connection."""

    def __init__(self, engine: Engine, on_close: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self._on_close = on_close
        self._bulk: dict[tuple[str, tuple[str, ...]], _BulkInsert] = {}  # compiled once each
        self._store_id: str | None = None  # read once (two threads reading it is harmless)

    def reading(self) -> Connection:
        """A connection for reads only: it never holds SQLite's write lock."""
        return self.engine.execution_options(triggerd_read_only=True).connect()

    def close(self) -> None:
        self.engine.dispose()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def _insert(self, table: Any) -> Insert:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"unsupported database {dialect!r} (use SQLite or PostgreSQL)")

    # -- schedule state ------------------------------------------------------------------------

    def ensure_schedule_state(self, name: str, now: datetime) -> ScheduleState:
        """The schedule's state, created with ``first_seen_at=now`` the first time it is seen."""
        stmt = self._insert(schedule_state).values(name=name, first_seen_at=now, updated_at=now)
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))  # type: ignore[attr-defined]
            return self._state(conn, name)

    def ensure_schedule_states(self, names: Collection[str], now: datetime) -> None:
        """Create the missing states of many schedules in one transaction (startup)."""
        existing = set(self.schedule_states())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        rows = [{"name": n, "first_seen_at": now, "updated_at": now} for n in missing]
        stmt = self._insert(schedule_state).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["name"]
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def schedule_states_of(self, names: Collection[str]) -> dict[str, ScheduleState]:
        with self.reading() as conn:
            rows = conn.execute(
                select(schedule_state).where(schedule_state.c.name.in_(list(names)))
            ).all()
        return {r.name: ScheduleState(**_state_fields(r._mapping)) for r in rows}

    def enabled_overrides(self) -> dict[str, bool]:
        """The schedules enabled or disabled from the CLI (usually few): name -> enabled."""
        with self.reading() as conn:
            rows = conn.execute(
                select(schedule_state.c.name, schedule_state.c.enabled).where(
                    schedule_state.c.enabled.is_not(None)
                )
            ).all()
        return {name: bool(enabled) for name, enabled in rows}

    def schedule_state(self, name: str) -> ScheduleState | None:
        with self.reading() as conn:
            row = conn.execute(select(schedule_state).where(schedule_state.c.name == name)).first()
        return ScheduleState(**_state_fields(row._mapping)) if row else None

    def schedule_states(self) -> dict[str, ScheduleState]:
        with self.reading() as conn:
            rows = conn.execute(select(schedule_state)).all()
        return {r.name: ScheduleState(**_state_fields(r._mapping)) for r in rows}

    def _state(self, conn: Connection, name: str) -> ScheduleState:
        row = conn.execute(select(schedule_state).where(schedule_state.c.name == name)).one()
        return ScheduleState(**_state_fields(row._mapping))

    def set_enabled(self, name: str, enabled: bool, now: datetime) -> None:
        self.ensure_schedule_state(name, now)
        with self.engine.begin() as conn:
            conn.execute(
                update(schedule_state)
                .where(schedule_state.c.name == name)
                .values(enabled=enabled, updated_at=now)
            )

    # -- recording fires -----------------------------------------------------------------------

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
        with self.engine.begin() as conn:
            created = self._insert_runs(conn, new_runs, now)
            self._advance_cursors(conn, [(schedule, new_runs, cursor_at)], now)
        return created

    def record_fires_many(
        self,
        batch: Sequence[tuple[str, Sequence[NewRun], datetime | None]],
        *,
        now: datetime,
    ) -> int:
        """``record_fires`` for many schedules in ONE transaction, the planner's path: slots that
        come due together (a thousand schedules on the same minute) are committed together, the
        runs with one executemany per status and the cursors with one UPDATE per distinct
        cursor. Returns how many pending runs it recorded (new, or a peer's ``missed:`` record
        made pending); no ids, so that the rows need no RETURNING."""
        pending, others = _run_rows([new for _, runs_, _ in batch for new in runs_], now)
        recorded = 0
        with self.engine.begin() as conn:
            for rows in _alike(pending):
                recorded += self._bulk_insert(conn, "pending", rows)
            for rows in _alike(others):
                self._bulk_insert(conn, "other", rows)
            self._advance_cursors(conn, batch, now)
        return recorded

    def _advance_cursors(
        self,
        conn: Connection,
        batch: Sequence[tuple[str, Sequence[NewRun], datetime | None]],
        now: datetime,
    ) -> None:
        # Schedules planned alike share their new cursor: one UPDATE per distinct cursor.
        moving: dict[datetime, list[str]] = {}
        for schedule, _, cursor_at in batch:
            if cursor_at is not None:
                moving.setdefault(cursor_at, []).append(schedule)
        for cursor_at, names in moving.items():
            for start in range(0, len(names), _NAMES_PER_STATEMENT):
                part = names[start : start + _NAMES_PER_STATEMENT]
                conn.execute(
                    update(schedule_state)
                    .where(schedule_state.c.name.in_(part))
                    .where(  # a cursor only moves forward (replicas plan the same slots)
                        (schedule_state.c.cursor_at.is_(None))
                        | (schedule_state.c.cursor_at < cursor_at)
                    )
                    .values(cursor_at=cursor_at, updated_at=now)
                )

    # -- datastore polls -----------------------------------------------------------------------

    def reset_snapshot(self, schedule: str) -> None:
        """Forget what a datastore schedule has seen: its next poll is a new baseline."""
        with self.engine.begin() as conn:
            snapshots.forget(conn, schedule)
            conn.execute(
                update(schedule_state)
                .where(schedule_state.c.name == schedule)
                .values(last_poll_at=None, entries=None)
            )

    def load_snapshot(self, schedule: str) -> dict[str, Tracked]:
        with self.reading() as conn:
            return snapshots.load(conn, schedule)

    def record_poll(
        self,
        schedule: str,
        result: SettleResult,
        new_runs: Sequence[NewRun],
        *,
        now: datetime,
        entries: int,
        stats_only: bool = False,
        lease: tuple[str, int] | None = None,
    ) -> list[int]:
        """Commit a poll in ONE transaction: its runs, the snapshot rows that changed, the stats.

        A run whose fire key is already recorded is left alone; returns the new run ids.
        """
        created: list[int] = []
        with self.engine.begin() as conn:
            if lease is not None:
                check_fence(conn, f"poll:{schedule}", lease[0], lease[1])
            if not stats_only:
                created = self._insert_runs(conn, new_runs, now)
                snapshots.write(
                    conn,
                    schedule,
                    inserts=result.inserts,
                    updates=result.updates,
                    removals=result.removals,
                )
            conn.execute(
                update(schedule_state)
                .where(schedule_state.c.name == schedule)
                .values(last_poll_at=now, entries=entries, updated_at=now)
            )
        return created

    def _bulk_insert(self, conn: Connection, kind: str, rows: list[dict[str, Any]]) -> int:
        key = (kind, tuple(rows[0]))
        bulk = self._bulk.get(key)
        if bulk is None:
            stmt = self._insert_pending() if kind == "pending" else self._insert_other()
            bulk = self._bulk[key] = _BulkInsert.compile(stmt, conn.dialect, list(rows[0]))
        return bulk.run(conn, rows)

    def _insert_pending(self) -> Insert:
        """INSERT a pending run unless its fire key is recorded; another replica, started later,
        may have recorded the slot as missed: the replica that was running when it came fires
        it."""
        return self._insert(runs).on_conflict_do_update(  # type: ignore[attr-defined,no-any-return]
            index_elements=["fire_key"],
            # null(), not None: a None bind parameter in the SET clause would make SQLAlchemy
            # send a RETURNING executemany one row per statement.
            set_={"status": "pending", "reason": null(), "finished_at": null()},
            where=(runs.c.status == "skipped") & runs.c.reason.like("missed:%"),
        )

    def _insert_other(self) -> Insert:
        """INSERT a skipped run unless its fire key is recorded."""
        return self._insert(runs).on_conflict_do_nothing(  # type: ignore[attr-defined,no-any-return]
            index_elements=["fire_key"]
        )

    def _insert_runs(
        self, conn: Connection, new_runs: Sequence[NewRun], now: datetime
    ) -> list[int]:
        """Insert runs, skipping fire keys already recorded; the ids of new pending runs.

        One executemany per status (SQLAlchemy sends it as multi-row INSERTs with RETURNING).
        """
        pending, others = _run_rows(new_runs, now)
        created: list[int] = []
        for rows in _alike(pending):
            result = conn.execute(self._insert_pending().returning(runs.c.id), rows)
            created += [int(run_id) for run_id in result.scalars()]
        for rows in _alike(others):
            conn.execute(self._insert_other(), rows)
        return created

    # -- the dispatcher's side -----------------------------------------------------------------

    def claim_next(
        self,
        owner: str,
        now: datetime,
        *,
        blocked: Collection[str] = (),
        ttl: timedelta = CLAIM_TTL,
    ) -> RunRecord | None:
        """Take the oldest due pending run: it becomes ``running`` and its attempts go up.

        Runs of the ``blocked`` schedules (at their overlap limit) wait.
        """
        with self.engine.begin() as conn:
            query = (
                select(runs.c.id)
                .where(runs.c.status == "pending")
                .where((runs.c.next_attempt_at.is_(None)) | (runs.c.next_attempt_at <= now))
                .order_by(runs.c.id)
                .limit(1)
                # PostgreSQL: replicas claiming at once skip each other's rows, never wait.
                .with_for_update(skip_locked=True)
            )
            if blocked:
                query = query.where(runs.c.schedule.not_in(list(blocked)))
            candidate = conn.execute(query).scalar()
            if candidate is None:
                return None
            claimed = conn.execute(
                update(runs)
                .where(runs.c.id == candidate, runs.c.status == "pending")
                .values(
                    status="running",
                    claimed_by=owner,
                    started_at=func.coalesce(runs.c.started_at, now),  # the first attempt
                    claim_expires_at=now + ttl,
                    attempts=runs.c.attempts + 1,
                    next_attempt_at=None,
                )
            )
            if claimed.rowcount != 1:
                return None
            return self._run(conn, int(candidate))

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        now: datetime,
        exit_code: int | None = None,
        error: str | None = None,
        output: str | None = None,
        external_id: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Record how a run ended; with ``owner``, only while that daemon still holds the claim
        (False when another replica took the run over meanwhile)."""
        query = update(runs).where(runs.c.id == run_id)
        if owner is not None:
            query = query.where(runs.c.claimed_by == owner, runs.c.status == "running")
        with self.engine.begin() as conn:
            result = conn.execute(
                query.values(
                    status=status,
                    finished_at=now,
                    exit_code=exit_code,
                    error=error,
                    output=output,
                    external_id=external_id,
                    claimed_by=None,
                    claim_expires_at=None,
                    process=null(),  # the attempt's group was stopped by its submitter
                )
            )
        return result.rowcount == 1

    def release_run(self, run_id: int, *, error: str | None = None) -> None:
        """Hand a run back (shutdown): pending again, the interrupted attempt not counted."""
        less = runs.c.attempts - 1
        floor = func.max if self.engine.dialect.name == "sqlite" else func.greatest
        self._requeue(run_id, error=error, attempts=floor(less, 0))

    def schedule_retry(self, run_id: int, *, at: datetime, error: str) -> None:
        """A transient failure: the run is pending again, due at ``at``."""
        self._requeue(run_id, error=error, next_attempt_at=at)

    def shift_retries(self, by: timedelta, *, after: datetime) -> int:
        """Move the waiting retries due after ``after`` by ``by`` (the wall clock stepped back:
        a retry meant for 5 s after a failure is due 5 s after it again, not an hour later).
        Returns how many moved."""
        rows = select(runs.c.id, runs.c.next_attempt_at).where(
            runs.c.status == "pending", runs.c.next_attempt_at > after
        )
        with self.engine.begin() as conn:
            due = conn.execute(rows).all()
            for run_id, at in due:  # few: only runs waiting for a retry
                conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status == "pending")
                    .values(next_attempt_at=max(at + by, after))
                )
        return len(due)

    def _requeue(self, run_id: int, **values: Any) -> None:
        """A running run becomes pending again, unclaimed."""
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(
                    status="pending",
                    claimed_by=None,
                    claim_expires_at=None,
                    process=null(),  # the attempt's group was stopped by its submitter
                    **values,
                )
            )

    def record_process(self, run_id: int, process: dict[str, Any], *, owner: str) -> bool:
        """Record the process group of a run's attempt in flight (one UPDATE, right after the
        command started); False if ``owner`` no longer holds the run."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.claimed_by == owner, runs.c.status == "running")
                .values(process=process)
            )
        return result.rowcount == 1

    def add_note(self, run_id: int, note: str) -> None:
        """Add a sentence to the run's note (what became of an earlier attempt's processes)."""
        with self.engine.begin() as conn:
            earlier = conn.execute(select(runs.c.note).where(runs.c.id == run_id)).scalar()
            text = note if not earlier else f"{earlier} {note}"
            conn.execute(update(runs).where(runs.c.id == run_id).values(note=text))

    def store_id(self) -> str:
        """This database's id (made with its schema): tells its runs from another database's."""
        if self._store_id is None:
            self._store_id = self._read_store_id()
        return self._store_id

    def _read_store_id(self) -> str:
        query = select(store_meta.c.value).where(store_meta.c.key == "store_id")
        with self.reading() as conn:
            found = conn.execute(query).scalar()
        if found is not None:
            return str(found)
        with self.engine.begin() as conn:  # a schema made without migration 0004's row
            insert = self._insert(store_meta).values(key="store_id", value=uuid.uuid4().hex)
            conn.execute(insert.on_conflict_do_nothing(index_elements=["key"]))  # type: ignore[attr-defined]
            return str(conn.execute(query).scalar_one())

    def renew_claims(
        self,
        owner: str,
        now: datetime,
        ttl: timedelta = CLAIM_TTL,
        *,
        run_ids: Collection[int] | None = None,
    ) -> None:
        """Keep the claims of this daemon's runs in flight (called with its heartbeat). With
        ``run_ids``, only those: a claim the daemon no longer works on then expires."""
        query = update(runs).where(runs.c.claimed_by == owner, runs.c.status == "running")
        if run_ids is not None:
            if not run_ids:
                return
            query = query.where(runs.c.id.in_(list(run_ids)))
        with self.engine.begin() as conn:
            conn.execute(query.values(claim_expires_at=now + ttl))

    def take_over_expired(self, now: datetime) -> list[int]:
        """Runs whose claim expired (their daemon died) become pending again: at-least-once.
        Their ``process`` stays: the dispatcher that claims one ends what is left of it first."""
        with self.engine.begin() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    select(runs.c.id)
                    .where(runs.c.status == "running", runs.c.claim_expires_at < now)
                    .with_for_update(skip_locked=True)
                ).scalars()
            ]
            if ids:
                conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(ids), runs.c.status == "running")
                    .values(
                        status="pending",
                        claimed_by=None,
                        claim_expires_at=None,
                        error="the daemon running this run stopped renewing its claim; run again",
                    )
                )
        return ids

    def running_counts(self) -> dict[str, int]:
        """Runs in flight per schedule (for the overlap limits)."""
        with self.reading() as conn:
            rows = conn.execute(
                select(runs.c.schedule, func.count())
                .where(runs.c.status == "running")
                .group_by(runs.c.schedule)
            ).all()
        return {schedule: int(count) for schedule, count in rows}

    def skip_waiting(self, schedule: str, *, reason: str, now: datetime) -> list[str]:
        """Fires of ``schedule`` not yet attempted become skipped; returns their fire keys."""
        with self.engine.begin() as conn:
            keys = list(
                conn.execute(
                    select(runs.c.fire_key).where(
                        runs.c.schedule == schedule,
                        runs.c.status == "pending",
                        runs.c.attempts == 0,
                        runs.c.trigger != "manual",  # an operator asked for it: it waits
                    )
                ).scalars()
            )
            if keys:
                conn.execute(
                    update(runs)
                    .where(runs.c.fire_key.in_(keys), runs.c.status == "pending")
                    .values(status="skipped", reason=reason, finished_at=now)
                )
        return keys

    def statuses(self, fire_keys: Sequence[str]) -> dict[str, str]:
        """The status of each fire key that has a run."""
        found: dict[str, str] = {}
        with self.reading() as conn:
            for start in range(0, len(fire_keys), 500):
                chunk = list(fire_keys[start : start + 500])
                rows = conn.execute(
                    select(runs.c.fire_key, runs.c.status).where(runs.c.fire_key.in_(chunk))
                )
                found.update({key: status for key, status in rows})
        return found

    def requeue_skipped(self, fire_keys: Sequence[str], *, reason: str) -> int:
        """Skipped fires become pending again (a backfill asked for them)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(runs)
                .where(runs.c.fire_key.in_(list(fire_keys)), runs.c.status == "skipped")
                .values(status="pending", reason=reason, finished_at=None)
            )
        return int(result.rowcount)

    def recover_orphans(self, *, except_owner: str | None = None) -> list[int]:
        """Runs left ``running`` by a daemon that died become pending again (at-least-once).
        Their ``process`` stays: the dispatcher that claims one ends what is left of it first."""
        with self.engine.begin() as conn:
            query = select(runs.c.id).where(runs.c.status == "running")
            if except_owner is not None:
                query = query.where(runs.c.claimed_by != except_owner)
            ids = [int(i) for i in conn.execute(query).scalars()]
            if ids:
                conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(ids))
                    .values(
                        status="pending",
                        claimed_by=None,
                        claim_expires_at=None,
                        error="the daemon stopped while this run was in flight; run again",
                    )
                )
        return ids

    # -- operators' side -----------------------------------------------------------------------

    def add_run(self, new: NewRun, now: datetime) -> int:
        with self.engine.begin() as conn:
            stmt = runs.insert().values(**_run_values(new, now)).returning(runs.c.id)
            return int(conn.execute(stmt).scalar_one())

    def retry_run(self, run_id: int) -> RunRecord:
        """Re-drive a failed run under the same fire key."""
        with self.engine.begin() as conn:
            run = self._run(conn, run_id)
            if run.status != "failed":
                raise ValueError(f"run {run_id} is {run.status}; only a failed run can be retried")
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status="pending", finished_at=None, next_attempt_at=None, started_at=None)
            )
            return self._run(conn, run_id)

    def get_run(self, run_id: int) -> RunRecord:
        with self.reading() as conn:
            return self._run(conn, run_id)

    def _run(self, conn: Connection, run_id: int) -> RunRecord:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(run_id)
        return RunRecord.from_row(row._mapping)

    def list_runs(
        self,
        *,
        schedule: str | None = None,
        statuses: Iterable[str] | None = None,
        limit: int | None = 50,
    ) -> list[RunRecord]:
        query = select(runs).order_by(runs.c.id.desc())
        if schedule is not None:
            query = query.where(runs.c.schedule == schedule)
        if statuses:
            query = query.where(runs.c.status.in_(list(statuses)))
        if limit is not None:
            query = query.limit(limit)
        with self.reading() as conn:
            return [RunRecord.from_row(row._mapping) for row in conn.execute(query)]

    def last_runs(self) -> dict[str, RunRecord]:
        """The newest run (not skipped) of each schedule."""
        newest = (
            select(func.max(runs.c.id))
            .where(runs.c.status != "skipped")
            .group_by(runs.c.schedule)
            .scalar_subquery()
        )
        with self.reading() as conn:
            rows = conn.execute(select(runs).where(runs.c.id.in_(newest))).all()
        return {r.schedule: RunRecord.from_row(r._mapping) for r in rows}

    def count_runs(self, *, status: str | None = None) -> int:
        query = select(func.count()).select_from(runs)
        if status is not None:
            query = query.where(runs.c.status == status)
        with self.reading() as conn:
            return int(conn.execute(query).scalar_one())


def _run_rows(
    new_runs: Sequence[NewRun], now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of the pending runs, and those of the others (skipped)."""
    pending = [_run_values(new, now) for new in new_runs if new.status == "pending"]
    others = [_run_values(new, now) for new in new_runs if new.status != "pending"]
    return pending, others


def _run_values(new: NewRun, now: datetime) -> dict[str, Any]:
    """A run row; columns that stay NULL are left out (fewer parameters per row)."""
    values = {
        "schedule": new.schedule,
        "trigger": str(new.trigger),
        "fire_key": new.fire_key,
        "scheduled_for": new.scheduled_for,
        "status": str(new.status),
        "parameters": new.parameters,
        "attempts": 0,
        "created_at": now,
    }
    if new.reason is not None:
        values["reason"] = new.reason
    if new.data_path is not None:
        values["data_path"] = new.data_path.as_json()
    if new.status == "skipped":
        values["finished_at"] = now
    return values


@dataclass(frozen=True)
class _BulkInsert:
    """An INSERT run once per row through the DBAPI's own ``executemany``.

    SQLAlchemy's executemany builds and processes a parameter dict per row (~15 us), most of a
    1,000-fire planning pass. Here the statement is compiled once, and each value goes through
    its bind parameter's type processor (the conversion SQLAlchemy itself would apply: UTC
    datetimes, JSON) straight into the tuple (positional paramstyle) or dict (named) the driver
    takes. Same SQL, same stored values; contract-tested on SQLite and PostgreSQL.
    """

    sql: str
    positional: bool
    names: tuple[str, ...]  # the parameters, in the order of a positional statement
    plan: tuple[tuple[str, Any, Any], ...]  # (row key or "", processor, converted constant)

    @classmethod
    def compile(cls, stmt: Insert, dialect: Dialect, keys: list[str]) -> _BulkInsert:
        compiled = stmt.compile(dialect=dialect, column_keys=keys)
        constants = compiled.params  # the statement's own values (the SET clause, LIKE pattern)
        binds = {rendered: bind for bind, rendered in compiled.bind_names.items()}
        names = tuple(compiled.positiontup or binds)
        plan = []
        for name in names:
            processor = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if name in keys:
                plan.append((name, processor, None))
            else:
                value = constants[name]
                plan.append(("", None, processor(value) if processor else value))
        return cls(compiled.string, compiled.positiontup is not None, names, tuple(plan))

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` (all with the compiled keys); the number of rows changed."""
        plan = [(key, proc and _remembering(proc), const) for key, proc, const in self.plan]

        def values(row: dict[str, Any]) -> list[Any]:
            return [
                (proc(row[key]) if proc else row[key]) if key else const
                for key, proc, const in plan
            ]

        params: list[Any]
        if self.positional:
            params = [tuple(values(row)) for row in rows]
        else:
            params = [dict(zip(self.names, values(row), strict=True)) for row in rows]
        result = conn.exec_driver_sql(self.sql, params)
        return len(rows) if result.rowcount < 0 else int(result.rowcount)


def _remembering(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``processor`` converting each distinct hashable value once (the rows of a pass share
    their ``created_at`` and, schedule by schedule, their slot)."""
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            converted = done[value] = processor(value)
            return converted
        except TypeError:  # unhashable: a JSON dict
            return processor(value)

    return convert


def _alike(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by their columns: one executemany needs the same keys in every row."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())


def _state_fields(mapping: Any) -> dict[str, Any]:
    return {k: mapping[k] for k in ScheduleState.__dataclass_fields__}
