"""The run outbox, the ``runs`` table's writes: fires recorded, claimed, finished, retried,
handed back, taken over (functions over a Connection; each caller's transaction is one atomic
write)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, func, null, select, update
from sqlalchemy.engine import Connection, Dialect

from triggerd.runs import NewRun, RunRecord
from triggerd.store.attempts import ATTEMPT, move_attempt
from triggerd.store.bulk import alike
from triggerd.store.claims import CLAIM_TTL, claim_batch
from triggerd.store.queries import get_run
from triggerd.store.sql import insert
from triggerd.store.tables import runs

# -- recording fires ---------------------------------------------------------------------------


def insert_pending(dialect: Dialect) -> Insert:
    """INSERT a pending run unless its fire key is recorded; another replica, started later,
    may have recorded the slot as missed: the replica that was running when it came fires
    it."""
    return insert(dialect, runs).on_conflict_do_update(
        index_elements=["fire_key"],
        # null(), not None: a None bind parameter in the SET clause would make SQLAlchemy
        # send a RETURNING executemany one row per statement.
        set_={"status": "pending", "reason": null(), "finished_at": null()},
        where=(runs.c.status == "skipped") & runs.c.reason.like("missed:%"),
    )


def insert_other(dialect: Dialect) -> Insert:
    """INSERT a skipped run unless its fire key is recorded."""
    return insert(dialect, runs).on_conflict_do_nothing(index_elements=["fire_key"])


def insert_runs(conn: Connection, new_runs: Sequence[NewRun], now: datetime) -> list[int]:
    """Insert runs, skipping fire keys already recorded; the ids of new pending runs.

    One executemany per status (SQLAlchemy sends it as multi-row INSERTs with RETURNING).
    """
    pending, others = run_rows(new_runs, now)
    created: list[int] = []
    for rows in alike(pending):
        result = conn.execute(insert_pending(conn.dialect).returning(runs.c.id), rows)
        created += [int(run_id) for run_id in result.scalars()]
    for rows in alike(others):
        conn.execute(insert_other(conn.dialect), rows)
    return created


def run_rows(
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


# -- the dispatcher's side ---------------------------------------------------------------------


def claim_next(
    conn: Connection,
    owner: str,
    now: datetime,
    *,
    blocked: Collection[str] = (),
    ttl: timedelta = CLAIM_TTL,
) -> RunRecord | None:
    """Take the oldest due pending run: it becomes ``running`` and its attempts go up (a
    batch of one: ``claim_batch``)."""
    claimed = claim_batch(conn, owner, now, limit=1, blocked=blocked, ttl=ttl)
    return claimed[0] if claimed else None


def finish(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    now: datetime,
    exit_code: int | None = None,
    error: str | None = None,
    output: str | None = None,
    external_id: str | None = None,
    owner: str | None = None,
    follow: dict[str, Any] | None = None,
) -> bool:
    """Record how a run ended; with ``owner``, only while that daemon still holds the claim
    (False when another replica took the run over meanwhile). ``follow``: the columns that
    start following a submitted run (``follows.start_values``)."""
    query = update(runs).where(runs.c.id == run_id)
    if owner is not None:
        query = query.where(runs.c.claimed_by == owner, runs.c.status == "running")
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
            **(follow or {}),
        )
    )
    return result.rowcount == 1


def hand_back(conn: Connection, run_id: int, *, error: str | None = None) -> None:
    """Hand a run back (shutdown): pending again, the interrupted attempt not counted. It goes
    into ``history`` at once (its number is the one the next attempt gets again); ``error``
    stays the run's current one while it waits."""
    row = conn.execute(
        select(*ATTEMPT).where(runs.c.id == run_id, runs.c.status == "running")
    ).first()
    if row is None:
        return
    moved = move_attempt({**row._mapping, "error": error}, attempt=row.attempts)
    moved["error"] = error
    less = runs.c.attempts - 1
    floor = func.max if conn.dialect.name == "sqlite" else func.greatest
    _requeue(conn, run_id, attempts=floor(less, 0), **moved)


def schedule_retry(conn: Connection, run_id: int, *, at: datetime, error: str) -> None:
    """A transient failure: the run is pending again, due at ``at``."""
    _requeue(conn, run_id, error=error, next_attempt_at=at)


