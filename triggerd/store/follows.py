"""Remote runs followed to their end: the ``runs`` columns of a ``submitted`` run whose remote
run the daemon still watches (functions over a Connection).

A followed run has ``follow_next_at`` (its next status check) and ``follow_until`` (the
deadline, ``follow_timeout`` after it was submitted). A daemon takes one check at a time with a
claim, ``claimed_by`` until ``claim_expires_at``, exactly as it claims an attempt: replicas never
check one run at once, and a claim left by a daemon that died expires. Everything the follower
knows is in the row, so following survives a restart and a takeover.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from triggerd.runs import RunRecord, RunStatus
from triggerd.store.queries import run_record
from triggerd.store.tables import runs

CHECK_TTL = timedelta(minutes=2)  # a check's claim: longer than any status request takes
SUBMITTED = RunStatus.SUBMITTED.value


def start_values(
    *,
    now: datetime,
    first_check: timedelta,
    follow_for: timedelta | None,
    remote_id: str | None = None,
    remote_url: str | None = None,
) -> dict[str, Any]:
    """The columns a submitted run starts with (in the UPDATE that records it submitted):
    followed when ``follow_for`` is given, its first check ``first_check`` from now."""
    values: dict[str, Any] = {"remote_id": remote_id, "remote_url": remote_url}
    if follow_for is not None:
        values.update(
            follow_next_at=now + first_check,
            follow_until=now + follow_for,
            follow_checks=0,
            remote_status=None,
        )
    return values


def _followed() -> Any:
    """The runs followed now. ``follow_next_at`` is set only on a `submitted` run and cleared
    when following ends, so it alone says it, and the partial index ``ix_runs_followed`` answers
    (asking for the status too makes SQLite walk every `submitted` run of the history)."""
    return runs.c.follow_next_at.is_not(None)


def claim_due(
    conn: Connection, owner: str, now: datetime, *, limit: int = 16, ttl: timedelta = CHECK_TTL
) -> list[RunRecord]:
    """The followed runs whose check is due and not claimed (or whose claim expired), at
    most ``limit``, earliest first, now claimed by ``owner`` for ``ttl``."""
    free = runs.c.claimed_by.is_(None) | (runs.c.claim_expires_at < now)
    due = _followed() & (runs.c.follow_next_at <= now) & free
    ids = [
        int(i)
        for i in conn.execute(
            select(runs.c.id)
            .where(due)
            .order_by(runs.c.follow_next_at, runs.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: replicas skip each other's rows
        ).scalars()
    ]
    if not ids:
        return []
    conn.execute(
        update(runs)
        .where(runs.c.id.in_(ids), due, runs.c.status == SUBMITTED)
        .values(claimed_by=owner, claim_expires_at=now + ttl)
    )
    rows = conn.execute(
        select(runs).where(runs.c.id.in_(ids), runs.c.claimed_by == owner, _followed())
    ).all()
    return [run_record(row) for row in rows]


def _mine(run_id: int, owner: str) -> Any:
    return (runs.c.id == run_id) & (runs.c.claimed_by == owner) & _followed()


def record_check(
    conn: Connection,
    run_id: int,
    owner: str,
    *,
    next_at: datetime,
    remote_status: str | None,
    remote_url: str | None,
) -> bool:
    """A check that did not end the run: what it saw (None keeps what was known) and the next
    one; the claim is let go. False when ``owner`` no longer held the check."""
    values = {"follow_next_at": next_at}
    return _record_check(conn, run_id, owner, values, remote_status, remote_url)


def end_follow(
    conn: Connection,
    run_id: int,
    owner: str,
    *,
    status: RunStatus,
    now: datetime,
    remote_status: str | None,
    remote_url: str | None,
    error: str | None,
) -> bool:
    """The run ends ``status`` (succeeded, failed, canceled) at ``now``; False when ``owner``
    no longer held the check (another daemon records the end, once)."""
    values: dict[str, Any] = {
        "status": status.value,
        "finished_at": now,
        "error": error,
        "follow_next_at": None,
        "follow_until": None,
    }
    return _record_check(conn, run_id, owner, values, remote_status, remote_url)


def _record_check(
    conn: Connection,
    run_id: int,
    owner: str,
    values: dict[str, Any],
    remote_status: str | None,
    remote_url: str | None,
) -> bool:
    """What every check records on the run it held: ``values``, one more check, the claim let
    go, and what the remote side said (None keeps what was known). False when ``owner`` no
    longer held the check."""
    values = {
        **values,
        "follow_checks": func.coalesce(runs.c.follow_checks, 0) + 1,
        "claimed_by": None,
        "claim_expires_at": None,
    }
    if remote_status is not None:
        values["remote_status"] = remote_status
    if remote_url is not None:
        values["remote_url"] = remote_url
    return conn.execute(update(runs).where(_mine(run_id, owner)).values(values)).rowcount == 1


def stop_following(conn: Connection, run_id: int, owner: str, *, note: str) -> bool:
    """The run stays ``submitted`` and is not followed any more (its pipeline left the config,
    or no longer follows); ``note`` says why."""
    earlier = conn.execute(select(runs.c.note).where(runs.c.id == run_id)).scalar()
    values = {
        "follow_next_at": None,
        "follow_until": None,
        "claimed_by": None,
        "claim_expires_at": None,
        "note": note if not earlier else f"{earlier} {note}",
    }
    return conn.execute(update(runs).where(_mine(run_id, owner)).values(values)).rowcount == 1


def release_checks(conn: Connection, *, except_owner: str) -> int:
    """Checks claimed by other daemons are free again (SQLite at start: one daemon per file,
    so the others are dead). How many."""
    result = conn.execute(
        update(runs)
        .where(_followed(), runs.c.claimed_by.is_not(None), runs.c.claimed_by != except_owner)
        .values(claimed_by=None, claim_expires_at=None)
    )
    return int(result.rowcount)


def count_followed(conn: Connection) -> int:
    """How many runs are followed now (the in-flight gauge)."""
    return int(conn.execute(select(func.count()).select_from(runs).where(_followed())).scalar_one())


def due_summary(conn: Connection) -> tuple[int, datetime | None]:
    """How many runs are followed, and the earliest next check (one read per look)."""
    row = conn.execute(
        select(
            func.count(), func.min(runs.c.follow_next_at, type_=runs.c.follow_next_at.type)
        ).where(_followed())
    ).one()
    return int(row[0]), row[1]