def _requeue(conn: Connection, run_id: int, **values: Any) -> None:
    """A running run becomes pending again, unclaimed."""
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


def shift_retries(conn: Connection, by: timedelta, *, after: datetime) -> int:
    """Move the waiting retries due after ``after`` by ``by`` (the wall clock stepped back:
    a retry meant for 5 s after a failure is due 5 s after it again, not an hour later).
    Returns how many moved."""
    rows = select(runs.c.id, runs.c.next_attempt_at).where(
        runs.c.status == "pending", runs.c.next_attempt_at > after
    )
    due = conn.execute(rows).all()
    for run_id, at in due:  # few: only runs waiting for a retry
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == "pending")
            .values(next_attempt_at=max(at + by, after))
        )
    return len(due)


def record_process(conn: Connection, run_id: int, process: dict[str, Any], *, owner: str) -> bool:
    """Record the process group of a run's attempt in flight (one UPDATE, right after the
    command started); False if ``owner`` no longer holds the run."""
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.claimed_by == owner, runs.c.status == "running")
        .values(process=process)
    )
    return result.rowcount == 1


def add_note(conn: Connection, run_id: int, note: str) -> None:
    """Add a sentence to the run's note (what became of an earlier attempt's processes)."""
    earlier = conn.execute(select(runs.c.note).where(runs.c.id == run_id)).scalar()
    text = note if not earlier else f"{earlier} {note}"
    conn.execute(update(runs).where(runs.c.id == run_id).values(note=text))


def skip_waiting(conn: Connection, schedule: str, *, reason: str, now: datetime) -> list[str]:
    """Fires of ``schedule`` not yet attempted become skipped; returns their fire keys."""
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


# -- claims of daemons that stopped ------------------------------------------------------------


def renew_claims(
    conn: Connection,
    owner: str,
    now: datetime,
    ttl: timedelta = CLAIM_TTL,
    *,
    run_ids: Collection[int] | None = None,
) -> None:
    """Keep the claims of this daemon's runs in flight (called with its heartbeat). With
    ``run_ids``, only those: a claim the daemon no longer works on then expires (no ids:
    nothing to do, and the caller need not open a transaction)."""
    query = update(runs).where(runs.c.claimed_by == owner, runs.c.status == "running")
    if run_ids is not None:
        if not run_ids:
            return
        query = query.where(runs.c.id.in_(list(run_ids)))
    conn.execute(query.values(claim_expires_at=now + ttl))


def take_over_expired(conn: Connection, now: datetime) -> list[int]:
    """Runs whose claim expired (their daemon died) become pending again: at-least-once.
    Their ``process`` stays: the dispatcher that claims one ends what is left of it first."""
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


def recover_orphans(conn: Connection, *, except_owner: str | None = None) -> list[int]:
    """Runs left ``running`` by a daemon that died become pending again (at-least-once).
    Their ``process`` stays: the dispatcher that claims one ends what is left of it first."""
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


# -- operators' side ---------------------------------------------------------------------------


def add_run(conn: Connection, new: NewRun, now: datetime) -> int:
    """Record one run (`schedules trigger`); its id."""
    stmt = runs.insert().values(**_run_values(new, now)).returning(runs.c.id)
    return int(conn.execute(stmt).scalar_one())


def retry_run(conn: Connection, run_id: int) -> RunRecord:
    """Re-drive a failed run under the same fire key. Its last attempt goes into ``history``,
    marked ``retried`` (the retries' ``max_elapsed`` counts again from the next attempt)."""
    run = get_run(conn, run_id)
    if run.status != "failed":
        raise ValueError(f"run {run_id} is {run.status}; only a failed run can be retried")
    last = {c.name: getattr(run, c.name) for c in ATTEMPT}
    moved = move_attempt(last, attempt=run.attempts, always=True, retried=True)
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values({**moved, "status": "pending", "next_attempt_at": None})
    )
    return get_run(conn, run_id)


def requeue_skipped(conn: Connection, fire_keys: Sequence[str], *, reason: str) -> int:
    """Skipped fires become pending again (a backfill asked for them)."""
    result = conn.execute(
        update(runs)
        .where(runs.c.fire_key.in_(list(fire_keys)), runs.c.status == "skipped")
        .values(status="pending", reason=reason, finished_at=None)
    )
    return int(result.rowcount)
